/* index.c - SQLite implementation of the metadata index (see index.h). Schema changes are
 * numbered migrations applied in order, recorded in PRAGMA user_version. */
#include "storage/index.h"
#include "storage/index_internal.h"
#include "storage/reg_error.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const migrations[] = {
    /* 1: the starting schema */
    "CREATE TABLE repositories("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL,"
    "  tag_mutability TEXT NOT NULL DEFAULT 'MUTABLE',"
    "  scan_on_push INTEGER NOT NULL DEFAULT 0,"
    "  lifecycle_policy TEXT);"
    "CREATE TABLE blobs("
    "  digest TEXT PRIMARY KEY,"
    "  size INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE repo_blobs("
    "  repo_id INTEGER NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  linked_at INTEGER NOT NULL,"
    "  PRIMARY KEY(repo_id, digest)) WITHOUT ROWID;"
    "CREATE INDEX repo_blobs_digest ON repo_blobs(digest);"
    "CREATE TABLE manifests("
    "  repo_id INTEGER NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  media_type TEXT NOT NULL,"
    "  artifact_type TEXT,"
    "  subject TEXT,"
    "  annotations TEXT,"
    "  size INTEGER NOT NULL,"
    "  pushed_at INTEGER NOT NULL,"
    "  last_pulled_at INTEGER,"
    "  PRIMARY KEY(repo_id, digest)) WITHOUT ROWID;"
    "CREATE INDEX manifests_subject ON manifests(repo_id, subject) WHERE subject IS NOT NULL;"
    "CREATE TABLE manifest_refs("
    "  repo_id INTEGER NOT NULL,"
    "  manifest TEXT NOT NULL,"
    "  child TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  PRIMARY KEY(repo_id, manifest, child)) WITHOUT ROWID;"
    "CREATE INDEX manifest_refs_child ON manifest_refs(repo_id, child);"
    "CREATE TABLE tags("
    "  repo_id INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY(repo_id, name)) WITHOUT ROWID;"
    "CREATE INDEX tags_digest ON tags(repo_id, digest);",
    /* 2: users and their grants */
    "CREATE TABLE users("
    "  name TEXT PRIMARY KEY,"
    "  salt BLOB NOT NULL,"
    "  hash BLOB NOT NULL,"
    "  iterations INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE grants("
    "  principal TEXT NOT NULL,"
    "  pattern TEXT NOT NULL,"
    "  actions INTEGER NOT NULL,"
    "  PRIMARY KEY(principal, pattern)) WITHOUT ROWID;",
    /* 3: image sizes for metadata, and a record of garbage collections */
    "ALTER TABLE manifests ADD COLUMN image_size INTEGER NOT NULL DEFAULT 0;"
    "UPDATE manifests SET image_size = size;"
    "CREATE TABLE gc_runs("
    "  id INTEGER PRIMARY KEY,"
    "  started_at INTEGER NOT NULL,"
    "  finished_at INTEGER NOT NULL,"
    "  dry_run INTEGER NOT NULL,"
    "  manifests_deleted INTEGER NOT NULL,"
    "  blobs_deleted INTEGER NOT NULL,"
    "  bytes_freed INTEGER NOT NULL,"
    "  uploads_deleted INTEGER NOT NULL);"
    "CREATE INDEX manifests_digest ON manifests(digest);"
    "CREATE INDEX manifest_refs_child_any ON manifest_refs(child);",
    /* 4: access keys for the ECR API (secrets encrypted at rest), repository resource tags */
    "CREATE TABLE access_keys("
    "  id TEXT PRIMARY KEY,"
    "  user TEXT NOT NULL,"
    "  secret BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX access_keys_user ON access_keys(user);"
    "CREATE TABLE repo_tags("
    "  repo_id INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY(repo_id, key)) WITHOUT ROWID;",
};

