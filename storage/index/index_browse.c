/* index_browse.c - SQL of the console's paged image list and tag search (see
 * index_browse.h). */
#include "storage/index/index_browse.h"
#include "storage/index/index_internal.h"

#include <stdint.h>
#include <string.h>

/* [sort][ascending] */
static const enum index_statement page_statements[4][2] = {
    [IMAGE_SORT_PUSHED] = {ST_IMAGE_PAGE_PUSHED_DESC, ST_IMAGE_PAGE_PUSHED_ASC},
    [IMAGE_SORT_SIZE] = {ST_IMAGE_PAGE_SIZE_DESC, ST_IMAGE_PAGE_SIZE_ASC},
    [IMAGE_SORT_PULLED] = {ST_IMAGE_PAGE_PULLED_DESC, ST_IMAGE_PAGE_PULLED_ASC},
    [IMAGE_SORT_DIGEST] = {ST_IMAGE_PAGE_DIGEST_DESC, ST_IMAGE_PAGE_DIGEST_ASC},
};

/* The position before the first row: past every key in the page's direction ("~" sorts after
 * every digest, "" before). */
static void bind_cursor(sqldb_stmt *st, const image_page_query *q)
{
    const char *edge = q->ascending ? "" : "~";
    const char *dg = q->after_digest ? q->after_digest : edge;
    if (q->sort == IMAGE_SORT_DIGEST)
        index_bind_text(st, 2, dg);
    else
        sqldb_bind_int64(st, 2,
                         q->after_digest ? q->after_key
                         : q->ascending  ? INT64_MIN
                                         : INT64_MAX);
    index_bind_text(st, 3, dg);
}

static sqldb_stmt *page_statement(index_db *ix, int64_t repo_id, const image_page_query *q)
{
    if ((unsigned)q->sort > IMAGE_SORT_DIGEST) {
        reg_error_set(REG_EINVALID, "no such image sort");
        return NULL;
    }
    sqldb_stmt *st = index_stmt(ix, page_statements[q->sort][q->ascending ? 1 : 0]);
    if (!st)
        return NULL;
    sqldb_bind_int64(st, 1, repo_id);
    bind_cursor(st, q);
    sqldb_bind_int64(st, 4, q->all ? 1 : 0);
    sqldb_bind_int64(st, 5, q->limit);
    sqldb_bind_int64(st, 6, q->row_tags);
    return st;
}

int index_image_page(index_db *ix, const char *repo, const image_page_query *q, index_image_cb cb,
                     void *ctx)
{
    int64_t id;
    int err = index_repo_id(&id, ix, repo);
    if (err < 0)
        return err;
    sqldb_stmt *st = page_statement(ix, id, q);
    if (!st)
        return REG_ERROR;
    return index_each_image(st, 1, cb, ctx);
}

typedef struct found_ctx {
    index_image_cb cb;
    void *ctx;
    int found;
} found_ctx;

static int count_found(void *ctx, const image_info *img)
{
    found_ctx *f = ctx;
    f->found++;
    return f->cb(f->ctx, img);
}

int index_image_one(index_db *ix, const char *repo, const char *digest, int row_tags,
                    index_image_cb cb, void *ctx)
{
    int64_t id;
    int err = index_repo_id(&id, ix, repo);
    if (err < 0)
        return err;
    sqldb_stmt *st = index_stmt_repo_text(ix, ST_IMAGE_ONE, id, digest);
    if (!st)
        return REG_ERROR;
    sqldb_bind_int64(st, 3, row_tags);
    found_ctx f = {cb, ctx, 0};
    err = index_each_image(st, 1, count_found, &f);
    return err < 0 ? err : f.found ? REG_OK : REG_ENOTFOUND;
}

/* Bind [prefix, prefix + "~"): "~" sorts after every character a tag may hold. The bound is
 * kept in `upper` (bound without a copy: it must outlive the statement's run). */
static int bind_prefix(sqldb_stmt *st, char upper[static 160], const char *prefix)
{
    size_t len = strlen(prefix);
    if (len + 2 > 160)
        return reg_error_set(REG_EINVALID, "the tag prefix is too long");
    memcpy(upper, prefix, len);
    memcpy(upper + len, "~", 2);
    index_bind_text(st, 2, prefix);
    index_bind_text(st, 3, upper);
    return REG_OK;
}

int index_tag_search(index_db *ix, const char *repo, const char *prefix, const char *after,
                     int limit, index_tag_row_cb cb, void *ctx)
{
    int64_t id;
    char upper[160];
    int err = index_repo_id(&id, ix, repo);
    if (err < 0)
        return err;
    sqldb_stmt *st = index_stmt(ix, ST_TAG_SEARCH);
    if (!st)
        return REG_ERROR;
    sqldb_bind_int64(st, 1, id);
    if ((err = bind_prefix(st, upper, prefix)) < 0) {
        index_done(st);
        return err;
    }
    index_bind_text(st, 4, after ? after : "");
    sqldb_bind_int64(st, 5, limit);
    while (index_next(st, &err)) {
        tag_row row = {
            .tag = sqldb_column_text(st, 0),
            .digest = sqldb_column_text(st, 1),
            .size = sqldb_column_int64(st, 2),
            .pushed_at = sqldb_column_int64(st, 3),
            .tag_count = sqldb_column_int64(st, 4),
            .child = sqldb_column_int(st, 5),
        };
        err = cb(ctx, &row);
    }
    return err;
}
