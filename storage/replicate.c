/* replicate.c - the replication push engine (see replicate.h). */
#include "storage/replicate.h"
#include "storage/base/buf.h"
#include "storage/base/parallel.h"
#include "storage/base/reg_error.h"
#include "storage/events.h"
#include "storage/index/index_replication.h"
#include "storage/manifest.h"
#include "storage/outbox.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PATH_MAX_LEN 1024

typedef struct job {
    store *s;
    index_db *ix;
    remote *client;
    const char *repo;
    char scope[PATH_MAX_LEN];
    const outbox_entry *lease; /* nlease entries */
    size_t nlease;
    int64_t lease_renewed_ms; /* when the lease was last taken or extended */
} job;

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* After a blob: keep the outbox entry's lease once a quarter of it has gone by. */
static int keep_lease(job *j)
{
    if (!j->lease || now_ms() - j->lease_renewed_ms < outbox_lease_ms() / 4)
        return REG_OK;
    int err = REG_OK;
    for (size_t i = 0; i < j->nlease && err == REG_OK; i++)
        err = outbox_extend_lease(j->ix, &j->lease[i]);
    if (err == REG_ENOTFOUND)
        return reg_error_set(REG_ERROR, "the outbox lease ran out during the copy");
    if (err == REG_OK)
        j->lease_renewed_ms = now_ms();
    return err;
}

/* One request whose answer is kept only for its status and headers. */
static int send_simple(remote_response *out, job *j, const char *method, const char *path,
                       const char *const *headers)
{
    remote_request req = {.method = method, .path = path, .scope = j->scope, .headers = headers};
    memset(out, 0, sizeof(*out));
    return remote_send(out, j->client, &req);
}

/* The destination's refusal as an error: its status and the start of its body. */
static int refused(const remote_response *resp, const char *what, const char *dg)
{
    int n = (int)(resp->body_len < 200 ? resp->body_len : 200);
    for (int i = 0; i < n; i++)
        if (resp->body[i] < 0x20 || resp->body[i] > 0x7e)
            n = i;
    return reg_error_set(REG_ERROR, "%s %s: the destination answered %ld %.*s", what, dg,
                         resp->status, n, resp->body ? (const char *)resp->body : "");
}

/* A blob as the upload's streamed body: from the index's bytes, a file, or the backend. */
typedef struct blob_body {
    blob_reader *reader;
    void *bytes;
    int fd;
    uint64_t pos, size;
} blob_body;

static long read_blob(void *ctx, char *buf, size_t n)
{
    blob_body *b = ctx;
    if (b->pos >= b->size)
        return 0;
    if (n > b->size - b->pos)
        n = (size_t)(b->size - b->pos);
    ssize_t got;
    if (b->bytes)
        memcpy(buf, (char *)b->bytes + b->pos, n), got = (ssize_t)n;
    else if (b->fd >= 0)
        got = pread(b->fd, buf, n, (off_t)b->pos);
    else
        got = blob_reader_read(b->reader, b->pos, buf, n);
    if (got == 0)
        reg_error_set(REG_ERROR, "blob ended at byte %llu of %llu", (unsigned long long)b->pos,
                      (unsigned long long)b->size);
    if (got <= 0)
        return -1;
    b->pos += (uint64_t)got;
    return (long)got;
}

static int blob_body_open(blob_body *b, job *j, const digest *d, uint64_t size)
{
    memset(b, 0, sizeof(*b));
    b->fd = -1;
    b->size = size;
    int err = blobstore_open_reader(&b->reader, j->s->blobs, j->ix, d, 0, size);
    if (err < 0)
        return reg_error_wrap(err, "reading the blob from this registry");
    b->bytes = blob_reader_take_bytes(b->reader);
    if (!b->bytes) {
        uint64_t file_size = 0;
        b->fd = blob_reader_fd(&file_size, b->reader);
    }
    return REG_OK;
}

static void blob_body_close(blob_body *b)
{
    if (b->fd >= 0)
        close(b->fd);
    free(b->bytes);
    blob_reader_free(b->reader);
}

