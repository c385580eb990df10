/* index_export.c - SQL for export and backup (see index_export.h). */
#include "storage/index/index_export.h"
#include "storage/index/index_internal.h"
#include "storage/base/reg_error.h"

#include <unistd.h>

enum export_stmt {
    ST_TAGS = INDEX_EXPORT_SLOTS,
    ST_BLOBS_PAGE,
    ST_LOST_CREATE,
    ST_LOST_ADD,
    ST_LOST_LINKS,
    ST_LOST_BLOBS,
    ST_BROKEN_MANIFESTS,
    ST_DANGLING_TAGS,
    ST_DANGLING_REFS,
    ST_SEAL,
    ST_EXPORT_END
};
_Static_assert(ST_EXPORT_END <= INDEX_BACKUP_SLOTS, "too many statements");

#define LOST "(SELECT digest FROM lost_blobs)"

static const char *const sql[] = {
    [ST_TAGS - INDEX_EXPORT_SLOTS] =
        "SELECT name, digest FROM tags WHERE repo_id = ?1 ORDER BY name",
    [ST_BLOBS_PAGE - INDEX_EXPORT_SLOTS] =
        "SELECT digest, size FROM blobs WHERE digest > ?1 ORDER BY digest LIMIT ?2",
    [ST_LOST_CREATE - INDEX_EXPORT_SLOTS] =
        "CREATE TEMP TABLE IF NOT EXISTS lost_blobs(digest TEXT PRIMARY KEY) WITHOUT ROWID",
    [ST_LOST_ADD - INDEX_EXPORT_SLOTS] =
        "INSERT INTO lost_blobs(digest) VALUES(?1) ON CONFLICT DO NOTHING",
    [ST_LOST_LINKS - INDEX_EXPORT_SLOTS] = "DELETE FROM repo_blobs WHERE digest IN " LOST,
    [ST_LOST_BLOBS - INDEX_EXPORT_SLOTS] = "DELETE FROM blobs WHERE digest IN " LOST,
    /* A manifest is broken when its own bytes, its config or a layer are lost, or when it is
     * an index and a child of it is no longer in its repository. */
    [ST_BROKEN_MANIFESTS - INDEX_EXPORT_SLOTS] =
        "DELETE FROM manifests WHERE digest IN " LOST " OR EXISTS(SELECT 1 FROM manifest_refs r "
        "WHERE r.repo_id = manifests.repo_id AND r.manifest = manifests.digest AND ("
        "  (r.kind IN ('config', 'layer') AND r.child IN " LOST ") OR "
        "  (r.kind = 'manifest' AND NOT EXISTS(SELECT 1 FROM manifests c "
        "     WHERE c.repo_id = r.repo_id AND c.digest = r.child))))",
    [ST_DANGLING_TAGS - INDEX_EXPORT_SLOTS] =
        "DELETE FROM tags WHERE NOT EXISTS(SELECT 1 FROM manifests m "
        "WHERE m.repo_id = tags.repo_id AND m.digest = tags.digest)",
    [ST_DANGLING_REFS - INDEX_EXPORT_SLOTS] =
        "DELETE FROM manifest_refs WHERE NOT EXISTS(SELECT 1 FROM manifests m "
        "WHERE m.repo_id = manifest_refs.repo_id AND m.digest = manifest_refs.manifest)",
    [ST_SEAL - INDEX_EXPORT_SLOTS] = "PRAGMA journal_mode = DELETE",
};

static sqldb_stmt *stmt(index_db *ix, enum export_stmt id)
{
    return index_stmt(ix, id, sql[id - INDEX_EXPORT_SLOTS]);
}

int index_export_tags(index_db *ix, const char *repo, index_tag_cb cb, void *ctx)
{
    int64_t repo_id;
    int err = index_repo_id(&repo_id, ix, repo);
    sqldb_stmt *st = err == REG_OK ? stmt(ix, ST_TAGS) : NULL;
    if (err < 0 || !st)
        return err < 0 ? err : REG_ERROR;
    sqldb_bind_int64(st, 1, repo_id);
    while ((err = index_step_row(st)) == REG_OK) {
        if ((err = cb(ctx, sqldb_column_text(st, 0), sqldb_column_text(st, 1))) < 0) {
            index_done(st);
            return err;
        }
    }
    return err == REG_ENOTFOUND ? REG_OK : err;
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
    sqldb_stmt *st = stmt(ix, ST_BLOBS_PAGE);
    int err;
    *count_out = 0;
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, after);
    sqldb_bind_int64(st, 2, limit);
    while ((err = index_step_row(st)) == REG_OK) {
        (*count_out)++;
        if ((err = cb(ctx, sqldb_column_text(st, 0), (uint64_t)sqldb_column_int64(st, 1))) < 0) {
            index_done(st);
            return err;
        }
    }
    return err == REG_ENOTFOUND ? REG_OK : err;
}

static int run(index_db *ix, enum export_stmt id)
{
    return index_run(stmt(ix, id));
}

/* Delete broken manifests until none is left: each round may break the indexes above. */
static int drop_broken(int64_t *manifests_out, index_db *snap)
{
    int changed;
    do {
        if (run(snap, ST_BROKEN_MANIFESTS) < 0)
            return REG_ERROR;
        changed = index_changes(snap);
        *manifests_out += changed;
    } while (changed > 0);
    return REG_OK;
}

int index_snapshot_drop_blobs(int64_t *manifests_out, index_db *snap, const char *const *digests,
                              size_t n)
{
    int err = run(snap, ST_LOST_CREATE) < 0 ? REG_ERROR : index_begin(snap);
    *manifests_out = 0;
    for (size_t i = 0; err == REG_OK && i < n; i++) {
        sqldb_stmt *st = stmt(snap, ST_LOST_ADD);
        if (!st)
            err = REG_ERROR;
        else {
            index_bind_text(st, 1, digests[i]);
            err = index_run(st);
        }
    }
    if (err == REG_OK && (run(snap, ST_LOST_LINKS) < 0 || run(snap, ST_LOST_BLOBS) < 0 ||
                          drop_broken(manifests_out, snap) < 0 || run(snap, ST_DANGLING_TAGS) < 0 ||
                          run(snap, ST_DANGLING_REFS) < 0))
        err = REG_ERROR;
    if (err == REG_OK)
        err = index_commit(snap);
    if (err < 0)
        index_rollback(snap);
    return err;
}

int index_snapshot_seal(index_db *snap)
{
    sqldb_stmt *st = stmt(snap, ST_SEAL);
    int err = index_step_row(st);
    if (err == REG_OK)
        index_done(st);
    return err == REG_OK ? REG_OK : REG_ERROR;
}
