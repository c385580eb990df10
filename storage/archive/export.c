/* export.c - images to an OCI image layout archive (see export.h). First every reference is
 * resolved and every manifest walked (children, referrers) into a list of roots and a set of
 * blobs; only then is the archive written, blob by blob, in fixed-size chunks. */
#include "storage/archive/export.h"
#include "storage/index/index_export.h"
#include "storage/manifest.h"
#include "storage/archive/ocilayout.h"
#include "storage/base/reference.h"
#include "storage/base/buf.h"
#include "storage/base/reg_error.h"
#include "storage/base/strmap.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_DEPTH 16

typedef struct export_blob {
    digest dg;
    uint64_t size;
} export_blob;

typedef struct export_root {
    char *ref_name; /* owned: "REPO:TAG" or "REPO@DIGEST" */
    manifest_row row;
} export_root;

typedef struct export_ctx {
    store *s;
    index_db *ix;
    export_report *rep;
    export_root *roots;
    size_t nroots, cap_roots;
    export_blob *blobs;
    size_t nblobs, cap_blobs;
    strmap blob_set;   /* digest -> index in blobs */
    strmap walked;     /* "REPO@DIGEST" of manifests walked */
    strmap root_names; /* ref names in roots */
} export_ctx;

static int add_blob(export_ctx *c, const digest *d, uint64_t size)
{
    int err = strmap_put(&c->blob_set, d->str, (int64_t)c->nblobs);
    if (err == REG_ECONFLICT)
        return REG_OK;
    if (err < 0 || buf_grow_array((void **)&c->blobs, &c->cap_blobs, c->nblobs, sizeof(*c->blobs),
                                  SIZE_MAX) < 0)
        return REG_ERROR;
    c->blobs[c->nblobs].dg = *d;
    c->blobs[c->nblobs++].size = size;
    return REG_OK;
}

static int add_root(export_ctx *c, const char *ref_name, const manifest_row *row)
{
    int err = strmap_put(&c->root_names, ref_name, 0);
    if (err == REG_ECONFLICT)
        return REG_OK;
    if (err < 0 || buf_grow_array((void **)&c->roots, &c->cap_roots, c->nroots, sizeof(*c->roots),
                                  SIZE_MAX) < 0)
        return REG_ERROR;
    export_root *r = &c->roots[c->nroots];
    if (!(r->ref_name = strdup(ref_name)))
        return REG_ERROR;
    r->row = *row;
    c->nroots++;
    return REG_OK;
}

typedef struct referrer_list {
    manifest_row *rows;
    size_t n, cap;
} referrer_list;

static int collect_referrer(void *ctx, const referrer_row *row)
{
    referrer_list *l = ctx;
    if (buf_grow_array((void **)&l->rows, &l->cap, l->n, sizeof(*l->rows), SIZE_MAX) < 0)
        return REG_ERROR;
    manifest_row *r = &l->rows[l->n];
    memset(r, 0, sizeof(*r));
    if (digest_parse(&r->dg, row->digest) < 0)
        return REG_OK;
    snprintf(r->media_type, sizeof(r->media_type), "%s", row->media_type);
    r->size = row->size;
    l->n++;
    return REG_OK;
}

static int walk(export_ctx *c, const char *repo, const manifest_row *row, int depth);

/* Config and layers into the blob set; child manifests walked. */
static int walk_refs(export_ctx *c, const char *repo, const manifest_row *row,
                     const manifest_info *info, int depth)
{
    manifest_row child;
    int err = REG_OK;
    for (size_t i = 0; err == REG_OK && i < info->nrefs; i++) {
        const manifest_ref *r = &info->refs[i];
        if (r->kind != REF_MANIFEST) {
            err = r->foreign ? REG_OK : add_blob(c, &r->dg, r->size);
            continue;
        }
        err = index_manifest_by_digest(&child, c->ix, repo, &r->dg);
        if (err == REG_ENOTFOUND)
            err =
                reg_error_set(REG_ERROR, "index %s of %s lists %s, which is not in the repository",
                              row->dg.str, repo, r->dg.str);
        if (err == REG_OK)
            err = walk(c, repo, &child, depth + 1);
    }
    return err;
}

/* Referrers of a manifest become roots ("REPO@DIGEST") and are walked in turn. */
static int walk_referrers(export_ctx *c, const char *repo, const manifest_row *row, int depth)
{
    referrer_list list = {0};
    char name[REPO_NAME_MAX + DIGEST_MAX + 2];
    int err = index_referrers(c->ix, repo, &row->dg, NULL, collect_referrer, &list);
    for (size_t i = 0; err == REG_OK && i < list.n; i++) {
        snprintf(name, sizeof(name), "%s@%s", repo, list.rows[i].dg.str);
        if ((err = add_root(c, name, &list.rows[i])) == REG_OK)
            err = walk(c, repo, &list.rows[i], depth + 1);
    }
    free(list.rows);
    return err;
}

