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
    if (index_run(st) < 0 || !(st = index_stmt(ix, ST_SESSION_PUT)))
        return REG_ERROR;
    index_bind_text(st, 1, id_hex);
    index_bind_text(st, 2, user);
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
    if ((err = session_put(ix, id_hex, user, generation, now, expires_at)) == REG_OK &&
        (err = index_commit(ix)) == REG_OK)
        return REG_OK;
    index_rollback(ix);
    return err;
}

int index_session_get(char *user_out, int64_t *expires_out, index_db *ix, const char *id_hex,
                      int64_t now)
{
    sqldb_stmt *st = index_stmt(ix, ST_SESSION_GET);
    if (st) {
        index_bind_text(st, 1, id_hex);
        sqldb_bind_int64(st, 2, now);
    }
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
    sqldb_stmt *st = index_stmt(ix, ST_SESSION_DELETE);
    if (st)
        index_bind_text(st, 1, id_hex);
    if ((err = st ? index_run(st) : REG_ERROR) == REG_OK && (err = index_commit(ix)) == REG_OK)
        return REG_OK;
    index_rollback(ix);
    return err;
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
    sqldb_stmt *st = index_stmt(ix, ST_REPO_NAMES_RANGE);
    int rc, err = REG_OK;
    int64_t count = 0;
    *more_out = 0;
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, after ? after : "");
    index_bind_text(st, 2, prefix);
    index_bind_text(st, 3, upper);
    sqldb_bind_int64(st, 4, limit + 1);
    while ((rc = sqldb_step(st)) == SQLDB_ROW) {
        if (count == limit) {
            *more_out = 1;
            break;
        }
        if ((err = cb(ctx, sqldb_column_text(st, 0))) < 0)
            break;
        count++;
    }
    if (rc == SQLDB_ERROR)
        err = REG_ERROR;
    index_done(st);
    return err;
}

int index_repo_summary(repo_summary *out, index_db *ix, const char *name)
{
    sqldb_stmt *st = index_stmt(ix, ST_REPO_SUMMARY);
    memset(out, 0, sizeof(*out));
    if (st)
        index_bind_text(st, 1, name);
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
    int rc, err = REG_OK;
    if (!st)
        return REG_ERROR;
    sqldb_bind_int64(st, 1, limit);
    while ((rc = sqldb_step(st)) == SQLDB_ROW) {
        gc_run_row run = {
            .started_at = sqldb_column_int64(st, 0),
            .finished_at = sqldb_column_int64(st, 1),
            .dry_run = sqldb_column_int(st, 2),
            .manifests_deleted = sqldb_column_int64(st, 3),
            .blobs_deleted = sqldb_column_int64(st, 4),
            .bytes_freed = sqldb_column_int64(st, 5),
            .uploads_deleted = sqldb_column_int64(st, 6),
        };
        if ((err = cb(ctx, &run)) < 0)
            break;
    }
    if (rc == SQLDB_ERROR)
        err = REG_ERROR;
    index_done(st);
    return err;
}
