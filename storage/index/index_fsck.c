/* index_fsck.c - SQL for fsck (see index_fsck.h). */
#include "storage/index/index_fsck.h"
#include "storage/index/index_internal.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <string.h>

enum fsck_stmt {
    ST_INTEGRITY = INDEX_GC_SLOTS,
    ST_BLOBS,
    ST_DANGLING,
    ST_DROP_TAG,
    ST_DROP_LINK,
    ST_BLOB_USED,
    ST_DROP_LINKS,
    ST_DROP_BLOB,
    ST_FSCK_END
};
_Static_assert(ST_FSCK_END <= INDEX_FSCK_SLOTS, "too many statements");

static const char *const sql[] = {
    [ST_BLOBS - INDEX_GC_SLOTS] = "SELECT digest, size FROM blobs ORDER BY digest",
    [ST_DANGLING - INDEX_GC_SLOTS] =
        "SELECT 'tag', r.name, t.name, t.digest FROM tags t JOIN repositories r ON r.id = t.repo_id "
        " WHERE NOT EXISTS(SELECT 1 FROM manifests m WHERE m.repo_id = t.repo_id "
        "                  AND m.digest = t.digest) "
        "UNION ALL SELECT 'manifest-blob', r.name, m.digest, '' FROM manifests m "
        " JOIN repositories r ON r.id = m.repo_id "
        " WHERE NOT EXISTS(SELECT 1 FROM blobs b WHERE b.digest = m.digest) "
        "UNION ALL SELECT 'reference', r.name, x.manifest, x.child FROM manifest_refs x "
        " JOIN repositories r ON r.id = x.repo_id WHERE x.kind IN ('config', 'layer') "
        " AND NOT EXISTS(SELECT 1 FROM blobs b WHERE b.digest = x.child) "
        "UNION ALL SELECT 'child', r.name, x.manifest, x.child FROM manifest_refs x "
        " JOIN repositories r ON r.id = x.repo_id WHERE x.kind = 'manifest' "
        " AND NOT EXISTS(SELECT 1 FROM manifests m WHERE m.repo_id = x.repo_id "
        "                AND m.digest = x.child) "
        "UNION ALL SELECT 'link', r.name, rb.digest, '' FROM repo_blobs rb "
        " JOIN repositories r ON r.id = rb.repo_id "
        " WHERE NOT EXISTS(SELECT 1 FROM blobs b WHERE b.digest = rb.digest)",
    [ST_DROP_TAG - INDEX_GC_SLOTS] =
        "DELETE FROM tags WHERE repo_id = (SELECT id FROM repositories WHERE name = ?1) "
        "AND name = ?2",
    [ST_DROP_LINK - INDEX_GC_SLOTS] =
        "DELETE FROM repo_blobs WHERE repo_id = (SELECT id FROM repositories WHERE name = ?1) "
        "AND digest = ?2",
    [ST_BLOB_USED - INDEX_GC_SLOTS] =
        "SELECT EXISTS(SELECT 1 FROM manifests WHERE digest = ?1) "
        "OR EXISTS(SELECT 1 FROM manifest_refs WHERE child = ?1 AND kind IN ('config', 'layer'))",
    [ST_DROP_LINKS - INDEX_GC_SLOTS] = "DELETE FROM repo_blobs WHERE digest = ?1",
    [ST_DROP_BLOB - INDEX_GC_SLOTS] = "DELETE FROM blobs WHERE digest = ?1",
};

static sqldb_stmt *stmt(index_db *ix, enum fsck_stmt id)
{
    return index_stmt(ix, id, sql[id - INDEX_GC_SLOTS]);
}

/* PostgreSQL has no cheap counterpart of quick_check (amcheck is an extension for
 * superusers) and checks its own pages; what is ours to check there is the schema. */
int index_fsck_integrity(char *msg, size_t n, index_db *ix)
{
    sqldb_stmt *st =
        index_stmt_pg(ix, ST_INTEGRITY, "PRAGMA quick_check", "SELECT version FROM schema_version");
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
    sqldb_stmt *st = stmt(ix, ST_BLOBS);
    int err;
    while ((err = index_step_row(st)) == REG_OK) {
        if ((err = cb(ctx, sqldb_column_text(st, 0), sqldb_column_int64(st, 1))) < 0) {
            index_done(st);
            return err;
        }
    }
    return err == REG_ENOTFOUND ? REG_OK : err;
}

int index_fsck_dangling(index_db *ix, index_problem_cb cb, void *ctx)
{
    sqldb_stmt *st = stmt(ix, ST_DANGLING);
    int err;
    while ((err = index_step_row(st)) == REG_OK) {
        err = cb(ctx, sqldb_column_text(st, 0), sqldb_column_text(st, 1), sqldb_column_text(st, 2),
                 sqldb_column_text(st, 3));
        if (err < 0) {
            index_done(st);
            return err;
        }
    }
    return err == REG_ENOTFOUND ? REG_OK : err;
}

static int run2(index_db *ix, enum fsck_stmt id, const char *a, const char *b)
{
    sqldb_stmt *st = stmt(ix, id);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, a);
    if (b)
        index_bind_text(st, 2, b);
    return index_run(st);
}

int index_fsck_drop_tag(index_db *ix, const char *repo, const char *tag)
{
    return run2(ix, ST_DROP_TAG, repo, tag);
}

int index_fsck_drop_link(index_db *ix, const char *repo, const char *digest)
{
    return run2(ix, ST_DROP_LINK, repo, digest);
}

int index_fsck_drop_blob(index_db *ix, const char *digest)
{
    sqldb_stmt *st = stmt(ix, ST_BLOB_USED);
    if (st)
        index_bind_text(st, 1, digest);
    int err = index_step_row(st);
    if (err < 0)
        return err;
    int used = sqldb_column_int(st, 0);
    index_done(st);
    if (used)
        return REG_ECONFLICT;
    if (run2(ix, ST_DROP_LINKS, digest, NULL) < 0)
        return REG_ERROR;
    return run2(ix, ST_DROP_BLOB, digest, NULL);
}
