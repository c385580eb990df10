/* console_images.c - the console's image endpoints: a repository's images (tags, sizes,
 * times, platforms of indexes), one image (manifest, config, children, referrers), and the
 * deletion of an image or a tag. */
#include "auth/scope.h"
#include "server/console/console_api.h"
#include "server/console/console_ops.h"
#include "server/console/console_reply.h"
#include "storage/base/buf.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"
#include "storage/index/index_browse.h"
#include "storage/index/index_repos.h"
#include "storage/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The bytes of blob `d` (at most `max`) as a malloc'd NUL-terminated text, or NULL. */
static char *blob_text(request *req, index_db *ix, const digest *d, size_t max, size_t *len_out)
{
    int fd = -1;
    uint64_t size = 0;
    if (blobstore_open_blob(&fd, &size, req->srv->st->blobs, ix, d) < 0)
        return NULL;
    char *text = size <= max ? malloc(size + 1) : NULL;
    if (text && pread(fd, text, size, 0) != (ssize_t)size) {
        free(text);
        text = NULL;
    }
    close(fd);
    if (text) {
        text[size] = '\0';
        *len_out = size;
    }
    return text;
}

/* A manifest's parsed JSON, or NULL. */
static json_t *manifest_json(request *req, index_db *ix, const char *digest_text)
{
    digest d;
    size_t len = 0;
    char *text = digest_parse(&d, digest_text) == REG_OK
                     ? blob_text(req, ix, &d, MANIFEST_MAX_BYTES, &len)
                     : NULL;
    json_t *out = text ? json_loadb(text, len, 0, NULL) : NULL;
    free(text);
    return out;
}

/* "os/architecture[/variant]" of an index entry's platform, or NULL. */
static json_t *platform_text(json_t *entry)
{
    json_t *p = json_object_get(entry, "platform");
    const char *os = json_string_value(json_object_get(p, "os"));
    const char *arch = json_string_value(json_object_get(p, "architecture"));
    const char *variant = json_string_value(json_object_get(p, "variant"));
    if (!os || !arch)
        return NULL;
    return json_sprintf("%s/%s%s%s", os, arch, variant ? "/" : "", variant ? variant : "");
}

static json_t *platforms_of(json_t *manifest)
{
    json_t *list = json_array(), *entry, *text;
    size_t i;
    json_array_foreach(json_object_get(manifest, "manifests"), i, entry)
    {
        /* attestation manifests say unknown/unknown: not a platform */
        if ((text = platform_text(entry)) && strcmp(json_string_value(text), "unknown/unknown"))
            json_array_append_new(list, text);
        else
            json_decref(text);
    }
    return list;
}

static json_t *tag_array(const char *tags)
{
    json_t *list = json_array();
    for (const char *p = tags; p && *p;) {
        size_t len = strcspn(p, ",");
        json_array_append_new(list, json_stringn(p, len));
        p += len + (p[len] == ',');
    }
    return list;
}

static json_t *image_json(const image_info *img)
{
    json_t *out = json_pack(
        "{s:s, s:o, s:I, s:I, s:I, s:s, s:b}", "digest", img->digest, "tags", tag_array(img->tags),
        "sizeBytes", (json_int_t)img->size, "pushedAt", (json_int_t)img->pushed_at, "lastPulledAt",
        (json_int_t)img->last_pulled_at, "mediaType", img->media_type, "child", img->child);
    if (out && img->artifact_type)
        json_object_set_new(out, "artifactType", json_string(img->artifact_type));
    if (out && img->subject)
        json_object_set_new(out, "subject", json_string(img->subject));
    return out;
}

typedef struct list_ctx {
    request *req;
    index_db *ix;
    json_t *images;
    int platform_reads;
    image_sort sort;
    size_t page; /* rows wanted; one more says a next page exists */
    int more;
    char next[DIGEST_MAX + 24]; /* the cursor after the last row */
} list_ctx;