#define REPO_ID_OF(n) "(SELECT id FROM repositories WHERE name = ?" #n ")"

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_REPO_ID,
    ST_REPO_INSERT,
    ST_BLOB_IN_REPO,
    ST_BLOB_IN_REPO_ID,
    ST_BLOB_INSERT,
    ST_BLOB_LINK,
    ST_BLOB_REFERENCED,
    ST_BLOB_UNLINK,
    ST_MANIFEST_BY_DIGEST,
    ST_MANIFEST_BY_TAG,
    ST_MANIFEST_IN_REPO_ID,
    ST_MANIFEST_INSERT,
    ST_REF_INSERT,
    ST_TAG_SET,
    ST_MANIFEST_PARENT,
    ST_MANIFEST_DELETE,
    ST_MANIFEST_TAGS_DELETE,
    ST_MANIFEST_REFS_DELETE,
    ST_TAG_DELETE,
    ST_TAGS_PAGE,
    ST_CATALOG_PAGE,
    ST_REFERRERS,
    ST_COUNT
};
_Static_assert(ST_COUNT <= INDEX_CORE_SLOTS, "too many core statements");

static const char *const sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_REPO_ID] = "SELECT id FROM repositories WHERE name = ?1",
    [ST_REPO_INSERT] = "INSERT INTO repositories(name, created_at) VALUES(?1, ?2) "
                       "ON CONFLICT(name) DO NOTHING",
    [ST_BLOB_IN_REPO] = "SELECT b.size FROM repo_blobs rb JOIN blobs b ON b.digest = rb.digest "
                        "WHERE rb.repo_id = " REPO_ID_OF(1) " AND rb.digest = ?2",
    [ST_BLOB_IN_REPO_ID] = "SELECT b.size FROM repo_blobs rb JOIN blobs b ON b.digest = rb.digest "
                           "WHERE rb.repo_id = ?1 AND rb.digest = ?2",
    [ST_BLOB_INSERT] = "INSERT INTO blobs(digest, size, created_at) VALUES(?1, ?2, ?3) "
                       "ON CONFLICT(digest) DO NOTHING",
    /* linked_at is refreshed on every link: gc's grace period counts from the last push. */
    [ST_BLOB_LINK] = "INSERT INTO repo_blobs(repo_id, digest, linked_at) VALUES(?1, ?2, ?3) "
                     "ON CONFLICT(repo_id, digest) DO UPDATE SET linked_at = excluded.linked_at",
    [ST_BLOB_REFERENCED] = "SELECT manifest FROM manifest_refs WHERE repo_id = " REPO_ID_OF(1)
                           " AND child = ?2 AND kind IN ('config', 'layer') LIMIT 1",
    [ST_BLOB_UNLINK] = "DELETE FROM repo_blobs WHERE repo_id = " REPO_ID_OF(1) " AND digest = ?2",
    [ST_MANIFEST_BY_DIGEST] = "SELECT digest, media_type, size FROM manifests "
                              "WHERE repo_id = " REPO_ID_OF(1) " AND digest = ?2",
    [ST_MANIFEST_BY_TAG] = "SELECT m.digest, m.media_type, m.size FROM tags t JOIN manifests m "
                           "ON m.repo_id = t.repo_id AND m.digest = t.digest "
                           "WHERE t.repo_id = " REPO_ID_OF(1) " AND t.name = ?2",
    [ST_MANIFEST_IN_REPO_ID] = "SELECT 1 FROM manifests WHERE repo_id = ?1 AND digest = ?2",
    [ST_MANIFEST_INSERT] = "INSERT INTO manifests(repo_id, digest, media_type, artifact_type, "
                           "subject, annotations, size, pushed_at, image_size) "
                           "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                           "ON CONFLICT(repo_id, digest) DO NOTHING",
    [ST_REF_INSERT] = "INSERT INTO manifest_refs(repo_id, manifest, child, kind) "
                      "VALUES(?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
    [ST_TAG_SET] = "INSERT INTO tags(repo_id, name, digest, updated_at) VALUES(?1, ?2, ?3, ?4) "
                   "ON CONFLICT(repo_id, name) DO UPDATE SET digest = excluded.digest, "
                   "updated_at = excluded.updated_at",
    [ST_MANIFEST_PARENT] = "SELECT manifest FROM manifest_refs "
                           "WHERE repo_id = ?1 AND child = ?2 AND kind = 'manifest' LIMIT 1",
    [ST_MANIFEST_DELETE] = "DELETE FROM manifests WHERE repo_id = ?1 AND digest = ?2",
    [ST_MANIFEST_TAGS_DELETE] = "DELETE FROM tags WHERE repo_id = ?1 AND digest = ?2",
    [ST_MANIFEST_REFS_DELETE] = "DELETE FROM manifest_refs WHERE repo_id = ?1 AND manifest = ?2",
    [ST_TAG_DELETE] = "DELETE FROM tags WHERE repo_id = " REPO_ID_OF(1) " AND name = ?2",
    [ST_TAGS_PAGE] = "SELECT name FROM tags WHERE repo_id = ?1 AND name > ?2 "
                     "ORDER BY name LIMIT ?3",
    [ST_CATALOG_PAGE] = "SELECT name FROM repositories WHERE name > ?1 ORDER BY name LIMIT ?2",
    [ST_REFERRERS] = "SELECT digest, media_type, size, artifact_type, annotations FROM manifests "
                     "WHERE repo_id = " REPO_ID_OF(1) " AND subject = ?2 "
                     "AND (?3 IS NULL OR artifact_type = ?3) ORDER BY digest",
};