/* PUT the blob's bytes to `url` once; the answer's status in *status_out. */
static int put_blob_once(long *status_out, remote_response *resp, job *j, const char *url,
                         const digest *d, uint64_t size)
{
    static const char *const headers[] = {"Content-Type: application/octet-stream", NULL};
    blob_body body;
    memset(resp, 0, sizeof(*resp));
    *status_out = 0;
    int err = blob_body_open(&body, j, d, size);
    if (err < 0)
        return err;
    remote_request req = {.method = "PUT",
                          .path = url,
                          .scope = j->scope,
                          .headers = headers,
                          .read_body = read_blob,
                          .read_ctx = &body,
                          .read_size = (int64_t)size};
    err = remote_send(resp, j->client, &req);
    blob_body_close(&body);
    *status_out = err == REG_OK ? resp->status : 0;
    return err;
}

/* PUT the blob's bytes to an upload's location, finishing it. A streamed body cannot be sent
 * twice within one request: a 401 (a token that ran out since the POST) is answered by the
 * remote's new credentials on one more PUT. */
static int upload_blob(job *j, const char *location, const digest *d, uint64_t size)
{
    char url[4096];
    remote_response resp;
    long status = 0;
    if ((size_t)snprintf(url, sizeof(url), "%s%cdigest=%s", location,
                         strchr(location, '?') ? '&' : '?', d->str) >= sizeof(url))
        return reg_error_set(REG_ERROR, "the destination's upload location is too long");
    int err = put_blob_once(&status, &resp, j, url, d, size);
    if (err == REG_OK && status == 401) {
        remote_response_free(&resp);
        err = put_blob_once(&status, &resp, j, url, d, size);
    }
    if (err == REG_OK && status != 201)
        err = refused(&resp, "blob", d->str);
    remote_response_free(&resp);
    return err;
}

/* Start an upload, mounting from `from` when given: 1 when the mount made the blob, else 0
 * with the upload's location in *location_out (malloc'd). */
static int start_upload(int *mounted_out, char **location_out, job *j, const digest *d,
                        const char *from)
{
    char path[PATH_MAX_LEN], scope[2 * PATH_MAX_LEN];
    remote_response resp;
    /* A token for the mount must also allow pulling from `from` (scopes space-separated). */
    snprintf(scope, sizeof(scope), "%s%s%s%s", j->scope, from ? " repository:" : "",
             from ? from : "", from ? ":pull" : "");
    if (from)
        snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/?mount=%s&from=%s", j->repo, d->str,
                 from);
    else
        snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/", j->repo);
    remote_request req = {.method = "POST", .path = path, .scope = scope};
    memset(&resp, 0, sizeof(resp));
    int err = remote_send(&resp, j->client, &req);
    *mounted_out = 0;
    *location_out = NULL;
    if (err == REG_OK && resp.status == 201 && from)
        *mounted_out = 1;
    else if (err == REG_OK && resp.status == 202 && resp.location)
        *location_out = resp.location, resp.location = NULL;
    else if (err == REG_OK)
        err = refused(&resp, "starting the upload of blob", d->str);
    remote_response_free(&resp);
    return err;
}

/* A small blob's bytes, in memory (malloc'd). */
static int read_small_blob(char **out, job *j, const manifest_ref *ref)
{
    blob_body body;
    uint64_t got = 0;
    *out = malloc(ref->size ? (size_t)ref->size : 1);
    if (!*out)
        return reg_error_set(REG_ERROR, "out of memory");
    int err = blob_body_open(&body, j, &ref->dg, ref->size);
    if (err < 0) {
        free(*out), *out = NULL;
        return err;
    }
    for (long n = 1; got < ref->size && n > 0; got += n > 0 ? (uint64_t)n : 0)
        n = read_blob(&body, *out + got, (size_t)(ref->size - got));
    blob_body_close(&body);
    if (got == ref->size)
        return REG_OK;
    free(*out), *out = NULL;
    return reg_error_set(REG_ERROR, "reading blob %s here failed at byte %llu", ref->dg.str,
                         (unsigned long long)got);
}

