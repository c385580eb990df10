/* store.c - durable composite writes over blobstore + index (see store.h). */
#include "storage/store.h"
#include "storage/events.h"
#include "storage/outbox.h"
#include "storage/replicate.h"
#include "storage/index/index_repos.h"
#include "storage/base/reg_error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int index_location(char **out, const store_location *loc)
{
    if (loc->index && loc->index[0])
        return (*out = strdup(loc->index)) ? REG_OK : REG_ERROR;
    return asprintf(out, "%s/meta.db", loc->data_dir) < 0 ? REG_ERROR : REG_OK;
}

/* "postgres://user:secret@host/db" -> "postgres://user:***@host/db" (for logs). */
static char *redacted(const char *location)
{
    const char *scheme = strstr(location, "://"), *at = strchr(location, '@');
    const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
    char *out = NULL;
    if (!scheme || !at || !colon || colon > at)
        return strdup(location);
    if (asprintf(&out, "%.*s:***%s", (int)(colon - location), location, at) < 0)
        return NULL;
    return out;
}

int store_open(store **out, const store_location *loc)
{
    store *s = calloc(1, sizeof(*s));
    int rc = reg_error_set(REG_ERROR, "out of memory");
    if (!s)
        return rc;
    s->create_on_push = 1;
    if (!(s->data_dir = strdup(loc->data_dir)) || index_location(&s->db_path, loc) < 0 ||
        !(s->db_label = redacted(s->db_path)) || pulls_new(&s->pulls) < 0)
        goto fail;
    reg_error_clear();
    if ((rc = blobstore_open_at(&s->blobs, loc->data_dir, loc->storage)) < 0) {
        reg_error_set(rc, "%s", reg_error_last("cannot open the blob store"));
        goto fail;
    }
    blobstore_set_inline_max(s->blobs, loc->inline_max);
    if ((rc = upload_table_new(&s->uploads, s->blobs, s->db_path)) < 0) {
        reg_error_set(rc, "cannot set up upload sessions");
        goto fail;
    }
    *out = s;
    return REG_OK;
fail:
    store_close(s);
    return rc;
}

void store_close(store *s)
{
    if (!s)
        return;
    upload_table_free(s->uploads);
    pulls_free(s->pulls);
    blobstore_close(s->blobs);
    free(s->db_path);
    free(s->db_label);
    free(s->data_dir);
    free(s);
}

/* The repository to write into: created on first push unless that is switched off. */
static int target_repo(int64_t *id, const store *s, index_db *ix, const char *repo)
{
    return s->create_on_push ? index_repo_ensure(id, ix, repo) : index_repo_id(id, ix, repo);
}

int store_upload_fits(const store *s, const upload *u, uint64_t more)
{
    uint64_t max = s->max_blob_size;
    uint64_t offset = u ? upload_offset(u) : 0;
    return !max || (more <= max && offset <= max - more);
}

int store_upload_append(store *s, upload *u, unsigned generation, const void *data, size_t len)
{
    if (!store_upload_fits(s, u, len))
        return reg_error_set(REG_ETOOLARGE,
                             "the blob would be larger than this registry's maximum of %llu bytes",
                             (unsigned long long)s->max_blob_size);
    return upload_append(u, generation, data, len);
}

/* The publication's slow half before the write lock (so concurrent pushes overlap), then the
 * blob made and linked in one transaction. */
static int publish_and_link(store *s, index_db *ix, blob_publish *p, const char *repo,
                            const digest *d, uint64_t size)
{
    int64_t repo_id;
    int err;
    if ((err = blob_publish_prepare(p)) < 0 || (err = index_begin(ix)) < 0)
        return err;
    if ((err = target_repo(&repo_id, s, ix, repo)) < 0 || (err = blob_publish_commit(p, ix)) < 0 ||
        (err = index_blob_link(ix, repo_id, d, size)) < 0 || (err = index_commit(ix)) < 0)
        index_rollback(ix);
    return err;
}

int store_commit_upload(store *s, index_db *ix, upload *u, const char *repo, const digest *expected)
{
    digest actual;
    blob_publish *p = NULL;
    uint64_t size = upload_offset(u);
    int err = upload_digest(&actual, u, expected->alg);
    if (err < 0)
        return err;
    if (strcmp(actual.str, expected->str) != 0)
        return REG_EMISMATCH;
    if ((err = upload_publication(&p, u, s->blobs, expected)) == REG_OK)
        err = publish_and_link(s, ix, p, repo, expected, size);
    blob_publish_free(p);
    if (err == REG_OK)
        upload_discard(s->uploads, u);
    return err;
}