static int exec(index_db *ix, const char *text)
{
    return sqlite3_exec(ix->db, text, NULL, NULL, NULL) == SQLITE_OK ? REG_OK : REG_ERROR;
}

static int migrate(index_db *ix)
{
    sqlite3_stmt *st = NULL;
    int version = 0, err = REG_ERROR;
    int count = (int)(sizeof(migrations) / sizeof(migrations[0]));
    if (exec(ix, "BEGIN IMMEDIATE") < 0)
        return REG_ERROR;
    if (sqlite3_prepare_v2(ix->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        goto done;
    version = sqlite3_column_int(st, 0);
    for (; version < count; version++) {
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version + 1);
        if (exec(ix, migrations[version]) < 0 || exec(ix, pragma) < 0)
            goto done;
    }
    err = REG_OK;
done:
    sqlite3_finalize(st);
    if (exec(ix, err == REG_OK ? "COMMIT" : "ROLLBACK") < 0)
        err = REG_ERROR;
    return err;
}

int index_open(index_db **out, const char *path)
{
    index_db *ix = calloc(1, sizeof(*ix));
    if (!ix)
        return REG_ERROR;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &ix->db, flags, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(ix->db, 10000);
    if (exec(ix, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
                 "PRAGMA foreign_keys = OFF; PRAGMA cache_size = -2000") < 0 ||
        migrate(ix) < 0)
        goto fail;
    *out = ix;
    return REG_OK;
fail:
    index_close(ix);
    return REG_ERROR;
}

void index_close(index_db *ix)
{
    if (!ix)
        return;
    for (int i = 0; i < INDEX_SLOTS; i++)
        sqlite3_finalize(ix->st[i]);
    sqlite3_close(ix->db);
    free(ix);
}

const char *index_errmsg(index_db *ix)
{
    return ix && ix->db ? sqlite3_errmsg(ix->db) : "index not open";
}

sqlite3_stmt *index_stmt(index_db *ix, int slot, const char *text)
{
    sqlite3_stmt *st = ix->st[slot];
    if (!st) {
        if (sqlite3_prepare_v3(ix->db, text, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
            SQLITE_OK)
            return NULL;
        ix->st[slot] = st;
    }
    return st;
}

static sqlite3_stmt *stmt(index_db *ix, enum stmt_id id)
{
    return index_stmt(ix, id, sql[id]);
}

void index_done(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

void index_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

int index_run(sqlite3_stmt *st)
{
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    index_done(st);
    return rc == SQLITE_DONE ? REG_OK : REG_ERROR;
}

int index_step_row(sqlite3_stmt *st)
{
    if (!st)
        return REG_ERROR;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return REG_OK;
    index_done(st);
    return rc == SQLITE_DONE ? REG_ENOTFOUND : REG_ERROR;
}

int index_changes(index_db *ix)
{
    return sqlite3_changes(ix->db);
}

/* Writers of this process queue on a mutex before asking SQLite for its write lock: SQLite's
 * busy handler polls with sleeps of up to 100 ms, a mutex hands the lock over at once. Other
 * processes (ocireg gc, backup) still meet the busy handler. */
static pthread_mutex_t writer_lock = PTHREAD_MUTEX_INITIALIZER;

static void release_writer(index_db *ix)
{
    if (ix->holds_writer) {
        ix->holds_writer = 0;
        pthread_mutex_unlock(&writer_lock);
    }
}

int index_begin(index_db *ix)
{
    pthread_mutex_lock(&writer_lock);
    ix->holds_writer = 1;
    int err = index_run(stmt(ix, ST_BEGIN));
    if (err < 0)
        release_writer(ix);
    return err;
}

int index_commit(index_db *ix)
{
    int err = index_run(stmt(ix, ST_COMMIT));
    if (err == REG_OK)
        release_writer(ix);
    return err;
}

void index_rollback(index_db *ix)
{
    if (!sqlite3_get_autocommit(ix->db))
        index_run(stmt(ix, ST_ROLLBACK));
    release_writer(ix);
}

int index_repo_id(int64_t *out, index_db *ix, const char *repo)
{
    sqlite3_stmt *st = stmt(ix, ST_REPO_ID);
    if (st)
        index_bind_text(st, 1, repo);
    int err = index_step_row(st);
    if (err == REG_OK) {
        *out = sqlite3_column_int64(st, 0);
        index_done(st);
    }
    return err;
}

int index_repo_ensure(int64_t *out, index_db *ix, const char *repo)
{
    sqlite3_stmt *st = stmt(ix, ST_REPO_INSERT);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, repo);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
    if (index_run(st) < 0)
        return REG_ERROR;
    return index_repo_id(out, ix, repo);
}

static int read_size(uint64_t *size_out, sqlite3_stmt *st)
{
    int err = index_step_row(st);
    if (err == REG_OK) {
        if (size_out)
            *size_out = (uint64_t)sqlite3_column_int64(st, 0);
        index_done(st);
    }
    return err;
}

int index_blob_in_repo(uint64_t *size_out, index_db *ix, const char *repo, const digest *d)
{
    sqlite3_stmt *st = stmt(ix, ST_BLOB_IN_REPO);
    if (st) {
        index_bind_text(st, 1, repo);
        index_bind_text(st, 2, d->str);
    }
    return read_size(size_out, st);
}

int index_blob_in_repo_id(uint64_t *size_out, index_db *ix, int64_t repo_id, const char *digest)
{
    sqlite3_stmt *st = stmt(ix, ST_BLOB_IN_REPO_ID);
    if (st) {
        sqlite3_bind_int64(st, 1, repo_id);
        index_bind_text(st, 2, digest);
    }
    return read_size(size_out, st);
}

int index_blob_link(index_db *ix, int64_t repo_id, const digest *d, uint64_t size)
{
    sqlite3_int64 now = (sqlite3_int64)time(NULL);
    sqlite3_stmt *st = stmt(ix, ST_BLOB_INSERT);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, d->str);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
    sqlite3_bind_int64(st, 3, now);
    if (index_run(st) < 0 || !(st = stmt(ix, ST_BLOB_LINK)))
        return REG_ERROR;
    sqlite3_bind_int64(st, 1, repo_id);
    index_bind_text(st, 2, d->str);
    sqlite3_bind_int64(st, 3, now);
    return index_run(st);
}

/* Copy the first column of the current row into conflict_out and finish the statement. */
static void take_conflict(char *conflict_out, sqlite3_stmt *st)
{
    const char *t = (const char *)sqlite3_column_text(st, 0);
    snprintf(conflict_out, DIGEST_MAX, "%s", t ? t : "");
    index_done(st);
}

int index_blob_unlink(char *conflict_out, index_db *ix, const char *repo, const digest *d)
{
    sqlite3_stmt *st = stmt(ix, ST_BLOB_REFERENCED);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, repo);
    index_bind_text(st, 2, d->str);
    int err = index_step_row(st);
    if (err == REG_OK) {
        take_conflict(conflict_out, st);
        return REG_ECONFLICT;
    }
    if (err != REG_ENOTFOUND || !(st = stmt(ix, ST_BLOB_UNLINK)))
        return REG_ERROR;
    index_bind_text(st, 1, repo);
    index_bind_text(st, 2, d->str);
    if (index_run(st) < 0)
        return REG_ERROR;
    return sqlite3_changes(ix->db) > 0 ? REG_OK : REG_ENOTFOUND;
}