/* A small blob in one request: OCI's monolithic POST (?digest= with the bytes). 1 when that
 * made it; 0 when the destination does not take such a POST: with the upload session it
 * opened instead (202) in *location_out (malloc'd), else NULL (start one). */
static int post_blob(char **location_out, job *j, const manifest_ref *ref)
{
    /* No "Expect: 100-continue" (curl's default for an upload): a registry that ignores the
     * body (distribution) sends no 100 and curl would wait a second before sending it. */
    static const char *const headers[] = {"Content-Type: application/octet-stream",
                                          "Expect:", NULL};
    char path[PATH_MAX_LEN], *bytes = NULL;
    remote_response resp;
    int err = read_small_blob(&bytes, j, ref);
    if (err < 0)
        return err;
    snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/?digest=%s", j->repo, ref->dg.str);
    remote_request req = {.method = "POST",
                          .path = path,
                          .scope = j->scope,
                          .headers = headers,
                          .body = bytes,
                          .body_len = (size_t)ref->size};
    memset(&resp, 0, sizeof(resp));
    err = remote_send(&resp, j->client, &req);
    free(bytes);
    int made = err == REG_OK && resp.status == 201;
    *location_out = NULL;
    if (err == REG_OK && resp.status == 202)
        *location_out = resp.location, resp.location = NULL;
    remote_response_free(&resp);
    return err < 0 ? err : made;
}

static int push_blob(job *j, const manifest_ref *ref)
{
    char path[PATH_MAX_LEN], from[512];
    remote_response resp;
    int small = ref->size <= REPLICATE_ONE_REQUEST_MAX, err = REG_OK;
    if (!small) {
        snprintf(path, sizeof(path), "/v2/%s/blobs/%s", j->repo, ref->dg.str);
        err = send_simple(&resp, j, "HEAD", path, NULL);
        long status = resp.status;
        remote_response_free(&resp);
        if (err < 0 || status == 200)
            return err;
    }
    int mounted = 0;
    char *location = NULL;
    int has_from =
        index_replication_mount_source(from, sizeof(from), j->ix, j->repo, ref->dg.str) == REG_OK;
    if (small && !has_from && (err = post_blob(&location, j, ref)) != 0)
        return err < 0 ? err : keep_lease(j);
    if (!location &&
        (err = start_upload(&mounted, &location, j, &ref->dg, has_from ? from : NULL)) < 0)
        return err;
    if (!mounted)
        err = upload_blob(j, location, &ref->dg, ref->size);
    free(location);
    return err == REG_OK ? keep_lease(j) : err;
}

static int put_manifest(job *j, const manifest_row *row, const char *body, const char *reference)
{
    char path[PATH_MAX_LEN], type[300];
    remote_response resp;
    const char *headers[] = {type, NULL};
    snprintf(path, sizeof(path), "/v2/%s/manifests/%s", j->repo, reference);
    snprintf(type, sizeof(type), "Content-Type: %s", row->media_type);
    remote_request req = {.method = "PUT",
                          .path = path,
                          .scope = j->scope,
                          .headers = headers,
                          .body = body,
                          .body_len = row->size};
    memset(&resp, 0, sizeof(resp));
    int err = remote_send(&resp, j->client, &req);
    if (err == REG_OK && resp.status != 201)
        err = refused(&resp, "manifest", reference);
    remote_response_free(&resp);
    return err;
}

/* Whether dest has manifest d already (then with all it references: a registry takes a
 * manifest only once it has them). */
static int has_manifest(job *j, const digest *d)
{
    char path[PATH_MAX_LEN];
    remote_response resp;
    snprintf(path, sizeof(path), "/v2/%s/manifests/%s", j->repo, d->str);
    int err = send_simple(&resp, j, "HEAD", path, NULL);
    int has = err == REG_OK && resp.status == 200;
    remote_response_free(&resp);
    return has;
}

static int push_manifest(job *j, const digest *d, int depth, const char *tag, int *tagged_out);

