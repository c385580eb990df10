/* import.c - OCI image layout archive into the registry (see import.h), in three phases:
 * read (every entry checked against the layout's names, every blob spooled under
 * DATA/uploads/ and verified), plan (index.json resolved to repositories and tags, every
 * manifest parsed and its references found), commit (blobs, then manifests children first).
 * The spools are removed whatever happens. */
#include "storage/archive/import.h"
#include "storage/index/index_repos.h"
#include "storage/manifest.h"
#include "storage/archive/ocilayout.h"
#include "storage/base/reference.h"
#include "storage/base/buf.h"
#include "storage/base/reg_error.h"
#include "storage/base/strmap.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INDEX_JSON_MAX  (16u << 20)
#define LAYOUT_FILE_MAX 4096
#define MAX_DEPTH       16
#define SPOOL_PREFIX    ".import-"
#define KEY_MAX         (REPO_NAME_MAX + DIGEST_MAX + 2)

typedef struct spooled {
    digest dg;
    uint64_t size;
    char *path; /* owned; NULL once committed */
} spooled;

typedef struct planned {
    char *repo; /* owned */
    digest dg;
    manifest_info *info; /* owned */
    char **tags;         /* owned */
    size_t ntags;
} planned;

typedef struct blob_link {
    char *repo; /* owned */
    size_t blob;
} blob_link;

typedef struct import_ctx {
    store *s;
    index_db *ix;
    const import_options *opt;
    import_report *rep;
    archive_in *in;
    spooled *blobs;
    size_t nblobs, cap_blobs;
    strmap by_digest; /* digest -> index in blobs */
    char *layout, *index;
    size_t layout_len, index_len;
    planned *puts;
    size_t nputs, cap_puts;
    strmap put_keys; /* "REPO@DIGEST" -> index in puts */
    blob_link *links;
    size_t nlinks, cap_links;
    strmap link_keys; /* "REPO@DIGEST" */
    strmap tag_keys;  /* "REPO:TAG" -> index in puts */
} import_ctx;

/* An entry name fit for a message: at most 120 bytes, control characters shown as '?'. */
static void printable(char *out, size_t n, const char *name)
{
    size_t i = 0;
    for (; name[i] && i + 1 < n && i < 120; i++)
        out[i] = isprint((unsigned char)name[i]) ? name[i] : '?';
    out[i] = '\0';
}

/* Whole file (at most max bytes) into a NUL-terminated buffer. */
static int read_fd_all(char **out, size_t *len_out, int fd, size_t max)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return REG_ERROR;
    if ((uint64_t)st.st_size > max)
        return REG_ETOOLARGE;
    size_t len = (size_t)st.st_size;
    char *data = malloc(len + 1);
    if (!data)
        return REG_ERROR;
    if (pread(fd, data, len, 0) != (ssize_t)len) {
        free(data);
        return REG_ERROR;
    }
    data[len] = '\0';
    *out = data;
    *len_out = len;
    return REG_OK;
}

/* ---- phase 1: read ---- */

static const char *type_name(char type)
{
    switch (type) {
    case '1':
        return "hard link";
    case '2':
        return "symbolic link";
    case '3':
        return "character device";
    case '4':
        return "block device";
    case '6':
        return "FIFO";
    default:
        return "special entry";
    }
}

static int read_small(import_ctx *c, char **out, size_t *len, const char *name, size_t max)
{
    if (*out)
        return reg_error_set(REG_EINVALID, "the archive holds %s twice", name);
    int err = archive_read_all(out, len, c->in, max);
    if (err == REG_ETOOLARGE)
        return reg_error_set(REG_EINVALID, "%s is larger than the %zu bytes accepted", name, max);
    return err < 0 ? err : REG_OK;
}

static int spool_blob(import_ctx *c, const digest *dg, uint64_t size)
{
    char path[PATH_MAX];
    if (strmap_get(NULL, &c->by_digest, dg->str) == REG_OK)
        return REG_OK; /* the same blob again: the first copy is verified already */
    if (buf_grow_array((void **)&c->blobs, &c->cap_blobs, c->nblobs, sizeof(*c->blobs), SIZE_MAX) <
        0)
        return REG_ERROR;
    int err = archive_spool(path, sizeof(path), c->in, blobstore_uploads_dir(c->s->blobs),
                            SPOOL_PREFIX, dg);
    if (err < 0)
        return err;
    spooled *b = &c->blobs[c->nblobs];
    b->dg = *dg;
    b->size = size;
    if (!(b->path = strdup(path))) {
        unlink(path);
        return REG_ERROR;
    }
    c->nblobs++;
    return strmap_put(&c->by_digest, dg->str, (int64_t)c->nblobs - 1);
}