/* A page asks for one row more than it shows: when that row comes, *more says a next page
 * exists and the row is left out (1). */
static int page_full(const json_t *rows, size_t page, int *more)
{
    if (json_array_size(rows) < page)
        return 0;
    *more = 1;
    return 1;
}

static int add_image(void *ctx, const image_info *img)
{
    list_ctx *l = ctx;
    if (page_full(l->images, l->page, &l->more))
        return REG_OK;
    json_t *item = image_json(img);
    if (!item)
        return reg_error_set(REG_ERROR, "out of memory");
    json_object_set_new(item, "tagCount", json_integer(img->tag_count));
    json_array_append_new(l->images, item);
    int64_t key = l->sort == IMAGE_SORT_SIZE     ? img->size
                  : l->sort == IMAGE_SORT_PULLED ? img->last_pulled_at
                                                 : img->pushed_at;
    if (l->sort == IMAGE_SORT_DIGEST)
        snprintf(l->next, sizeof(l->next), "%s", img->digest);
    else
        snprintf(l->next, sizeof(l->next), "%lld.%s", (long long)key, img->digest);
    return REG_OK;
}

/* Platforms of the listed indexes, read after the listing (the index's statement is done). */
static void add_platforms(list_ctx *l)
{
    json_t *item;
    size_t i;
    json_array_foreach(l->images, i, item)
    {
        const char *type = json_string_value(json_object_get(item, "mediaType"));
        if (!manifest_is_index(type) || l->platform_reads >= CONSOLE_PLATFORM_READS)
            continue;
        l->platform_reads++;
        json_t *m =
            manifest_json(l->req, l->ix, json_string_value(json_object_get(item, "digest")));
        if (m)
            json_object_set_new(item, "platforms", platforms_of(m));
        json_decref(m);
    }
}

static const char *const sort_names[] = {
    [IMAGE_SORT_PUSHED] = "pushed",
    [IMAGE_SORT_SIZE] = "size",
    [IMAGE_SORT_PULLED] = "pulled",
    [IMAGE_SORT_DIGEST] = "digest",
};

/* The cursor "<key>.<digest>" (or "<digest>" when sorted by digest) into q. Hostile text:
 * every byte is checked. */
static int parse_cursor(image_page_query *q, digest *d, const char *text)
{
    const char *dg = text;
    if (q->sort != IMAGE_SORT_DIGEST) {
        char *end = NULL;
        long long key = strtoll(text, &end, 10);
        if (end == text || *end != '.' || key < 0)
            return REG_EINVALID;
        q->after_key = key;
        dg = end + 1;
    }
    if (digest_parse(d, dg) < 0)
        return REG_EINVALID;
    q->after_digest = d->str;
    return REG_OK;
}

/* The page the query asks for: sort, order, all, limit and cursor; REG_EINVALID when malformed. */
static int page_query(image_page_query *q, digest *d, request *req)
{
    const char *sort = request_query(req, "sort"), *order = request_query(req, "order");
    const char *all = request_query(req, "all"), *cursor = request_query(req, "cursor");
    *q = (image_page_query){
        .limit = (int)console_query_int(req, "limit", CONSOLE_IMAGES_PAGE, CONSOLE_PAGE_MAX),
        .row_tags = CONSOLE_ROW_TAGS};
    q->sort = IMAGE_SORT_PUSHED;
    for (size_t i = 0; sort && i < sizeof(sort_names) / sizeof(sort_names[0]); i++)
        if (!strcmp(sort, sort_names[i]))
            q->sort = (image_sort)i;
    if (sort && strcmp(sort, sort_names[q->sort]))
        return REG_EINVALID;
    if (order && strcmp(order, "asc") && strcmp(order, "desc"))
        return REG_EINVALID;
    q->ascending = order ? !strcmp(order, "asc") : q->sort == IMAGE_SORT_DIGEST;
    q->all = all && !strcmp(all, "1");
    return cursor ? parse_cursor(q, d, cursor) : REG_OK;
}