int store_commit_bytes(store *s, index_db *ix, const char *repo, const digest *expected,
                       const void *data, size_t len)
{
    digest actual;
    blob_publish *p = NULL;
    int err = digest_buffer(&actual, expected->alg, data, len);
    if (err < 0)
        return err;
    if (strcmp(actual.str, expected->str) != 0)
        return REG_EMISMATCH;
    if ((err = blobstore_publish_bytes(&p, s->blobs, expected, data, len)) == REG_OK)
        err = publish_and_link(s, ix, p, repo, expected, len);
    blob_publish_free(p);
    return err;
}

int store_holds_in_index(const store *s, uint64_t size)
{
    return blobstore_holds_in_index(s->blobs, size);
}

int store_mount_blob(store *s, index_db *ix, const char *repo, const char *from, const digest *d)
{
    uint64_t size;
    int64_t repo_id;
    int err = index_begin(ix);
    if (err < 0)
        return err;
    if ((err = index_blob_in_repo(&size, ix, from, d)) < 0 ||
        (err = target_repo(&repo_id, s, ix, repo)) < 0 ||
        (err = index_blob_link(ix, repo_id, d, size)) < 0 || (err = index_commit(ix)) < 0) {
        index_rollback(ix);
        return err;
    }
    return REG_OK;
}

/* Inside the write transaction: every reference must be in the repository. */
static int check_refs(index_db *ix, int64_t repo_id, const manifest_info *info, char *missing_out)
{
    for (size_t i = 0; i < info->nrefs; i++) {
        const manifest_ref *r = &info->refs[i];
        uint64_t size = 0;
        int err;
        if (r->foreign)
            continue;
        if (r->kind == REF_MANIFEST)
            err = index_manifest_in_repo_id(ix, repo_id, r->dg.str);
        else
            err = index_blob_in_repo_id(&size, ix, repo_id, r->dg.str);
        if (err == REG_ENOTFOUND)
            snprintf(missing_out, DIGEST_MAX, "%s", r->dg.str);
        if (err < 0)
            return err;
        if (r->kind != REF_MANIFEST && size != r->size) {
            snprintf(missing_out, DIGEST_MAX, "%s", r->dg.str);
            return REG_EINVALID;
        }
    }
    return REG_OK;
}

/* Manifest + config + layers; for an index, its own bytes plus its children's images. The
 * index stores it as a signed 64-bit number: a sum beyond that is refused, never wrapped. */
static int image_size(uint64_t *out, index_db *ix, int64_t repo_id, const manifest_put *put)
{
    *out = put->len;
    for (size_t i = 0; i < put->info->nrefs; i++) {
        const manifest_ref *r = &put->info->refs[i];
        uint64_t child = r->size;
        int err = r->kind == REF_MANIFEST
                      ? index_manifest_image_size(&child, ix, repo_id, r->dg.str)
                      : REG_OK;
        if (err == REG_ENOTFOUND && put->refs_later)
            child = r->size; /* a child a pull-through cache has not fetched yet */
        else if (err < 0)
            return REG_ERROR;
        if (__builtin_add_overflow(*out, child, out) || *out > (uint64_t)INT64_MAX)
            return reg_error_set(REG_EINVALID, "the image size overflows 64 bits");
    }
    return REG_OK;
}

/* In an IMMUTABLE repository a tag may be pushed again only with the same manifest. */
static int check_tags(index_db *ix, int64_t repo_id, const manifest_put *put, char *detail_out)
{
    int immutable = 0;
    char current[DIGEST_MAX];
    int err = index_repo_immutable(&immutable, ix, repo_id);
    for (size_t i = 0; err == REG_OK && immutable && i < put->ntags; i++) {
        err = index_tag_target(current, ix, repo_id, put->tags[i]);
        if (err == REG_ENOTFOUND) {
            err = REG_OK;
        } else if (err == REG_OK && strcmp(current, put->dg->str) != 0) {
            snprintf(detail_out, DIGEST_MAX, "%s", put->tags[i]);
            err = REG_ECONFLICT;
        }
    }
    return err;
}

static int insert_manifest(index_db *ix, int64_t repo_id, const manifest_put *put)
{
    const manifest_info *info = put->info;
    int inserted = 0;
    manifest_record rec = {
        .dg = put->dg,
        .media_type = info->media_type,
        .artifact_type = info->artifact_type,
        .subject = info->has_subject ? info->subject.str : NULL,
        .annotations = info->annotations,
        .size = put->len,
    };
    int err = image_size(&rec.image_size, ix, repo_id, put);
    if (err == REG_OK)
        err = index_manifest_insert(&inserted, ix, repo_id, &rec);
    for (size_t i = 0; err == REG_OK && inserted && i < info->nrefs; i++)
        err = index_manifest_ref_insert(ix, repo_id, put->dg->str, info->refs[i].dg.str,
                                        manifest_ref_kind_name(&info->refs[i]));
    if (err == REG_OK && inserted && info->has_subject)
        err = index_manifest_ref_insert(ix, repo_id, put->dg->str, info->subject.str, "subject");
    for (size_t i = 0; err == REG_OK && i < put->ntags; i++)
        err = index_tag_set(ix, repo_id, put->tags[i], put->dg->str);
    return err;
}