static int read_entry(import_ctx *c, const tar_entry *e)
{
    char norm[TAR_NAME_MAX], shown[128];
    digest dg;
    layout_kind kind = layout_classify(&dg, norm, sizeof(norm), e->name);
    printable(shown, sizeof(shown), norm);
    if (e->type != TAR_FILE && e->type != TAR_DIR)
        return reg_error_set(REG_EINVALID,
                             "entry \"%s\" is a %s: an OCI layout archive holds only "
                             "files and folders",
                             shown, type_name(e->type));
    if (kind == LAYOUT_OTHER && !strcmp(norm, "ocireg-backup.json"))
        return reg_error_set(REG_EINVALID, "this is an ocireg backup: use `ocireg restore`");
    if (kind == LAYOUT_OTHER)
        return reg_error_set(REG_EINVALID,
                             "unexpected entry \"%s\": an OCI image layout holds only "
                             "oci-layout, index.json and blobs/<algorithm>/<hex>",
                             shown);
    if ((kind == LAYOUT_DIR) != (e->type == TAR_DIR))
        return reg_error_set(REG_EINVALID, "entry \"%s\" should be a %s", shown,
                             kind == LAYOUT_DIR ? "folder" : "regular file");
    switch (kind) {
    case LAYOUT_MARKER:
        return read_small(c, &c->layout, &c->layout_len, LAYOUT_FILE, LAYOUT_FILE_MAX);
    case LAYOUT_INDEX_JSON:
        return read_small(c, &c->index, &c->index_len, LAYOUT_INDEX, INDEX_JSON_MAX);
    case LAYOUT_BLOB:
        return spool_blob(c, &dg, e->size);
    default:
        return REG_OK;
    }
}

static int read_archive(import_ctx *c)
{
    tar_entry e;
    int err;
    while ((err = archive_next(&e, c->in)) == REG_OK)
        if ((err = read_entry(c, &e)) < 0)
            return err;
    if (err != REG_ENOTFOUND)
        return err;
    if (!c->layout || !c->index)
        return reg_error_set(REG_EINVALID, "the archive has no %s: not an OCI image layout",
                             c->layout ? LAYOUT_INDEX : LAYOUT_FILE);
    return REG_OK;
}

/* ---- phase 2: plan ---- */

static int add_link(import_ctx *c, const char *repo, size_t blob)
{
    char key[KEY_MAX];
    snprintf(key, sizeof(key), "%s@%s", repo, c->blobs[blob].dg.str);
    int err = strmap_put(&c->link_keys, key, 0);
    if (err == REG_ECONFLICT)
        return REG_OK;
    if (err < 0 || buf_grow_array((void **)&c->links, &c->cap_links, c->nlinks, sizeof(*c->links),
                                  SIZE_MAX) < 0)
        return REG_ERROR;
    if (!(c->links[c->nlinks].repo = strdup(repo)))
        return REG_ERROR;
    c->links[c->nlinks++].blob = blob;
    return REG_OK;
}

/* Plan a manifest put; takes info over in every case. */
static int add_put(int64_t *index_out, import_ctx *c, const char *repo, const digest *dg,
                   manifest_info *info)
{
    char key[KEY_MAX];
    snprintf(key, sizeof(key), "%s@%s", repo, dg->str);
    char *repo_copy = strdup(repo);
    if (!repo_copy ||
        buf_grow_array((void **)&c->puts, &c->cap_puts, c->nputs, sizeof(*c->puts), SIZE_MAX) < 0) {
        free(repo_copy);
        manifest_info_free(info);
        return REG_ERROR;
    }
    planned *p = &c->puts[c->nputs];
    memset(p, 0, sizeof(*p));
    p->repo = repo_copy;
    p->dg = *dg;
    p->info = info;
    *index_out = (int64_t)c->nputs++;
    return strmap_put(&c->put_keys, key, *index_out);
}