static int walk(export_ctx *c, const char *repo, const manifest_row *row, int depth)
{
    char key[REPO_NAME_MAX + DIGEST_MAX + 2];
    char *body = NULL;
    manifest_info *info = NULL;
    snprintf(key, sizeof(key), "%s@%s", repo, row->dg.str);
    int err = strmap_put(&c->walked, key, 0);
    if (err == REG_ECONFLICT)
        return REG_OK;
    if (depth > MAX_DEPTH)
        return reg_error_set(REG_EINVALID, "%s: manifests nest deeper than %d", key, MAX_DEPTH);
    if (err == REG_OK)
        err = add_blob(c, &row->dg, row->size);
    if (err == REG_OK)
        err = store_read_manifest(&body, c->s, c->ix, row);
    if (err == REG_OK && (err = manifest_parse(&info, row->media_type, body, row->size)) < 0)
        reg_error_wrap(err, "stored manifest %s cannot be parsed", key);
    if (err == REG_OK) {
        c->rep->manifests++;
        err = walk_refs(c, repo, row, info, depth);
    }
    if (err == REG_OK)
        err = walk_referrers(c, repo, row, depth);
    manifest_info_free(info);
    free(body);
    return err;
}

typedef struct tag_list {
    char **tags, **digests;
    size_t n, cap, cap2;
} tag_list;

static int collect_tag(void *ctx, const char *tag, const char *digest_text)
{
    tag_list *l = ctx;
    if (buf_grow_array((void **)&l->tags, &l->cap, l->n, sizeof(char *), SIZE_MAX) < 0 ||
        buf_grow_array((void **)&l->digests, &l->cap2, l->n, sizeof(char *), SIZE_MAX) < 0)
        return REG_ERROR;
    l->tags[l->n] = strdup(tag);
    l->digests[l->n] = strdup(digest_text);
    if (!l->tags[l->n] || !l->digests[l->n]) {
        free(l->tags[l->n]);
        free(l->digests[l->n]);
        return REG_ERROR;
    }
    l->n++;
    return REG_OK;
}

static void tag_list_free(tag_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->tags[i]);
        free(l->digests[i]);
    }
    free(l->tags);
    free(l->digests);
}

static int add_tagged(export_ctx *c, const char *repo, const char *tag, const manifest_row *row)
{
    char name[REPO_NAME_MAX + TAG_MAX + 2];
    snprintf(name, sizeof(name), "%s:%s", repo, tag);
    int err = add_root(c, name, row);
    return err < 0 ? err : walk(c, repo, row, 0);
}

/* A repository alone: every tag. */
static int add_repo(export_ctx *c, const char *repo)
{
    tag_list tags = {0};
    manifest_row row;
    digest d;
    int err = index_export_tags(c->ix, repo, collect_tag, &tags);
    if (err == REG_ENOTFOUND)
        err = reg_error_set(err, "repository %s does not exist", repo);
    else if (err == REG_OK && tags.n == 0)
        err = reg_error_set(REG_ENOTFOUND, "repository %s has no tags to export", repo);
    for (size_t i = 0; err == REG_OK && i < tags.n; i++) {
        if ((err = digest_parse(&d, tags.digests[i])) == REG_OK &&
            (err = index_manifest_by_digest(&row, c->ix, repo, &d)) == REG_OK)
            err = add_tagged(c, repo, tags.tags[i], &row);
        if (err == REG_ENOTFOUND)
            err = REG_OK; /* the tag went away since it was listed */
    }
    tag_list_free(&tags);
    return err;
}

/* One command-line reference: REPO, REPO:TAG or REPO@DIGEST. */
static int add_ref(export_ctx *c, const char *ref)
{
    char repo[REPO_NAME_MAX + 1];
    const char *at = strchr(ref, '@'), *slash = strrchr(ref, '/'), *colon = strrchr(ref, ':');
    const char *end = at ? at : (colon && (!slash || colon > slash) ? colon : NULL);
    size_t len = end ? (size_t)(end - ref) : strlen(ref);
    manifest_row row;
    reference parsed = {0};
    snprintf(repo, sizeof(repo), "%.*s", (int)len, ref);
    if (len > REPO_NAME_MAX || reference_check_name(repo) < 0)
        return reg_error_set(REG_EINVALID, "\"%s\": invalid repository name", ref);
    if (!end)
        return add_repo(c, repo);
    if ((at && reference_parse(&parsed, end + 1) < 0) || (at && !parsed.is_digest) ||
        (!at && reference_check_tag(end + 1) < 0))
        return reg_error_set(REG_EINVALID, "\"%s\": invalid %s", ref, at ? "digest" : "tag");
    int err = at ? index_manifest_by_digest(&row, c->ix, repo, &parsed.dg)
                 : index_manifest_by_tag(&row, c->ix, repo, end + 1);
    if (err == REG_ENOTFOUND)
        return reg_error_set(err, "%s: no such image", ref);
    if (err < 0)
        return reg_error_set(err, "%s: index lookup failed: %s", ref, index_errmsg(c->ix));
    if (!at)
        return add_tagged(c, repo, end + 1, &row);
    err = add_root(c, ref, &row);
    return err < 0 ? err : walk(c, repo, &row, 0);
}