/* What the manifest references, in order: children and blobs. */
static int push_refs(job *j, const manifest_info *info, int depth)
{
    int err = REG_OK;
    for (size_t i = 0; i < info->nrefs && err == REG_OK; i++) {
        const manifest_ref *ref = &info->refs[i];
        if (ref->kind == REF_MANIFEST)
            err = push_manifest(j, &ref->dg, depth + 1, NULL, NULL);
        else if (!ref->foreign)
            err = push_blob(j, ref);
    }
    return err;
}

/* Manifest d with what it references (unless dest has it), by digest, or by `tag` when one
 * is given: one PUT then makes the manifest and the tag (*tagged_out = 1; 0 when dest had
 * the manifest and nothing was PUT). */
static int push_manifest(job *j, const digest *d, int depth, const char *tag, int *tagged_out)
{
    manifest_row row;
    manifest_info *info = NULL;
    char *body = NULL;
    if (tagged_out)
        *tagged_out = 0;
    if (depth > REPLICATE_DEPTH_MAX)
        return reg_error_set(REG_EINVALID, "manifest %s: indexes nested deeper than %d", d->str,
                             REPLICATE_DEPTH_MAX);
    int err = index_manifest_by_digest(&row, j->ix, j->repo, d);
    if (err < 0)
        return reg_error_set(err, "manifest %s is not in %s here", d->str, j->repo);
    if (has_manifest(j, d))
        return REG_OK;
    if ((err = store_read_manifest(&body, j->s, j->ix, &row)) == REG_OK &&
        (err = manifest_parse(&info, row.media_type, body, row.size)) == REG_OK &&
        (err = push_refs(j, info, depth)) == REG_OK &&
        (err = put_manifest(j, &row, body, tag ? tag : d->str)) == REG_OK && tag && tagged_out)
        *tagged_out = 1;
    manifest_info_free(info);
    free(body);
    return err;
}

/* Collect a name or digest from the index before the network is used. */
static int collect_name(void *ctx, const char *name)
{
    int err = strlist_add(ctx, name, REPLICATE_NAMES_MAX);
    if (err == REG_ETOOLARGE)
        return reg_error_set(err, "more than %d tags or referrers", REPLICATE_NAMES_MAX);
    return err;
}

static int collect_referrer(void *ctx, const referrer_row *row)
{
    return collect_name(ctx, row->digest);
}

/* Image d at dest: its manifest with what it references, its referrers (each with what it
 * references), then its tags (read by the caller), so that a tag shows the image with its
 * signatures. With no referrers, the manifest's own PUT is by its first tag: one request
 * makes both. */
static int push_image(job *j, const digest *d, const strlist *tags)
{
    strlist referrers = {0};
    manifest_row row;
    char *body = NULL;
    int tagged = 0;
    int err = index_referrers(j->ix, j->repo, d, NULL, collect_referrer, &referrers);
    if (err == REG_OK)
        err = push_manifest(j, d, 0, !referrers.n && tags->n ? tags->items[0] : NULL, &tagged);
    for (size_t i = 0; i < referrers.n && err == REG_OK; i++) {
        digest rd;
        err = digest_parse(&rd, referrers.items[i]) < 0
                  ? reg_error_set(REG_ERROR, "a bad referrer digest in the index")
                  : push_manifest(j, &rd, 1, NULL, NULL);
    }
    if (err == REG_OK && tags->n > (size_t)tagged &&
        (err = index_manifest_by_digest(&row, j->ix, j->repo, d)) == REG_OK)
        err = store_read_manifest(&body, j->s, j->ix, &row);
    for (size_t i = (size_t)tagged; i < tags->n && err == REG_OK; i++)
        err = put_manifest(j, &row, body, tags->items[i]);
    free(body);
    strlist_free(&referrers);
    return err;
}

/* Inside a write transaction: a status; a final one queues a replication event (SUCCESS or
 * FAILURE) for the webhooks that want it (*queued grows by the entries queued). */