/* A manifest's bytes: its spool, or its blob file when it is stored already. */
static int manifest_body(char **out, size_t *len, import_ctx *c, const digest *dg)
{
    int64_t i;
    int fd = -1, err;
    uint64_t size;
    if (strmap_get(&i, &c->by_digest, dg->str) == REG_OK && c->blobs[i].path)
        fd = open(c->blobs[i].path, O_RDONLY | O_CLOEXEC);
    else if ((err = blobstore_open_blob(&fd, &size, c->s->blobs, c->ix, dg)) < 0)
        return err;
    if (fd < 0)
        return REG_ERROR;
    err = read_fd_all(out, len, fd, MANIFEST_MAX_BYTES);
    close(fd);
    return err;
}

static int plan_manifest(int64_t *index_out, import_ctx *c, const char *repo, const digest *dg,
                         const char *media_type, uint64_t size, int depth);

/* Config and layers must be in the archive or linked in the repository with their size;
 * child manifests are planned first. */
static int plan_refs(import_ctx *c, const char *repo, const digest *dg, const manifest_info *info,
                     int depth)
{
    int err = REG_OK;
    for (size_t i = 0; err == REG_OK && i < info->nrefs; i++) {
        const manifest_ref *r = &info->refs[i];
        int64_t blob, ignored;
        uint64_t size = 0;
        if (r->kind == REF_MANIFEST) {
            err = plan_manifest(&ignored, c, repo, &r->dg, NULL, r->size, depth + 1);
            continue;
        }
        if (r->foreign)
            continue;
        if (strmap_get(&blob, &c->by_digest, r->dg.str) == REG_OK) {
            size = c->blobs[blob].size;
            err = add_link(c, repo, (size_t)blob);
        } else if ((err = index_blob_in_repo(&size, c->ix, repo, &r->dg)) == REG_ENOTFOUND) {
            return reg_error_set(err,
                                 "manifest %s references blob %s, which is neither in the "
                                 "archive nor in repository %s",
                                 dg->str, r->dg.str, repo);
        }
        if (err == REG_OK && size != r->size)
            return reg_error_set(REG_EINVALID,
                                 "manifest %s says blob %s has %llu bytes, it has %llu", dg->str,
                                 r->dg.str, (unsigned long long)r->size, (unsigned long long)size);
    }
    return err;
}

/* A manifest not in the archive: fine when the repository has it (a root is then put again
 * from its stored bytes, to set its tags). */
static int plan_stored(int64_t *index_out, import_ctx *c, const char *repo, const digest *dg,
                       int depth)
{
    manifest_row row;
    char *body = NULL;
    size_t len;
    manifest_info *info = NULL;
    int err = index_manifest_by_digest(&row, c->ix, repo, dg);
    *index_out = -1;
    if (err == REG_ENOTFOUND)
        return reg_error_set(err, "manifest %s is neither in the archive nor in repository %s",
                             dg->str, repo);
    if (err < 0 || depth > 0)
        return err;
    if ((err = manifest_body(&body, &len, c, dg)) == REG_OK &&
        (err = manifest_parse(&info, row.media_type, body, len)) == REG_OK)
        err = add_put(index_out, c, repo, dg, info);
    else
        err = reg_error_set(REG_ERROR, "stored manifest %s of %s cannot be read", dg->str, repo);
    free(body);
    return err;
}

static int plan_manifest(int64_t *index_out, import_ctx *c, const char *repo, const digest *dg,
                         const char *media_type, uint64_t size, int depth)
{
    char key[KEY_MAX], *body = NULL;
    size_t len = 0;
    int64_t blob;
    manifest_info *info = NULL;
    snprintf(key, sizeof(key), "%s@%s", repo, dg->str);
    if (strmap_get(index_out, &c->put_keys, key) == REG_OK)
        return REG_OK;
    if (depth > MAX_DEPTH)
        return reg_error_set(REG_EINVALID, "manifests nest deeper than %d at %s", MAX_DEPTH,
                             dg->str);
    if (strmap_get(&blob, &c->by_digest, dg->str) != REG_OK)
        return plan_stored(index_out, c, repo, dg, depth);
    if (c->blobs[blob].size != size)
        return reg_error_set(REG_EINVALID,
                             "a descriptor of %s says %llu bytes, the archive has %llu", dg->str,
                             (unsigned long long)size, (unsigned long long)c->blobs[blob].size);
    int err = manifest_body(&body, &len, c, dg);
    if (err == REG_ETOOLARGE)
        err = reg_error_set(REG_EINVALID, "manifest %s is larger than %u bytes", dg->str,
                            MANIFEST_MAX_BYTES);
    if (err == REG_OK && (err = manifest_parse(&info, media_type, body, len)) < 0)
        reg_error_wrap(err, "manifest %s", dg->str);
    free(body);
    if (err == REG_OK)
        err = plan_refs(c, repo, dg, info, depth);
    if (err == REG_OK)
        return add_put(index_out, c, repo, dg, info);
    manifest_info_free(info);
    return err;
}

