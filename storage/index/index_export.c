/* index_export.c - SQL for export and backup (see index_export.h). */
#include "storage/index/index_export.h"
#include "storage/index/index_internal.h"
#include "storage/base/reg_error.h"

#include <unistd.h>

int index_export_tags(index_db *ix, const char *repo, index_tag_cb cb, void *ctx)
{
    int64_t repo_id;
    int err = index_repo_id(&repo_id, ix, repo);
    sqldb_stmt *st = err == REG_OK ? index_stmt(ix, ST_EXPORT_TAGS) : NULL;
    if (err < 0 || !st)
        return err < 0 ? err : REG_ERROR;
    sqldb_bind_int64(st, 1, repo_id);
    while (index_next(st, &err))
        err = cb(ctx, sqldb_column_text(st, 0), sqldb_column_text(st, 1));
    return err;
}

int index_snapshot(index_db *ix, const char *dest_path)
{
    sqlite3 *src = sqldb_sqlite(ix->db), *dest = NULL;
    sqlite3_backup *b = NULL;
    if (!src) {
        sqldb_set_error(ix->db, "the index is in PostgreSQL: back it up with pg_dump (ocireg "
                                "backup snapshots a SQLite index only)");
        return REG_EINVALID;
    }
    int rc = sqlite3_open_v2(dest_path, &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK && !(b = sqlite3_backup_init(dest, "main", src, "main")))
        rc = SQLITE_ERROR;
    /* One step of every page copies the database inside a single read transaction. */
    for (int tries = 0; rc == SQLITE_OK && tries < 100; tries++) {
        int step = sqlite3_backup_step(b, -1);
        if (step == SQLITE_DONE)
            break;
        if (step != SQLITE_BUSY && step != SQLITE_LOCKED && step != SQLITE_OK)
            rc = step;
        else
            usleep(50000);
    }
    if (b && sqlite3_backup_finish(b) != SQLITE_OK)
        rc = SQLITE_ERROR;
    if (sqlite3_close(dest) != SQLITE_OK)
        rc = SQLITE_ERROR;
    return rc == SQLITE_OK ? REG_OK : REG_ERROR;
}

int index_blobs_page(int64_t *count_out, index_db *ix, const char *after, int64_t limit,
                     index_blob_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt_text(ix, ST_BLOBS_PAGE, after);
    int err = REG_OK;
    *count_out = 0;
    if (st)
        sqldb_bind_int64(st, 2, limit);
    while (index_next(st, &err)) {
        (*count_out)++;
        err = cb(ctx, sqldb_column_text(st, 0), (uint64_t)sqldb_column_int64(st, 1));
    }
    return err;
}

static int run(index_db *ix, enum index_statement id)
{
    return index_run(index_stmt(ix, id));
}

/* Delete broken manifests until none is left: each round may break the indexes above. */
static int drop_broken(int64_t *manifests_out, index_db *snap)
{
    int changed;
    do {
        if (run(snap, ST_SNAPSHOT_BROKEN_MANIFESTS) < 0)
            return REG_ERROR;
        changed = index_changes(snap);
        *manifests_out += changed;
    } while (changed > 0);
    return REG_OK;
}

int index_snapshot_drop_blobs(int64_t *manifests_out, index_db *snap, const char *const *digests,
                              size_t n)
{
    int err = run(snap, ST_SNAPSHOT_LOST_CREATE) < 0 ? REG_ERROR : index_begin(snap);
    *manifests_out = 0;
    for (size_t i = 0; err == REG_OK && i < n; i++)
        err = index_run(index_stmt_text(snap, ST_SNAPSHOT_LOST_ADD, digests[i]));
    if (err == REG_OK &&
        (run(snap, ST_SNAPSHOT_LOST_LINKS) < 0 || run(snap, ST_SNAPSHOT_LOST_BLOBS) < 0 ||
         drop_broken(manifests_out, snap) < 0 || run(snap, ST_SNAPSHOT_DANGLING_TAGS) < 0 ||
         run(snap, ST_SNAPSHOT_DANGLING_REFS) < 0))
        err = REG_ERROR;
    return index_end(snap, err);
}

int index_snapshot_seal(index_db *snap)
{
    return index_row_exists(index_stmt(snap, ST_SNAPSHOT_SEAL)) == REG_OK ? REG_OK : REG_ERROR;
}