static json_t *index_json(const export_ctx *c)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < c->nroots; i++) {
        const export_root *r = &c->roots[i];
        if (json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType",
                                                  r->row.media_type, "digest", r->row.dg.str,
                                                  "size", (json_int_t)r->row.size, "annotations",
                                                  LAYOUT_REF_NAME, r->ref_name)) < 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list ? json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX,
                            "manifests", list)
                : NULL;
}

static int write_metadata(archive_out *a, const export_ctx *c)
{
    static const char layout[] = "{\"imageLayoutVersion\":\"" LAYOUT_VERSION "\"}";
    json_t *index = index_json(c);
    char *text = index ? json_dumps(index, JSON_COMPACT) : NULL;
    int err = text ? REG_OK : REG_ERROR, sha512 = 0;
    if (err == REG_OK)
        err = archive_add_buffer(a, LAYOUT_FILE, layout, strlen(layout), 0644);
    if (err == REG_OK)
        err = archive_add_buffer(a, LAYOUT_INDEX, text, strlen(text), 0644);
    for (size_t i = 0; i < c->nblobs; i++)
        sha512 |= c->blobs[i].dg.alg == DIGEST_SHA512;
    if (err == REG_OK)
        err = archive_add_dir(a, "blobs/", 0755);
    if (err == REG_OK)
        err = archive_add_dir(a, "blobs/sha256/", 0755);
    if (err == REG_OK && sha512)
        err = archive_add_dir(a, "blobs/sha512/", 0755);
    free(text);
    json_decref(index);
    return err;
}

static int write_blob(export_ctx *c, archive_out *a, const export_blob *b)
{
    char name[DIGEST_MAX + 8];
    int fd = -1;
    uint64_t size = 0;
    int err = blobstore_open_blob(&fd, &size, c->s->blobs, c->ix, &b->dg);
    if (err == REG_ENOTFOUND)
        return reg_error_set(err,
                             "blob %s is missing from the data folder (deleted while the export "
                             "ran?)",
                             b->dg.str);
    if (err < 0)
        return reg_error_set(err, "cannot open blob %s", b->dg.str);
    if (size != b->size)
        err = reg_error_set(REG_EINVALID, "blob %s is %llu bytes on disk, its descriptor says %llu",
                            b->dg.str, (unsigned long long)size, (unsigned long long)b->size);
    layout_blob_name(name, sizeof(name), &b->dg);
    if (err == REG_OK)
        err = archive_add_fd(a, name, fd, size, 0644, &b->dg);
    close(fd);
    return err;
}

static int write_archive(export_ctx *c, const char *path, const archive_options *opt)
{
    archive_out *a = NULL;
    int err = archive_create(&a, path, opt);
    if (err < 0)
        return err;
    for (size_t i = 0; i < c->nblobs; i++)
        c->rep->bytes += c->blobs[i].size;
    archive_set_total(a, c->rep->bytes);
    err = write_metadata(a, c);
    for (size_t i = 0; err == REG_OK && i < c->nblobs; i++)
        err = write_blob(c, a, &c->blobs[i]);
    if (err == REG_OK)
        err = archive_commit(a);
    if (err == REG_OK)
        c->rep->compressed = archive_bytes_written(a);
    archive_out_free(a);
    return err;
}

int export_images(export_report *out, store *s, index_db *ix, const char *const *refs, size_t nrefs,
                  const char *path, const archive_options *opt)
{
    export_ctx c = {.s = s, .ix = ix, .rep = out};
    int err = REG_OK;
    memset(out, 0, sizeof(*out));
    reg_error_clear();
    strmap_init(&c.blob_set);
    strmap_init(&c.walked);
    strmap_init(&c.root_names);
    for (size_t i = 0; err == REG_OK && i < nrefs; i++)
        err = add_ref(&c, refs[i]);
    if (err == REG_OK) {
        out->images = (int64_t)c.nroots;
        out->blobs = (int64_t)c.nblobs;
        err = write_archive(&c, path, opt);
    }
    if (err < 0 && !reg_error_last(NULL))
        reg_error_set(err, "export failed: %s", index_errmsg(ix));
    for (size_t i = 0; i < c.nroots; i++)
        free(c.roots[i].ref_name);
    free(c.roots);
    free(c.blobs);
    strmap_free(&c.blob_set);
    strmap_free(&c.walked);
    strmap_free(&c.root_names);
    return err;
}
