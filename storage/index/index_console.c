/* index_console.c - SQL of the web console: sessions, repositories by prefix, gc runs (see
 * index_console.h). */
#include "storage/index/index_console.h"
#include "storage/index/index_internal.h"

#include <stdio.h>
#include <string.h>

static int session_put(index_db *ix, const char *id_hex, const char *user, int64_t generation,
                       int64_t now, int64_t expires_at)
{
    sqldb_stmt *st = index_stmt(ix, ST_SESSION_EXPIRE);
    if (!st)
        return REG_ERROR;
    sqldb_bind_int64(st, 1, now);
    if (index_run(st) < 0 || !(st = index_stmt_text2(ix, ST_SESSION_PUT, id_hex, user)))
        return REG_ERROR;
    sqldb_bind_int64(st, 3, generation);
    sqldb_bind_int64(st, 4, now);
    sqldb_bind_int64(st, 5, expires_at);
    return index_run(st);
}

int index_session_put(index_db *ix, const char *id_hex, const char *user, int64_t generation,
                      int64_t now, int64_t expires_at)
{
    int err = index_begin(ix);
    if (err < 0)
        return err;
    return index_end(ix, session_put(ix, id_hex, user, generation, now, expires_at));
}

int index_session_get(char *user_out, int64_t *expires_out, index_db *ix, const char *id_hex,
                      int64_t now)
{
    sqldb_stmt *st = index_stmt_text(ix, ST_SESSION_GET, id_hex);
    if (st)
        sqldb_bind_int64(st, 2, now);
    int err = index_step_row(st);
    if (err < 0)
        return err;
    const char *user = sqldb_column_text(st, 0);
    snprintf(user_out, USER_NAME_MAX + 1, "%s", user ? user : "");
    *expires_out = sqldb_column_int64(st, 1);
    index_done(st);
    return REG_OK;
}

int index_session_delete(index_db *ix, const char *id_hex)
{
    int err = index_begin(ix);
    if (err < 0)
        return err;
    return index_end(ix, index_run(index_stmt_text(ix, ST_SESSION_DELETE, id_hex)));
}

int index_repo_names_prefix(int *more_out, index_db *ix, const char *prefix, const char *after,
                            int64_t limit, index_name_cb cb, void *ctx)
{
    /* Names are ASCII: the prefix's range ends where its last byte is one higher, and the
     * empty prefix's range is everything below DEL. */
    char upper[512];
    size_t n = strlen(prefix);
    if (n >= sizeof(upper))
        return reg_error_set(REG_EINVALID, "the name prefix is too long");
    snprintf(upper, sizeof(upper), "%s", n ? prefix : "\x7f");
    if (n)
        upper[n - 1]++;
    sqldb_stmt *st = index_stmt_text2(ix, ST_REPO_NAMES_RANGE, after ? after : "", prefix);
    *more_out = 0;
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 3, upper);
    sqldb_bind_int64(st, 4, limit + 1);
    return index_page_names(more_out, st, limit, cb, ctx);
}

int index_repo_summary(repo_summary *out, index_db *ix, const char *name)
{
    sqldb_stmt *st = index_stmt_text(ix, ST_REPO_SUMMARY, name);
    memset(out, 0, sizeof(*out));
    int err = index_step_row(st);
    if (err < 0)
        return err;
    const char *mutability = sqldb_column_text(st, 0);
    snprintf(out->mutability, sizeof(out->mutability), "%s", mutability ? mutability : "");
    out->created_at = sqldb_column_int64(st, 1);
    out->has_policy = sqldb_column_int(st, 2);
    out->image_count = sqldb_column_int64(st, 3);
    out->tag_count = sqldb_column_int64(st, 4);
    out->size_bytes = sqldb_column_int64(st, 5);
    out->last_pushed_at = sqldb_column_int64(st, 6);
    index_done(st);
    return REG_OK;
}

int index_gc_runs(index_db *ix, int64_t limit, index_gc_run_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt(ix, ST_GC_RUNS_RECENT);
    int err = REG_OK;
    if (st)
        sqldb_bind_int64(st, 1, limit);
    while (index_next(st, &err)) {
        gc_totals run = {
            .started_at = sqldb_column_int64(st, 0),
            .finished_at = sqldb_column_int64(st, 1),
            .dry_run = sqldb_column_int(st, 2),
            .manifests_deleted = sqldb_column_int64(st, 3),
            .blobs_deleted = sqldb_column_int64(st, 4),
            .bytes_freed = sqldb_column_int64(st, 5),
            .uploads_deleted = sqldb_column_int64(st, 6),
        };
        err = cb(ctx, &run);
    }
    return err;
}