static int add_tag(import_ctx *c, int64_t put, const char *repo, const char *tag)
{
    char key[REPO_NAME_MAX + TAG_MAX + 2];
    int64_t other;
    planned *p = &c->puts[put];
    snprintf(key, sizeof(key), "%s:%s", repo, tag);
    if (strmap_get(&other, &c->tag_keys, key) == REG_OK)
        return other == put ? REG_OK
                            : reg_error_set(REG_EINVALID,
                                            "index.json names %s twice, for different "
                                            "manifests",
                                            key);
    char **grown = realloc(p->tags, (p->ntags + 1) * sizeof(*grown));
    if (!grown)
        return REG_ERROR;
    p->tags = grown;
    if (!(p->tags[p->ntags] = strdup(tag)))
        return REG_ERROR;
    p->ntags++;
    return strmap_put(&c->tag_keys, key, put);
}

/* Split a ref name into its repository part and tag: "REPO:TAG", "REPO@DIGEST" (as export
 * writes them) or a plain "TAG" (as skopeo does). */
static int split_ref_name(char *part, char *tag, const char *name, const digest *dg, size_t entry)
{
    const char *at = strchr(name, '@'), *colon = strrchr(name, ':'), *slash = strrchr(name, '/');
    const char *end = at ? at : (colon && (!slash || colon > slash) ? colon : NULL);
    size_t part_len = end ? (size_t)(end - name) : 0;
    const char *tag_src = at ? "" : end ? end + 1 : name;
    if (part_len > REPO_NAME_MAX || strlen(tag_src) > TAG_MAX)
        return reg_error_set(REG_EINVALID, "index.json entry %zu: ref name is too long", entry);
    if (at && strcmp(at + 1, dg->str) != 0)
        return reg_error_set(REG_EINVALID,
                             "index.json entry %zu: ref name \"%s\" does not match "
                             "its digest %s",
                             entry, name, dg->str);
    memcpy(part, name, part_len);
    part[part_len] = '\0';
    strcpy(tag, tag_src);
    if (tag[0] && reference_check_tag(tag) < 0)
        return reg_error_set(REG_EINVALID, "index.json entry %zu: \"%s\" is not a valid tag", entry,
                             tag);
    return REG_OK;
}

/* The repository and tag of an index.json entry; --repo replaces the repository part,
 * --repo-prefix is put in front of it (with a '/' unless it ends with one). */
static int resolve_target(import_ctx *c, char *repo, char *tag, const char *name, const digest *dg,
                          size_t entry)
{
    char part[REPO_NAME_MAX + 1] = "";
    const char *prefix = c->opt->repo_prefix;
    int err = name ? split_ref_name(part, tag, name, dg, entry) : REG_OK;
    if (!name)
        tag[0] = '\0';
    if (err < 0)
        return err;
    if (!c->opt->repo && !part[0])
        return reg_error_set(REG_EINVALID,
                             "index.json entry %zu (ref name \"%s\") names no "
                             "repository: give --repo NAME",
                             entry, name ? name : "");
    int n = c->opt->repo        ? snprintf(repo, REPO_NAME_MAX + 1, "%s", c->opt->repo)
            : prefix && *prefix ? snprintf(repo, REPO_NAME_MAX + 1, "%s%s%s", prefix,
                                           prefix[strlen(prefix) - 1] == '/' ? "" : "/", part)
                                : snprintf(repo, REPO_NAME_MAX + 1, "%s", part);
    if (n > REPO_NAME_MAX || reference_check_name(repo) < 0)
        return reg_error_set(REG_EINVALID,
                             "index.json entry %zu: \"%s\" is not a valid repository "
                             "name",
                             entry, repo);
    return REG_OK;
}