static int read_manifest(manifest_row *out, sqlite3_stmt *st)
{
    int err = index_step_row(st);
    if (err < 0)
        return err;
    const char *dg = (const char *)sqlite3_column_text(st, 0);
    const char *mt = (const char *)sqlite3_column_text(st, 1);
    out->size = (uint64_t)sqlite3_column_int64(st, 2);
    snprintf(out->media_type, sizeof(out->media_type), "%s", mt ? mt : "");
    err = digest_parse(&out->dg, dg) < 0 ? REG_ERROR : REG_OK;
    index_done(st);
    return err;
}

int index_manifest_by_digest(manifest_row *out, index_db *ix, const char *repo, const digest *d)
{
    sqlite3_stmt *st = stmt(ix, ST_MANIFEST_BY_DIGEST);
    if (st) {
        index_bind_text(st, 1, repo);
        index_bind_text(st, 2, d->str);
    }
    return read_manifest(out, st);
}

int index_manifest_by_tag(manifest_row *out, index_db *ix, const char *repo, const char *tag)
{
    sqlite3_stmt *st = stmt(ix, ST_MANIFEST_BY_TAG);
    if (st) {
        index_bind_text(st, 1, repo);
        index_bind_text(st, 2, tag);
    }
    return read_manifest(out, st);
}

