/* index_fsck.c - SQL for fsck (see index_fsck.h). */
#include "storage/index/index_fsck.h"
#include "storage/index/index_gc.h"
#include "storage/index/index_internal.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <string.h>

/* PostgreSQL has no cheap counterpart of quick_check (amcheck is an extension for
 * superusers) and checks its own pages; what is ours to check there is the schema. */
int index_fsck_integrity(char *msg, size_t n, index_db *ix)
{
    sqldb_stmt *st = index_stmt(ix, ST_FSCK_INTEGRITY);
    int err = index_step_row(st);
    if (err < 0) {
        snprintf(msg, n, "%s", index_errmsg(ix));
        return REG_ERROR;
    }
    if (sqldb_is_pg(ix->db)) {
        int64_t version = sqldb_column_int64(st, 0);
        index_done(st);
        if (version < index_schema_version) {
            snprintf(msg, n, "the PostgreSQL schema is at version %lld, this ocireg needs %d",
                     (long long)version, index_schema_version);
            return REG_ERROR;
        }
        snprintf(msg, n, "ok");
        return REG_OK;
    }
    const char *text = sqldb_column_text(st, 0);
    snprintf(msg, n, "%s", text ? text : "");
    index_done(st);
    return strcmp(msg, "ok") == 0 ? REG_OK : REG_ERROR;
}

int index_fsck_blobs(index_db *ix, index_blob_row_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt(ix, ST_FSCK_BLOBS);
    int err = REG_OK;
    while (index_next(st, &err))
        err = cb(ctx, sqldb_column_text(st, 0), sqldb_column_int64(st, 1));
    return err;
}

int index_fsck_dangling(index_db *ix, index_problem_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt(ix, ST_FSCK_DANGLING);
    int err = REG_OK;
    while (index_next(st, &err))
        err = cb(ctx, sqldb_column_text(st, 0), sqldb_column_text(st, 1), sqldb_column_text(st, 2),
                 sqldb_column_text(st, 3));
    return err;
}

int index_fsck_drop_tag(index_db *ix, const char *repo, const char *tag)
{
    return index_run(index_stmt_text2(ix, ST_TAG_DELETE, repo, tag));
}

int index_fsck_drop_link(index_db *ix, const char *repo, const char *digest)
{
    return index_run(index_stmt_text2(ix, ST_BLOB_UNLINK, repo, digest));
}

int index_fsck_drop_blob(index_db *ix, const char *digest)
{
    int64_t used = 0;
    int err = index_row_int64(&used, index_stmt_text(ix, ST_FSCK_BLOB_USED, digest));
    if (err < 0)
        return err;
    if (used)
        return REG_ECONFLICT;
    return index_gc_delete_blob(NULL, ix, digest);
}
