/* index_gc.c - SQL for garbage collection (see index_gc.h). */
#include "storage/index/index_gc.h"
#include "storage/index/index_internal.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <string.h>

static int read_manifests(gc_manifest *out, size_t max, size_t *count, sqldb_stmt *st,
                          int with_repo, const char *repo)
{
    int err = REG_OK;
    *count = 0;
    while (*count < max && index_next(st, &err)) {
        gc_manifest *m = &out[(*count)++];
        snprintf(m->repo, sizeof(m->repo), "%s", with_repo ? sqldb_column_text(st, 0) : repo);
        snprintf(m->digest, sizeof(m->digest), "%s", sqldb_column_text(st, with_repo ? 1 : 0));
    }
    index_done(st);
    return err;
}

int index_gc_untagged(gc_manifest *out, size_t max, size_t *count, index_db *ix, int64_t cutoff)
{
    sqldb_stmt *st = index_stmt(ix, ST_GC_UNTAGGED);
    if (!st)
        return REG_ERROR;
    sqldb_bind_int64(st, 1, cutoff);
    sqldb_bind_int64(st, 2, (int64_t)max);
    return read_manifests(out, max, count, st, 1, NULL);
}

int index_gc_dependents(gc_manifest *out, size_t max, size_t *count, index_db *ix, const char *repo,
                        const char *digest)
{
    sqldb_stmt *st = index_stmt_text2(ix, ST_GC_DEPENDENTS, repo, digest);
    if (!st)
        return REG_ERROR;
    sqldb_bind_int64(st, 3, (int64_t)max);
    return read_manifests(out, max, count, st, 0, repo);
}

int index_gc_is_kept(int *out, index_db *ix, const char *repo, const char *digest)
{
    int64_t kept = 0;
    int err = index_row_int64(&kept, index_stmt_text2(ix, ST_GC_IS_KEPT, repo, digest));
    if (err == REG_OK)
        *out = (int)kept;
    return err;
}

int index_gc_unreferenced_each(index_db *ix, int64_t cutoff, const char *after, size_t max,
                               gc_blob_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt(ix, ST_GC_UNREFERENCED);
    int err = REG_OK;
    if (!st)
        return REG_ERROR;
    sqldb_bind_int64(st, 1, cutoff);
    index_bind_text(st, 2, after ? after : "");
    sqldb_bind_int64(st, 3, (int64_t)max);
    while (index_next(st, &err)) {
        gc_blob b = {.size = sqldb_column_int64(st, 1)};
        if (digest_parse(&b.dg, sqldb_column_text(st, 0)) == REG_OK)
            err = cb(ctx, &b);
    }
    return err;
}

typedef struct blob_array {
    gc_blob *rows;
    size_t max, count;
} blob_array;

static int add_blob(void *ctx, const gc_blob *b)
{
    blob_array *a = ctx;
    if (a->count < a->max)
        a->rows[a->count++] = *b;
    return REG_OK;
}

int index_gc_unreferenced_blobs(gc_blob *out, size_t max, size_t *count, index_db *ix,
                                int64_t cutoff, const char *after)
{
    blob_array a = {.rows = out, .max = max};
    int err = index_gc_unreferenced_each(ix, cutoff, after, max, add_blob, &a);
    *count = a.count;
    return err;
}

int index_gc_delete_blob(int *held_out, index_db *ix, const char *digest)
{
    if (index_run(index_stmt_text(ix, ST_BLOB_DELETE_LINKS, digest)) < 0)
        return REG_ERROR;
    int err = index_run_changed(ix, index_stmt_text(ix, ST_INLINE_DELETE, digest));
    if (err == REG_ERROR)
        return err;
    if (held_out)
        *held_out = err == REG_OK;
    return index_run(index_stmt_text(ix, ST_BLOB_DELETE, digest));
}

int index_gc_blob_known(int *out, index_db *ix, const char *digest)
{
    int err = index_row_exists(index_stmt_text(ix, ST_GC_BLOB_KNOWN, digest));
    *out = err == REG_OK;
    return err == REG_ERROR ? REG_ERROR : REG_OK;
}

int index_gc_record(index_db *ix, const gc_totals *t)
{
    sqldb_stmt *st = index_stmt(ix, ST_GC_RECORD);
    if (!st)
        return REG_ERROR;
    sqldb_bind_int64(st, 1, t->started_at);
    sqldb_bind_int64(st, 2, t->finished_at);
    sqldb_bind_int64(st, 3, t->dry_run);
    sqldb_bind_int64(st, 4, t->manifests_deleted);
    sqldb_bind_int64(st, 5, t->blobs_deleted);
    sqldb_bind_int64(st, 6, t->bytes_freed);
    sqldb_bind_int64(st, 7, t->uploads_deleted);
    return index_run(st);
}

int index_gc_summary(int64_t *runs, int64_t *blobs, int64_t *bytes, int64_t *last_finished,
                     index_db *ix)
{
    sqldb_stmt *st = index_stmt(ix, ST_GC_SUMMARY);
    int err = index_step_row(st);
    if (err == REG_OK) {
        *runs = sqldb_column_int64(st, 0);
        *blobs = sqldb_column_int64(st, 1);
        *bytes = sqldb_column_int64(st, 2);
        *last_finished = sqldb_column_int64(st, 3);
        index_done(st);
    }
    return err;
}

int index_storage_bytes(int64_t *out, index_db *ix)
{
    return index_row_int64(out, index_stmt(ix, ST_GC_STORAGE));
}