/* Inside the write transaction: the manifest is there and every tag points at it. */
static int is_unchanged(int *out, index_db *ix, int64_t repo_id, const manifest_put *put)
{
    char current[DIGEST_MAX];
    int err = index_manifest_in_repo_id(ix, repo_id, put->dg->str);
    *out = err == REG_OK;
    for (size_t i = 0; err == REG_OK && i < put->ntags; i++) {
        err = index_tag_target(current, ix, repo_id, put->tags[i]);
        if (err == REG_OK && strcmp(current, put->dg->str) != 0)
            *out = 0;
    }
    if (err == REG_ENOTFOUND) {
        *out = 0;
        err = REG_OK;
    }
    return err;
}

/* Inside the write transaction: a PUSH event per tag (one without a tag when none). */
static int queue_pushed(int *queued, index_db *ix, const manifest_put *put)
{
    event ev = {.type = EVENT_PUSH, .repository = put->repo, .digest = put->dg->str};
    int err = put->ntags ? REG_OK : events_queue(queued, ix, &ev);
    for (size_t i = 0; err == REG_OK && i < put->ntags; i++) {
        ev.tag = put->tags[i];
        err = events_queue(queued, ix, &ev);
    }
    return err;
}

/* The manifest's bytes are published as a blob (local storage writes the spool and links it
 * into place before the transaction, and checks the link inside; S3 puts the small object
 * inside the transaction, where gc cannot remove it before its row exists). */
int store_put_manifest(store *s, index_db *ix, const manifest_put *put, char *missing_out)
{
    int64_t repo_id;
    int queued = 0;
    blob_publish *p = NULL;
    int err = blobstore_publish_bytes(&p, s->blobs, put->dg, put->body, put->len);
    if (err == REG_OK)
        err = blob_publish_prepare(p);
    if (err < 0)
        goto done;
    if ((err = index_begin(ix)) < 0)
        goto done;
    if ((err = target_repo(&repo_id, s, ix, put->repo)) < 0) {
        index_rollback(ix);
        err = err == REG_ENOTFOUND ? REG_EDENIED : err;
        goto done;
    }
    if ((!put->refs_later && (err = check_refs(ix, repo_id, put->info, missing_out)) < 0) ||
        (err = check_tags(ix, repo_id, put, missing_out)) < 0 ||
        (put->unchanged_out && (err = is_unchanged(put->unchanged_out, ix, repo_id, put)) < 0)) {
        index_rollback(ix);
        goto done;
    }
    if (put->unchanged_out && *put->unchanged_out) {
        index_rollback(ix); /* nothing to write */
        goto done;
    }
    if ((err = blob_publish_commit(p, ix)) < 0 ||
        (err = index_blob_link(ix, repo_id, put->dg, put->len)) < 0 ||
        (err = insert_manifest(ix, repo_id, put)) < 0 ||
        (err = queue_pushed(&queued, ix, put)) < 0 ||
        (err = replicate_queue(&queued, ix, put->repo, put->dg)) < 0 ||
        (err = index_commit(ix)) < 0)
        index_rollback(ix);
    if (err == REG_OK && queued)
        outbox_wake();
done:
    blob_publish_free(p);
    return err;
}

int store_push_manifest(store *s, index_db *ix, manifest_push *push)
{
    digest_alg alg = push->expected ? push->expected->alg : DIGEST_SHA256;
    int err = digest_buffer(&push->dg, alg, push->body ? push->body : "", push->len);
    push->info = NULL;
    push->detail[0] = '\0';
    if (err < 0)
        return err;
    if (push->expected && strcmp(push->dg.str, push->expected->str) != 0)
        return reg_error_set(REG_EMISMATCH, "manifest content has digest %s, not %s", push->dg.str,
                             push->expected->str);
    if ((err = manifest_parse(&push->info, push->content_type, push->body ? push->body : "",
                              push->len)) < 0)
        return err;
    manifest_put put = {.repo = push->repo,
                        .dg = &push->dg,
                        .body = push->body,
                        .len = push->len,
                        .info = push->info,
                        .tags = push->tags,
                        .ntags = push->ntags,
                        .unchanged_out = push->unchanged_out,
                        .refs_later = push->refs_later};
    err = store_put_manifest(s, ix, &put, push->detail);
    if (err == REG_EINVALID && push->detail[0])
        reg_error_set(err, "size of %s differs from the stored blob", push->detail);
    return err;
}