void console_images(request *req, index_db *ix, const console_viewer *v)
{
    const char *repo = console_repo_or_reply(req, ix, v, "repo");
    list_ctx l = {.req = req, .ix = ix};
    image_page_query q;
    digest after;
    if (!repo)
        return;
    if (page_query(&q, &after, req) < 0) {
        console_reply_error(req, 400,
                            "sort is pushed, size, pulled or digest; order asc or "
                            "desc; cursor the one a page gave");
        return;
    }
    l.sort = q.sort;
    l.page = (size_t)q.limit++;
    l.images = json_array();
    int err = index_image_page(ix, repo, &q, add_image, &l);
    if (err < 0) {
        json_decref(l.images);
        console_reply_error(req, err == REG_ENOTFOUND ? 404 : 500, "images of %s: %s", repo,
                            reg_error_last(index_errmsg(ix)));
        return;
    }
    add_platforms(&l);
    console_reply_json(req, 200,
                       json_pack("{s:s, s:o, s:s, s:s, s:o}", "repository", repo, "images",
                                 l.images, "sort", sort_names[q.sort], "order",
                                 q.ascending ? "asc" : "desc", "next",
                                 l.more ? json_string(l.next) : json_null()));
}

typedef struct tags_ctx {
    json_t *tags;
    size_t page;
    int more;
} tags_ctx;

static int add_tag(void *ctx, const tag_row *row)
{
    tags_ctx *t = ctx;
    if (page_full(t->tags, t->page, &t->more))
        return REG_OK;
    json_t *item =
        json_pack("{s:s, s:s, s:I, s:I, s:I, s:b}", "tag", row->tag, "digest", row->digest,
                  "sizeBytes", (json_int_t)row->size, "pushedAt", (json_int_t)row->pushed_at,
                  "tagCount", (json_int_t)row->tag_count, "child", row->child);
    if (!item)
        return reg_error_set(REG_ERROR, "out of memory");
    json_array_append_new(t->tags, item);
    return REG_OK;
}

void console_tags(request *req, index_db *ix, const console_viewer *v)
{
    const char *repo = console_repo_or_reply(req, ix, v, "repo");
    const char *prefix = request_query(req, "prefix"), *after = request_query(req, "after");
    tags_ctx t = {.page =
                      (size_t)console_query_int(req, "limit", CONSOLE_TAGS_PAGE, CONSOLE_PAGE_MAX)};
    if (!repo)
        return;
    if (!prefix)
        prefix = "";
    if ((*prefix && reference_check_tag(prefix) < 0) || (after && reference_check_tag(after) < 0)) {
        console_reply_error(req, 400, "prefix and after must be (the start of) tag names");
        return;
    }
    t.tags = json_array();
    int err = index_tag_search(ix, repo, prefix, after, (int)t.page + 1, add_tag, &t);
    if (err < 0) {
        json_decref(t.tags);
        console_reply_error(req, err == REG_ENOTFOUND ? 404 : 500, "tags of %s: %s", repo,
                            reg_error_last(index_errmsg(ix)));
        return;
    }
    json_t *last = json_array_get(t.tags, json_array_size(t.tags) - 1);
    console_reply_json(req, 200,
                       json_pack("{s:s, s:s, s:o, s:O}", "repository", repo, "prefix", prefix,
                                 "tags", t.tags, "next",
                                 t.more ? json_object_get(last, "tag") : json_null()));
}

static int keep_image(void *ctx, const image_info *img)
{
    json_t **out = ctx;
    *out = image_json(img);
    if (*out)
        json_object_set_new(*out, "tagCount", json_integer(img->tag_count));
    return *out ? REG_OK : reg_error_set(REG_ERROR, "out of memory");
}

