/* index_internal.h - what the index*.c files share: the connection with its statement cache
 * and the stepping helpers. Not for use outside storage/index*.c. */
#ifndef OCIREG_INDEX_INTERNAL_H
#define OCIREG_INDEX_INTERNAL_H

#include "storage/index/index.h"
#include "storage/base/reg_error.h"
#include "storage/index/sqldb.h"

/* Statement slots: each index*.c file owns one range, from the previous file's end to its own
 * end: index.c [0, CORE), index_auth.c [CORE, AUTH), index_repos.c [AUTH, REPOS),
 * index_gc.c [REPOS, GC), index_fsck.c [GC, FSCK), index_export.c [EXPORT, BACKUP),
 * index_uploads.c [BACKUP, UPLOADS), index_keys.c [UPLOADS, KEYS). */
#define INDEX_CORE_SLOTS 48
#define INDEX_AUTH_SLOTS 80
#define INDEX_REPOS_SLOTS 112
#define INDEX_GC_SLOTS 144
#define INDEX_FSCK_SLOTS 160
#define INDEX_EXPORT_SLOTS INDEX_FSCK_SLOTS
#define INDEX_BACKUP_SLOTS 192
#define INDEX_UPLOADS_SLOTS 208
#define INDEX_KEYS_SLOTS 212
#define INDEX_SLOTS INDEX_KEYS_SLOTS

/* The number of schema migrations (index.c), for fsck's check of a PostgreSQL schema. */
extern const int index_schema_version;

struct index_db {
    sqldb *db;      /* the connection in use: own_db, or in a write transaction the shared
                     * writer's (index_share_writer) */
    sqldb_stmt *st; /* the statements of that connection */
    sqldb *own_db;
    sqldb_stmt own_st[INDEX_SLOTS];
    int holds_writer;      /* this connection holds the process's writer mutex (index_begin) */
    int uses_shared;       /* opened on the shared writer's location */
    char write_error[256]; /* the shared writer's message for the last failed transaction */
};

/* The statement in `slot`, prepared from `text` on first use; NULL if that failed.
 * SQL is written once for both databases (?N parameters, ON CONFLICT, RETURNING, "user"
 * quoted); where PostgreSQL needs other text, index_stmt_pg names it. */
static inline sqldb_stmt *index_stmt_pg(index_db *ix, int slot, const char *text,
                                        const char *pg_text)
{
    sqldb_stmt *st = &ix->st[slot];
    if (st->lite)
        return st;
    return sqldb_prepare(st, ix->db, slot, pg_text && sqldb_is_pg(ix->db) ? pg_text : text) ==
                   REG_OK
               ? st
               : NULL;
}

static inline sqldb_stmt *index_stmt(index_db *ix, int slot, const char *text)
{
    return index_stmt_pg(ix, slot, text, NULL);
}

/* Reset a statement and clear its bindings (NULL is fine). */
void index_done(sqldb_stmt *st);
/* Bind text, or SQL NULL for a NULL pointer. */
void index_bind_text(sqldb_stmt *st, int i, const char *s);
/* Step a statement that returns no rows: REG_OK or REG_ERROR; it is reset afterwards. */
int index_run(sqldb_stmt *st);
/* Step once: REG_OK with a row (read it, then index_done), REG_ENOTFOUND, or REG_ERROR. */
int index_step_row(sqldb_stmt *st);
int index_changes(index_db *ix);

#endif