/* Run a read-check-delete under the write lock so it cannot interleave with a manifest PUT;
 * a DELETE event of what went is queued in the same transaction. */
static int finish_tx(index_db *ix, int err, const event *deleted)
{
    int queued = 0;
    if (err == REG_OK && deleted)
        err = events_queue(&queued, ix, deleted);
    if (err == REG_OK && (err = index_commit(ix)) == REG_OK) {
        if (queued)
            outbox_wake();
        return REG_OK;
    }
    index_rollback(ix);
    return err;
}

int store_unlink_blob(index_db *ix, const char *repo, const digest *d, char *conflict_out)
{
    int err = index_begin(ix);
    if (err < 0)
        return err;
    return finish_tx(ix, index_blob_unlink(conflict_out, ix, repo, d), NULL);
}

static int remove_tag(int *deleted_out, char *digest_out, index_db *ix, const char *repo,
                      const char *tag, const char *expected)
{
    char conflict[DIGEST_MAX];
    int64_t repo_id, left = 0;
    digest d;
    int err;
    if ((err = index_repo_id(&repo_id, ix, repo)) < 0 ||
        (err = index_tag_target(digest_out, ix, repo_id, tag)) < 0)
        return err;
    if (expected && strcmp(expected, digest_out))
        return reg_error_set(REG_EMISMATCH, "tag %s names %s, not %s", tag, digest_out, expected);
    if ((err = index_tag_delete(ix, repo, tag)) < 0 ||
        (err = index_image_tag_count(&left, ix, repo_id, digest_out)) < 0 || left > 0)
        return err;
    if (digest_parse(&d, digest_out) < 0)
        return reg_error_set(REG_ERROR, "tag %s names an invalid digest", tag);
    err = index_manifest_delete(conflict, ix, repo, &d);
    *deleted_out = err == REG_OK;
    return err == REG_ECONFLICT ? REG_OK : err;
}

int store_remove_tag(int *deleted_out, char *digest_out, index_db *ix, const char *repo,
                     const char *tag, const char *expected)
{
    *deleted_out = 0;
    int err = index_begin(ix);
    if (err < 0)
        return err;
    err = remove_tag(deleted_out, digest_out, ix, repo, tag, expected);
    event ev = {.type = EVENT_DELETE, .repository = repo, .digest = digest_out, .tag = tag};
    return finish_tx(ix, err, &ev);
}

int store_delete_tag(index_db *ix, const char *repo, const char *tag)
{
    char target[DIGEST_MAX];
    int64_t repo_id;
    int err = index_begin(ix);
    if (err < 0)
        return err;
    if ((err = index_repo_id(&repo_id, ix, repo)) == REG_OK &&
        (err = index_tag_target(target, ix, repo_id, tag)) == REG_OK)
        err = index_tag_delete(ix, repo, tag);
    event ev = {.type = EVENT_DELETE, .repository = repo, .digest = target, .tag = tag};
    return finish_tx(ix, err, &ev);
}

int store_delete_manifest(index_db *ix, const char *repo, const digest *d, char *conflict_out)
{
    int err = index_begin(ix);
    if (err < 0)
        return err;
    event ev = {.type = EVENT_DELETE, .repository = repo, .digest = d->str};
    return finish_tx(ix, index_manifest_delete(conflict_out, ix, repo, d), &ev);
}

int store_read_manifest(char **out, store *s, index_db *ix, const manifest_row *row)
{
    int fd = -1;
    uint64_t size = 0;
    char *body = NULL;
    int err = blobstore_open_blob(&fd, &size, s->blobs, ix, &row->dg);
    if (err == REG_OK && (size != row->size || size > MANIFEST_MAX_BYTES))
        err = reg_error_set(REG_ERROR, "manifest %s is %llu bytes here, the index says %llu",
                            row->dg.str, (unsigned long long)size, (unsigned long long)row->size);
    else if (err < 0)
        err = reg_error_set(err, "manifest %s is indexed but unreadable", row->dg.str);
    if (err == REG_OK && !(body = malloc(size + 1)))
        err = reg_error_set(REG_ERROR, "out of memory");
    if (err == REG_OK && pread(fd, body, size, 0) != (ssize_t)size)
        err = reg_error_set(REG_ERROR, "cannot read manifest %s: %s", row->dg.str, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (err < 0) {
        free(body);
        return err;
    }
    body[size] = '\0';
    *out = body;
    return REG_OK;
}