/* The image named by digest or tag (its first CONSOLE_IMAGE_TAGS tags) as JSON in *out. */
static int find_image(json_t **out, index_db *ix, const char *repo, const char *dg, const char *tag)
{
    char target[DIGEST_MAX];
    int64_t id;
    int err = REG_OK;
    if (!dg && (err = index_repo_id(&id, ix, repo)) == REG_OK &&
        (err = index_tag_target(target, ix, id, tag)) == REG_OK)
        dg = target;
    return err < 0 ? err : index_image_one(ix, repo, dg, CONSOLE_IMAGE_TAGS, keep_image, out);
}

static int add_referrer(void *ctx, const referrer_row *row)
{
    json_t *r = json_pack("{s:s, s:s, s:I}", "digest", row->digest, "mediaType", row->media_type,
                          "size", (json_int_t)row->size);
    if (!r)
        return REG_ERROR;
    if (row->artifact_type)
        json_object_set_new(r, "artifactType", json_string(row->artifact_type));
    json_t *annotations = row->annotations ? json_loads(row->annotations, 0, NULL) : NULL;
    if (annotations)
        json_object_set_new(r, "annotations", annotations);
    return json_array_append_new(ctx, r) == 0 ? REG_OK : REG_ERROR;
}

/* An index's children, each with whether the repository holds it. */
static json_t *children_of(index_db *ix, const char *repo, json_t *manifest)
{
    json_t *list = json_array(), *entry;
    size_t i;
    json_array_foreach(json_object_get(manifest, "manifests"), i, entry)
    {
        const char *dg = json_string_value(json_object_get(entry, "digest"));
        manifest_row row;
        digest d;
        if (!dg || digest_parse(&d, dg) < 0)
            continue;
        json_t *child = json_pack("{s:s, s:b}", "digest", d.str, "present",
                                  index_manifest_by_digest(&row, ix, repo, &d) == REG_OK);
        json_t *platform = platform_text(entry);
        if (platform)
            json_object_set_new(child, "platform", platform);
        json_array_append_new(list, child);
    }
    return list;
}

/* The config blob's text when it is JSON of a reasonable size, else a note saying why not. */
static void add_config(request *req, index_db *ix, json_t *out, json_t *manifest)
{
    json_t *config = json_object_get(manifest, "config");
    const char *dg = json_string_value(json_object_get(config, "digest"));
    const char *type = json_string_value(json_object_get(config, "mediaType"));
    size_t len = 0;
    digest d;
    if (!dg || digest_parse(&d, dg) < 0)
        return;
    if (!type || !strstr(type, "json")) {
        json_object_set_new(out, "configNote", json_string("the config is not JSON"));
        return;
    }
    /* the descriptor's size first: a large blob is not fetched (from S3) only to be refused */
    json_int_t size = json_integer_value(json_object_get(config, "size"));
    char *text = size >= 0 && size <= CONSOLE_CONFIG_MAX
                     ? blob_text(req, ix, &d, CONSOLE_CONFIG_MAX, &len)
                     : NULL;
    json_t *parsed = text ? json_loadb(text, len, 0, NULL) : NULL;
    if (parsed)
        json_object_set_new(out, "config", parsed);
    else
        json_object_set_new(out, "configNote",
                            json_string("the config is missing, too large, or not JSON"));
    free(text);
}

typedef struct find_ctx {
    const char *digest, *tag;
    json_t *found;
} find_ctx;