static int status_in_txn(int *queued, index_db *ix, const char *repo, const char *digest,
                         const replicate_destination *dest, const char *status, const char *reason)
{
    event ev = {.type = EVENT_REPLICATION,
                .repository = repo,
                .digest = digest,
                .result = reason ? "FAILURE" : "SUCCESS",
                .detail_type = "ECR Replication Action",
                .dest_region = dest->region,
                .dest_account = dest->registry_id};
    int more = 0;
    int err = index_replication_status_set(ix, repo, digest, dest->region, dest->registry_id,
                                           status, reason);
    if (err == REG_OK && strcmp(status, REPLICATION_IN_PROGRESS) != 0)
        err = events_queue(&more, ix, &ev);
    *queued += more;
    return err;
}

/* A status in a write transaction of its own (the writer's, when ix is attached to one). */
static int record_status(index_db *ix, const char *repo, const char *digest,
                         const replicate_destination *dest, const char *status, const char *reason)
{
    int queued = 0;
    int err = index_begin(ix);
    if (err == REG_OK)
        err = status_in_txn(&queued, ix, repo, digest, dest, status, reason);
    if (err == REG_OK)
        err = index_commit(ix);
    if (err < 0)
        index_rollback(ix);
    else if (queued)
        outbox_wake();
    return err;
}

/* A reason shown to whoever may pull the image, into out (n bytes): every URL in `text`
 * ("scheme://" up to the next space, quote or angle bracket) becomes "(destination)", its path
 * too: a destination's path or query may carry a secret. */
static void scrub_urls(char *out, size_t n, const char *text)
{
    size_t len = 0;
    const char *p;
    out[0] = '\0';
    while (len + 1 < n && (p = strstr(text, "://")) != NULL) {
        const char *start = p;
        while (start > text &&
               ((start[-1] >= 'a' && start[-1] <= 'z') || (start[-1] >= 'A' && start[-1] <= 'Z') ||
                start[-1] == '+' || start[-1] == '-' || start[-1] == '.'))
            start--;
        len += (size_t)snprintf(out + len, n - len, "%.*s(destination)", (int)(start - text), text);
        text = p + 3 + strcspn(p + 3, " \t\r\n\"'<>");
    }
    if (len + 1 < n)
        snprintf(out + len, n - len, "%s", text);
}

static job job_for(store *s, index_db *ix, const replicate_destination *dest, const char *repo)
{
    job j = {.s = s,
             .ix = ix,
             .client = dest->client,
             .repo = repo,
             .lease = dest->lease,
             .nlease = dest->lease ? (dest->nlease ? dest->nlease : 1) : 0,
             .lease_renewed_ms = now_ms()};
    snprintf(j.scope, sizeof(j.scope), "repository:%s:pull,push", repo);
    return j;
}

/* The image's final status at dest after a copy that ended with err (the reason, scrubbed,
 * in why when it failed); returns err, or the failure to record a success. */
static int finish(char *why, size_t why_len, index_db *ix, const replicate_destination *dest,
                  const char *repo, const char *digest_text, int err)
{
    if (err < 0 && !why[0])
        scrub_urls(why, why_len, reg_error_last("replication failed"));
    if (record_status(ix, repo, digest_text, dest,
                      err < 0 ? REPLICATION_FAILED : REPLICATION_COMPLETE,
                      err < 0 ? why : NULL) < 0 &&
        err == REG_OK) {
        err = REG_ERROR;
        snprintf(why, why_len, "could not record the replication's status: %s", index_errmsg(ix));
    }
    return err;
}

int replicate_image(store *s, index_db *ix, const replicate_destination *dest, const char *repo,
                    const char *digest_text)
{
    job j = job_for(s, ix, dest, repo);
    digest d;
    char reason[512] = "";
    record_status(ix, repo, digest_text, dest, REPLICATION_IN_PROGRESS, NULL);
    reg_error_clear();
    strlist tags = {0};
    int err = digest_parse(&d, digest_text) < 0
                  ? reg_error_set(REG_EINVALID, "bad digest %s", digest_text)
                  : index_replication_image_tags(ix, repo, digest_text, collect_name, &tags);
    if (err == REG_OK)
        err = push_image(&j, &d, &tags);
    strlist_free(&tags);
    err = finish(reason, sizeof(reason), ix, dest, repo, digest_text, err);
    if (err < 0)
        reg_error_set(err, "%s", reason);
    return err;
}