static int plan_root(import_ctx *c, json_t *desc, size_t entry)
{
    json_error_t jerr;
    const char *mt = NULL, *dg_text = NULL, *name = NULL;
    json_int_t size = -1;
    json_t *ann = NULL;
    char repo[REPO_NAME_MAX + 1], tag[TAG_MAX + 1];
    digest dg;
    int64_t put;
    if (json_unpack_ex(desc, &jerr, 0, "{s:s, s:s, s:I, s?o}", "mediaType", &mt, "digest", &dg_text,
                       "size", &size, "annotations", &ann) < 0 ||
        size < 0)
        return reg_error_set(REG_EINVALID, "index.json entry %zu: invalid descriptor: %s", entry,
                             size < 0 ? "negative size" : jerr.text);
    if (digest_parse(&dg, dg_text) < 0)
        return reg_error_set(REG_EINVALID, "index.json entry %zu: invalid digest", entry);
    if (ann && json_is_object(ann))
        name = json_string_value(json_object_get(ann, LAYOUT_REF_NAME));
    int err = resolve_target(c, repo, tag, name, &dg, entry);
    if (err == REG_OK)
        err = plan_manifest(&put, c, repo, &dg, mt, (uint64_t)size, 0);
    if (err == REG_OK && tag[0])
        err = add_tag(c, put, repo, tag);
    if (err == REG_OK)
        c->rep->images++;
    return err;
}

/* In an IMMUTABLE repository an existing tag may only be imported with its current manifest
 * (checked now so that a conflict stops the import before anything is committed). */
static int check_immutable(import_ctx *c, const planned *p)
{
    int64_t repo_id;
    int immutable = 0;
    char current[DIGEST_MAX];
    int err = p->ntags ? index_repo_id(&repo_id, c->ix, p->repo) : REG_ENOTFOUND;
    if (err == REG_ENOTFOUND)
        return REG_OK;
    if (err == REG_OK)
        err = index_repo_immutable(&immutable, c->ix, repo_id);
    for (size_t i = 0; err == REG_OK && immutable && i < p->ntags; i++) {
        err = index_tag_target(current, c->ix, repo_id, p->tags[i]);
        if (err == REG_ENOTFOUND)
            err = REG_OK;
        else if (err == REG_OK && strcmp(current, p->dg.str) != 0)
            return reg_error_set(REG_ECONFLICT, "tag %s:%s exists and repository %s is IMMUTABLE",
                                 p->repo, p->tags[i], p->repo);
    }
    return err;
}

static int plan(import_ctx *c)
{
    json_error_t jerr;
    json_t *layout = json_loadb(c->layout, c->layout_len, 0, &jerr);
    json_t *index = json_loadb(c->index, c->index_len, 0, &jerr);
    json_t *list = index ? json_object_get(index, "manifests") : NULL;
    const char *version = json_string_value(json_object_get(layout, "imageLayoutVersion"));
    int err = REG_OK;
    if (!version || strcmp(version, LAYOUT_VERSION) != 0)
        err = reg_error_set(REG_EINVALID, "oci-layout does not say imageLayoutVersion \"%s\"",
                            LAYOUT_VERSION);
    else if (!json_is_array(list))
        err = reg_error_set(REG_EINVALID, "index.json is not an image index: %s",
                            index ? "it has no manifests array" : jerr.text);
    for (size_t i = 0; err == REG_OK && i < json_array_size(list); i++)
        err = plan_root(c, json_array_get(list, i), i + 1);
    for (size_t i = 0; err == REG_OK && i < c->nputs; i++)
        err = check_immutable(c, &c->puts[i]);
    json_decref(layout);
    json_decref(index);
    return err;
}

/* ---- phase 3: commit ---- */

/* Link a blob into a repository; the first link of a blob also publishes its spool, as
 * store_commit_upload does: synced and placed before the write lock is taken, confirmed inside
 * the transaction. */
static int commit_link(import_ctx *c, const blob_link *l)
{
    spooled *b = &c->blobs[l->blob];
    blob_publish *p = NULL;
    int64_t repo_id;
    int err = b->path ? blobstore_publish_file(&p, c->s->blobs, &b->dg, b->path) : REG_OK;
    if (err == REG_OK && p)
        err = blob_publish_prepare(p);
    if (err < 0) {
        blob_publish_free(p);
        return reg_error_set(err, "cannot sync the spool of %s: %s", b->dg.str, strerror(errno));
    }
    if ((err = index_begin(c->ix)) == REG_OK)
        err = index_repo_ensure(&repo_id, c->ix, l->repo);
    if (err == REG_OK && p && (err = blob_publish_commit(p, c->ix)) == REG_OK) {
        free(b->path);
        b->path = NULL;
        c->rep->blobs++;
        c->rep->bytes += b->size;
    }
    if (err == REG_OK)
        err = index_blob_link(c->ix, repo_id, &b->dg, b->size);
    if (err == REG_OK)
        err = index_commit(c->ix);
    if (err < 0) {
        index_rollback(c->ix);
        reg_error_set(err, "cannot store blob %s in %s: %s", b->dg.str, l->repo,
                      index_errmsg(c->ix));
    }
    blob_publish_free(p);
    return err;
}