void console_image(request *req, index_db *ix, const console_viewer *v)
{
    const char *repo = console_repo_or_reply(req, ix, v, "repo");
    find_ctx f = {.digest = request_query(req, "digest"), .tag = request_query(req, "tag")};
    digest d;
    if (!repo)
        return;
    if (f.digest ? digest_parse(&d, f.digest) < 0 : !f.tag || reference_check_tag(f.tag) < 0) {
        console_reply_error(req, 400, "an image is named by a digest or a tag");
        return;
    }
    int err = find_image(&f.found, ix, repo, f.digest ? d.str : NULL, f.tag);
    if (err < 0) {
        json_decref(f.found);
        console_reply_error(req, err != REG_ENOTFOUND ? 500 : 404, "no image %s in %s",
                            f.digest ? f.digest : f.tag, repo);
        return;
    }
    const char *dg = json_string_value(json_object_get(f.found, "digest"));
    json_t *manifest = manifest_json(req, ix, dg), *referrers = json_array();
    if (!manifest) {
        console_reply_error(req, 500, "the manifest of %s cannot be read", dg);
        json_decref(f.found);
        json_decref(referrers);
        return;
    }
    digest_parse(&d, dg);
    if (index_referrers(ix, repo, &d, NULL, add_referrer, referrers) < 0)
        json_object_set_new(f.found, "referrersNote", json_string("the referrers cannot be read"));
    json_object_set_new(f.found, "repository", json_string(repo));
    json_object_set_new(f.found, "referrers", referrers);
    if (manifest_is_index(json_string_value(json_object_get(f.found, "mediaType"))))
        json_object_set_new(f.found, "children", children_of(ix, repo, manifest));
    else
        add_config(req, ix, f.found, manifest);
    json_object_set_new(f.found, "manifest", manifest);
    if (console_is_admin(v) && console_ops_image(f.found, ix, repo, dg) < 0)
        json_object_set_new(f.found, "operationsNote",
                            json_string("the replication status or cache rule cannot be read"));
    json_object_set_new(
        f.found, "deletable",
        json_boolean(console_permits(v, repo, "ecr:BatchDeleteImage", ACTION_DELETE)));
    console_reply_json(req, 200, f.found);
}

static int may_delete_or_reply(request *req, const console_viewer *v, const char *repo)
{
    if (console_permits(v, repo, "ecr:BatchDeleteImage", ACTION_DELETE))
        return REG_OK;
    console_reply_error(req, 403, "you may not delete images of %s", repo);
    return REG_EDENIED;
}

void console_image_delete(request *req, index_db *ix, const console_viewer *v)
{
    const char *repo = console_repo_or_reply(req, ix, v, "repo");
    const char *text = request_query(req, "digest");
    char conflict[DIGEST_MAX] = "";
    digest d;
    if (!repo || may_delete_or_reply(req, v, repo) < 0)
        return;
    if (!text || digest_parse(&d, text) < 0) {
        console_reply_error(req, 400, "digest must be an image digest");
        return;
    }
    int err = store_delete_manifest(ix, repo, &d, conflict);
    if (err == REG_ENOTFOUND)
        console_reply_error(req, 404, "no image %s in %s", d.str, repo);
    else if (err == REG_ECONFLICT)
        console_reply_error(req, 409, "image %s is listed by the index %s: delete that first",
                            d.str, conflict);
    else if (err < 0)
        console_reply_error(req, 500, "image %s cannot be deleted: %s", d.str,
                            reg_error_last(index_errmsg(ix)));
    else
        console_reply_json(req, 200, json_pack("{s:s}", "deleted", d.str));
}

void console_tag_delete(request *req, index_db *ix, const console_viewer *v)
{
    const char *repo = console_repo_or_reply(req, ix, v, "repo");
    const char *tag = request_query(req, "tag");
    char named[DIGEST_MAX] = "";
    int image_went = 0;
    if (!repo || may_delete_or_reply(req, v, repo) < 0)
        return;
    if (!tag || reference_check_tag(tag) < 0) {
        console_reply_error(req, 400, "tag must be a tag name");
        return;
    }
    reg_error_clear();
    int err = store_remove_tag(&image_went, named, ix, repo, tag, NULL);
    if (err == REG_ENOTFOUND)
        console_reply_error(req, 404, "no tag %s in %s", tag, repo);
    else if (err < 0)
        console_reply_error(req, 500, "tag %s cannot be removed: %s", tag,
                            reg_error_last(index_errmsg(ix)));
    else
        console_reply_json(req, 200,
                           json_pack("{s:s, s:s, s:b}", "deleted", tag, "digest", named,
                                     "imageDeleted", image_went));
}