int index_manifest_in_repo_id(index_db *ix, int64_t repo_id, const char *digest)
{
    sqlite3_stmt *st = stmt(ix, ST_MANIFEST_IN_REPO_ID);
    if (st) {
        sqlite3_bind_int64(st, 1, repo_id);
        index_bind_text(st, 2, digest);
    }
    int err = index_step_row(st);
    if (err == REG_OK)
        index_done(st);
    return err;
}

int index_manifest_insert(int *inserted_out, index_db *ix, int64_t repo_id, const manifest_record *m)
{
    sqlite3_stmt *st = stmt(ix, ST_MANIFEST_INSERT);
    if (!st)
        return REG_ERROR;
    sqlite3_bind_int64(st, 1, repo_id);
    index_bind_text(st, 2, m->dg->str);
    index_bind_text(st, 3, m->media_type);
    index_bind_text(st, 4, m->artifact_type);
    index_bind_text(st, 5, m->subject);
    index_bind_text(st, 6, m->annotations);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)m->size);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)time(NULL));
    sqlite3_bind_int64(st, 9, (sqlite3_int64)m->image_size);
    if (index_run(st) < 0)
        return REG_ERROR;
    *inserted_out = sqlite3_changes(ix->db) > 0;
    return REG_OK;
}

int index_manifest_ref_insert(index_db *ix, int64_t repo_id, const char *manifest,
                              const char *child, const char *kind)
{
    sqlite3_stmt *st = stmt(ix, ST_REF_INSERT);
    if (!st)
        return REG_ERROR;
    sqlite3_bind_int64(st, 1, repo_id);
    index_bind_text(st, 2, manifest);
    index_bind_text(st, 3, child);
    index_bind_text(st, 4, kind);
    return index_run(st);
}

int index_tag_set(index_db *ix, int64_t repo_id, const char *tag, const char *digest)
{
    sqlite3_stmt *st = stmt(ix, ST_TAG_SET);
    if (!st)
        return REG_ERROR;
    sqlite3_bind_int64(st, 1, repo_id);
    index_bind_text(st, 2, tag);
    index_bind_text(st, 3, digest);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
    return index_run(st);
}

static int run_repo_digest(index_db *ix, enum stmt_id id, int64_t repo_id, const char *digest)
{
    sqlite3_stmt *st = stmt(ix, id);
    if (!st)
        return REG_ERROR;
    sqlite3_bind_int64(st, 1, repo_id);
    index_bind_text(st, 2, digest);
    return index_run(st);
}