int replicate_queue(int *queued_out, index_db *ix, const char *repo, const digest *dg)
{
    struct timespec now;
    char payload[DIGEST_MAX + 32];
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(payload, sizeof(payload), "{\"digest\":\"%s\"}", dg->str);
    return index_replication_queue(queued_out, ix, repo, dg->str, payload,
                                   (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
}

/* The entry's target "REGION/REGISTRY_ID" and payload's digest, checked. */
static int parse_entry(char *region, char *registry_id, digest *dg, const outbox_entry *e)
{
    const char *slash = e->target ? strchr(e->target, '/') : NULL;
    json_t *payload = e->payload ? json_loads(e->payload, 0, NULL) : NULL;
    const char *text = json_string_value(json_object_get(payload, "digest"));
    int err = REG_OK;
    if (!slash || slash - e->target > REPLICATION_REGION_MAX ||
        strlen(slash + 1) != REPLICATION_REGISTRY_ID_LEN || !text || digest_parse(dg, text) < 0) {
        err = reg_error_set(OUTBOX_PARK, "a replication entry with a bad target or payload");
    } else {
        snprintf(region, REPLICATION_REGION_MAX + 1, "%.*s", (int)(slash - e->target), e->target);
        snprintf(registry_id, REPLICATION_REGISTRY_ID_LEN + 1, "%s", slash + 1);
    }
    json_decref(payload);
    return err;
}

static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;

/* An index connection for one of a batch's copies: an idle one, else a new one. */
static int borrow_index(index_db **out, replicate_kind *kind)
{
    *out = NULL;
    pthread_mutex_lock(&spare_lock);
    if (kind->nspare > 0)
        *out = kind->spare[--kind->nspare];
    pthread_mutex_unlock(&spare_lock);
    if (*out)
        return REG_OK;
    int err = index_open(out, kind->s->db_path);
    if (err < 0)
        return reg_error_wrap(err, "opening the index for a replication");
    index_writer_attach(kind->writer, *out);
    return REG_OK;
}

static void give_back_index(replicate_kind *kind, index_db *ix)
{
    pthread_mutex_lock(&spare_lock);
    if (kind->nspare < REPLICATE_SPARE_MAX)
        kind->spare[kind->nspare++] = ix, ix = NULL;
    pthread_mutex_unlock(&spare_lock);
    index_close(ix);
}

void replicate_kind_close(replicate_kind *kind)
{
    if (!kind)
        return;
    pthread_mutex_lock(&spare_lock);
    while (kind->nspare > 0)
        index_close(kind->spare[--kind->nspare]);
    pthread_mutex_unlock(&spare_lock);
}

/* One image of a batch: the entry, its digest, whether it is copied (1) or was settled
 * without a copy (0: its outcome is final, or its twin's), its outcome so far, the tags it
 * takes, and the later entry of the same image that copies it instead (-1: none). */
typedef struct image_copy {
    const outbox_entry *e;
    digest dg;
    int live;
    outbox_outcome *out;
    strlist tags;
    int twin;
} image_copy;

typedef struct batch_copy {
    replicate_kind *kind;
    char region[REPLICATION_REGION_MAX + 1], registry_id[REPLICATION_REGISTRY_ID_LEN + 1];
    replicate_destination dest;
    image_copy imgs[REPLICATE_BATCH_MAX];
    size_t n;
} batch_copy;

static void fail_copy(image_copy *c, int err)
{
    c->out->result = err;
    scrub_urls(c->out->why, sizeof(c->out->why), reg_error_last("replication failed"));
}

/* On one of parallel_for's threads: image i with its referrers and its tags (a retry marks
 * it IN_PROGRESS again first). The images of a batch have no tag in common (read_tags), so
 * they go in any order. */
static void copy_image(void *ctx, size_t i)
{
    batch_copy *b = ctx;
    image_copy *c = &b->imgs[i];
    index_db *ix = NULL;
    if (!c->live || c->out->result < 0)
        return;
    reg_error_clear();
    int err = borrow_index(&ix, b->kind);
    if (err == REG_OK) {
        job j = job_for(b->kind->s, ix, &b->dest, c->e->repository);
        if (c->e->attempts > 1)
            record_status(ix, j.repo, c->dg.str, &b->dest, REPLICATION_IN_PROGRESS, NULL);
        err = push_image(&j, &c->dg, &c->tags);
        give_back_index(b->kind, ix);
    }
    if (err < 0)
        fail_copy(c, err);
}

/* A tag of one of a batch's images. */
typedef struct tag_at {
    const char *tag;
    size_t img, pos;
} tag_at;

static int by_tag_then_image(const void *a, const void *b)
{
    const tag_at *x = a, *y = b;
    int c = strcmp(x->tag, y->tag);
    return c ? c : (x->img > y->img) - (x->img < y->img);
}

/* A tag read on two images (it moved between the two reads) stays only on the later one in
 * commit order: each tag has one PUT in the batch, to where it moved last. */
static int drop_moved_tags(batch_copy *b)
{
    size_t total = 0, k = 0;
    for (size_t i = 0; i < b->n; i++)
        total += b->imgs[i].tags.n;
    tag_at *all = total > 1 ? calloc(total, sizeof(*all)) : NULL;
    if (total > 1 && !all)
        return reg_error_set(REG_ERROR, "out of memory");
    for (size_t i = 0; i < b->n && total > 1; i++)
        for (size_t t = 0; t < b->imgs[i].tags.n; t++)
            all[k++] = (tag_at){b->imgs[i].tags.items[t], i, t};
    if (total > 1)
        qsort(all, total, sizeof(*all), by_tag_then_image);
    for (size_t t = 0; t + 1 < k; t++)
        if (!strcmp(all[t].tag, all[t + 1].tag)) {
            strlist *l = &b->imgs[all[t].img].tags;
            free(l->items[all[t].pos]);
            l->items[all[t].pos] = NULL;
        }
    free(all);
    for (size_t i = 0; i < b->n; i++) {
        strlist *l = &b->imgs[i].tags;
        size_t kept = 0;
        for (size_t t = 0; t < l->n; t++)
            if (l->items[t])
                l->items[kept++] = l->items[t];
        l->n = kept;
    }
    return REG_OK;
}

/* Before any copy, on the worker's connection and in commit order: the tags of every image
 * to copy, as they are now (a tag moved since the entry was queued is no longer its image's;
 * a move after this read queued an entry that a later batch delivers). */
static void read_tags(batch_copy *b, index_db *ix)
{
    for (size_t i = 0; i < b->n; i++) {
        image_copy *c = &b->imgs[i];
        reg_error_clear();
        int err = c->live ? index_replication_image_tags(ix, c->e->repository, c->dg.str,
                                                         collect_name, &c->tags)
                          : REG_OK;
        if (err < 0)
            fail_copy(c, err);
    }
    if (drop_moved_tags(b) < 0)
        for (size_t i = 0; i < b->n; i++)
            if (b->imgs[i].live && b->imgs[i].out->result == REG_OK)
                fail_copy(&b->imgs[i], REG_ERROR);
}

/* An image queued twice in the batch (pushed again, e.g. under another tag) is copied once,
 * by its last entry: the earlier ones take that one's outcome (copy_twin_outcomes). */
static void merge_twins(batch_copy *b)
{
    for (size_t i = 0; i < b->n; i++)
        for (size_t k = b->n; k-- > i + 1 && b->imgs[i].live;)
            if (b->imgs[k].live && !strcmp(b->imgs[k].dg.str, b->imgs[i].dg.str))
                b->imgs[i].live = 0, b->imgs[i].twin = (int)k;
}

static void copy_twin_outcomes(batch_copy *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->imgs[i].twin >= 0)
            *b->imgs[i].out = *b->imgs[b->imgs[i].twin].out;
}

/* Every copied image's final status, in one write transaction (a batch's statuses cost one
 * commit); when it cannot be recorded, the images that succeeded are retried. */
static void record_final_statuses(batch_copy *b, index_db *ix)
{
    int queued = 0;
    int err = index_begin(ix);
    for (size_t i = 0; i < b->n && err == REG_OK; i++) {
        image_copy *c = &b->imgs[i];
        if (c->live)
            err = status_in_txn(&queued, ix, c->e->repository, c->dg.str, &b->dest,
                                c->out->result < 0 ? REPLICATION_FAILED : REPLICATION_COMPLETE,
                                c->out->result < 0 ? c->out->why : NULL);
    }
    if (err == REG_OK)
        err = index_commit(ix);
    if (err == REG_OK) {
        if (queued)
            outbox_wake();
        return;
    }
    index_rollback(ix);
    for (size_t i = 0; i < b->n; i++)
        if (b->imgs[i].live && b->imgs[i].out->result == REG_OK) {
            b->imgs[i].out->result = REG_ERROR;
            snprintf(b->imgs[i].out->why, sizeof(b->imgs[i].out->why),
                     "could not record the replication's status: %s", index_errmsg(ix));
        }
}

/* Which entries are copied: the others are settled here (a bad entry parks, an image deleted
 * since is done). */
static size_t pick_images(batch_copy *b, index_db *ix, const outbox_entry *entries, size_t n,
                          outbox_outcome *out)
{
    size_t live = 0;
    manifest_row row;
    for (size_t i = 0; i < n; i++) {
        image_copy *c = &b->imgs[i];
        *c = (image_copy){.e = &entries[i], .out = &out[i], .twin = -1};
        out[i].result = REG_OK;
        out[i].why[0] = '\0';
        int err = parse_entry(b->region, b->registry_id, &c->dg, c->e);
        if (err == REG_OK && strcmp(c->e->target, entries[0].target) != 0)
            err = reg_error_set(OUTBOX_PARK, "a replication batch of two destinations");
        if (err == REG_OK &&
            (err = index_manifest_by_digest(&row, ix, c->e->repository, &c->dg)) == REG_ENOTFOUND)
            continue; /* deleted since: deletes are not replicated */
        if (err < 0)
            fail_copy(c, err);
        else
            c->live = 1, live++;
    }
    b->n = n;
    return live;
}

/* Every image to copy FAILED with the reason the destination cannot be had. */
static void fail_all(batch_copy *b, index_db *ix, int err)
{
    char why[OUTBOX_WHY_MAX];
    snprintf(why, sizeof(why), "%s", reg_error_last("cannot reach the destination"));
    for (size_t i = 0; i < b->n; i++) {
        image_copy *c = &b->imgs[i];
        if (!c->live)
            continue;
        record_status(ix, c->e->repository, c->dg.str, &b->dest, REPLICATION_FAILED, why);
        c->out->result = err == REG_ENOTFOUND ? OUTBOX_PARK : err;
        snprintf(c->out->why, sizeof(c->out->why), "%s", why);
    }
}

void replicate_deliver_batch(void *ctx, index_db *ix, const outbox_entry *entries, size_t n,
                             outbox_outcome *out)
{
    remote *client = NULL;
    batch_copy *b = calloc(1, sizeof(*b));
    replicate_kind *kind = ctx;
    if (n > REPLICATE_BATCH_MAX)
        n = REPLICATE_BATCH_MAX; /* the outbox gives no more; the rest would stay leased */
    if (!b) {
        for (size_t i = 0; i < n; i++)
            out[i].result = REG_ERROR, snprintf(out[i].why, sizeof(out[i].why), "out of memory");
        return;
    }
    b->kind = kind;
    size_t live = pick_images(b, ix, entries, n, out);
    merge_twins(b);
    b->dest = (replicate_destination){b->region, b->registry_id, NULL, entries, n};
    int err = live > 0 ? kind->connect(&client, kind->connect_ctx, ix, b->region, b->registry_id)
                       : REG_OK;
    if (err < 0) {
        fail_all(b, ix, err);
    } else if (live > 0) {
        b->dest.client = client;
        read_tags(b, ix);
        parallel_for(b->n, REPLICATE_PARALLEL, copy_image, b);
        record_final_statuses(b, ix);
        kind->release(kind->connect_ctx, client);
    }
    copy_twin_outcomes(b);
    for (size_t i = 0; i < b->n; i++)
        strlist_free(&b->imgs[i].tags);
    free(b);
}