static int put_failure(import_ctx *c, int err, const planned *p, const char *detail)
{
    if (err == REG_ENOTFOUND)
        return reg_error_set(err, "manifest %s: %s is not in repository %s", p->dg.str, detail,
                             p->repo);
    if (err == REG_ECONFLICT)
        return reg_error_set(err, "tag %s:%s exists and the repository is IMMUTABLE", p->repo,
                             detail);
    if (err == REG_EINVALID && detail[0])
        return reg_error_set(err, "manifest %s: blob %s has another size", p->dg.str, detail);
    if (err == REG_EINVALID)
        return reg_error_wrap(err, "manifest %s", p->dg.str);
    return reg_error_set(err, "cannot store manifest %s in %s: %s", p->dg.str, p->repo,
                         index_errmsg(c->ix));
}

static int commit_put(import_ctx *c, const planned *p)
{
    char *body = NULL, detail[DIGEST_MAX] = "";
    size_t len = 0;
    int err = manifest_body(&body, &len, c, &p->dg);
    if (err < 0)
        return reg_error_set(err, "cannot read manifest %s again", p->dg.str);
    manifest_put put = {.repo = p->repo,
                        .dg = &p->dg,
                        .body = body,
                        .len = len,
                        .info = p->info,
                        .tags = (const char *const *)p->tags,
                        .ntags = p->ntags};
    err = store_put_manifest(c->s, c->ix, &put, detail);
    free(body);
    if (err < 0)
        return put_failure(c, err, p, detail);
    c->rep->manifests++;
    return REG_OK;
}

static int commit(import_ctx *c)
{
    int err = REG_OK;
    for (size_t i = 0; err == REG_OK && i < c->nlinks; i++)
        err = commit_link(c, &c->links[i]);
    for (size_t i = 0; err == REG_OK && i < c->nputs; i++)
        err = commit_put(c, &c->puts[i]);
    c->rep->partial = err < 0 && (c->rep->blobs > 0 || c->rep->manifests > 0);
    return err;
}

static void ctx_free(import_ctx *c)
{
    for (size_t i = 0; i < c->nblobs; i++) {
        if (c->blobs[i].path)
            unlink(c->blobs[i].path);
        free(c->blobs[i].path);
    }
    for (size_t i = 0; i < c->nputs; i++) {
        free(c->puts[i].repo);
        manifest_info_free(c->puts[i].info);
        for (size_t j = 0; j < c->puts[i].ntags; j++)
            free(c->puts[i].tags[j]);
        free(c->puts[i].tags);
    }
    for (size_t i = 0; i < c->nlinks; i++)
        free(c->links[i].repo);
    free(c->blobs);
    free(c->puts);
    free(c->links);
    free(c->layout);
    free(c->index);
    strmap_free(&c->by_digest);
    strmap_free(&c->put_keys);
    strmap_free(&c->link_keys);
    strmap_free(&c->tag_keys);
    archive_close(c->in);
}

int import_archive(import_report *out, store *s, index_db *ix, const char *path,
                   const import_options *opt, const archive_options *aopt)
{
    import_ctx c = {.s = s, .ix = ix, .opt = opt, .rep = out};
    memset(out, 0, sizeof(*out));
    strmap_init(&c.by_digest);
    strmap_init(&c.put_keys);
    strmap_init(&c.link_keys);
    strmap_init(&c.tag_keys);
    reg_error_clear();
    int err = archive_open(&c.in, path, aopt);
    if (err == REG_OK)
        err = read_archive(&c);
    if (err == REG_OK)
        err = plan(&c);
    if (err == REG_OK)
        err = commit(&c);
    if (err < 0 && !reg_error_last(NULL))
        reg_error_set(err, "import failed");
    ctx_free(&c);
    return err;
}