int index_manifest_delete(char *conflict_out, index_db *ix, const char *repo, const digest *d)
{
    int64_t repo_id;
    int err = index_repo_id(&repo_id, ix, repo);
    if (err < 0)
        return err;
    sqlite3_stmt *st = stmt(ix, ST_MANIFEST_PARENT);
    if (!st)
        return REG_ERROR;
    sqlite3_bind_int64(st, 1, repo_id);
    index_bind_text(st, 2, d->str);
    if ((err = index_step_row(st)) == REG_OK) {
        take_conflict(conflict_out, st);
        return REG_ECONFLICT;
    }
    if (err != REG_ENOTFOUND)
        return REG_ERROR;
    if (run_repo_digest(ix, ST_MANIFEST_DELETE, repo_id, d->str) < 0)
        return REG_ERROR;
    if (sqlite3_changes(ix->db) == 0)
        return REG_ENOTFOUND;
    if (run_repo_digest(ix, ST_MANIFEST_TAGS_DELETE, repo_id, d->str) < 0 ||
        run_repo_digest(ix, ST_MANIFEST_REFS_DELETE, repo_id, d->str) < 0)
        return REG_ERROR;
    return REG_OK;
}

int index_tag_delete(index_db *ix, const char *repo, const char *tag)
{
    sqlite3_stmt *st = stmt(ix, ST_TAG_DELETE);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, repo);
    index_bind_text(st, 2, tag);
    if (index_run(st) < 0)
        return REG_ERROR;
    return sqlite3_changes(ix->db) > 0 ? REG_OK : REG_ENOTFOUND;
}

/* Feed up to `limit` names to cb; one extra row fetched tells whether more follow. */
static int page_names(int *more_out, sqlite3_stmt *st, int64_t limit, index_name_cb cb, void *ctx)
{
    int rc, err = REG_OK;
    int64_t n = 0;
    *more_out = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit) {
            *more_out = 1;
            break;
        }
        if ((err = cb(ctx, (const char *)sqlite3_column_text(st, 0))) < 0)
            break;
        n++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        err = REG_ERROR;
    index_done(st);
    return err;
}

int index_tags_page(int *more_out, index_db *ix, const char *repo, const char *last, int64_t limit,
                    index_name_cb cb, void *ctx)
{
    int64_t repo_id;
    int err = index_repo_id(&repo_id, ix, repo);
    if (err < 0)
        return err;
    sqlite3_stmt *st = stmt(ix, ST_TAGS_PAGE);
    if (!st)
        return REG_ERROR;
    sqlite3_bind_int64(st, 1, repo_id);
    index_bind_text(st, 2, last ? last : "");
    sqlite3_bind_int64(st, 3, limit + 1);
    return page_names(more_out, st, limit, cb, ctx);
}

int index_catalog_page(int *more_out, index_db *ix, const char *last, int64_t limit,
                       index_name_cb cb, void *ctx)
{
    sqlite3_stmt *st = stmt(ix, ST_CATALOG_PAGE);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, last ? last : "");
    sqlite3_bind_int64(st, 2, limit + 1);
    return page_names(more_out, st, limit, cb, ctx);
}

int index_referrers(index_db *ix, const char *repo, const digest *subject, const char *artifact_type,
                    index_referrer_cb cb, void *ctx)
{
    sqlite3_stmt *st = stmt(ix, ST_REFERRERS);
    int rc, err = REG_OK;
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, repo);
    index_bind_text(st, 2, subject->str);
    index_bind_text(st, 3, artifact_type);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        referrer_row row = {
            .digest = (const char *)sqlite3_column_text(st, 0),
            .media_type = (const char *)sqlite3_column_text(st, 1),
            .size = (uint64_t)sqlite3_column_int64(st, 2),
            .artifact_type = (const char *)sqlite3_column_text(st, 3),
            .annotations = (const char *)sqlite3_column_text(st, 4),
        };
        if ((err = cb(ctx, &row)) < 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        err = REG_ERROR;
    index_done(st);
    return err;
}
