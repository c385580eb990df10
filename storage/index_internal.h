/* index_internal.h - what the index*.c files share: the connection with its statement cache
 * and the stepping helpers. Not for use outside storage/index*.c. */
#ifndef OCIREG_INDEX_INTERNAL_H
#define OCIREG_INDEX_INTERNAL_H

#include "storage/index.h"

#include <sqlite3.h>

/* Statement slots: each index*.c file owns one range, from the previous file's end to its own
 * end: index.c [0, CORE), index_auth.c [CORE, AUTH), index_repos.c [AUTH, REPOS),
 * index_gc.c [REPOS, GC), index_fsck.c [GC, FSCK), index_export.c [EXPORT, BACKUP). */
#define INDEX_CORE_SLOTS 48
#define INDEX_AUTH_SLOTS 80
#define INDEX_REPOS_SLOTS 112
#define INDEX_GC_SLOTS 144
#define INDEX_FSCK_SLOTS 160
#define INDEX_EXPORT_SLOTS INDEX_FSCK_SLOTS
#define INDEX_BACKUP_SLOTS 192
#define INDEX_SLOTS INDEX_BACKUP_SLOTS

struct index_db {
    sqlite3 *db;
    sqlite3_stmt *st[INDEX_SLOTS];
    int holds_writer; /* this connection holds the process's writer mutex (index_begin) */
};

/* The statement in `slot`, prepared from `text` on first use. */
sqlite3_stmt *index_stmt(index_db *ix, int slot, const char *text);
/* Reset a statement and clear its bindings (NULL is fine). */
void index_done(sqlite3_stmt *st);
void index_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Step a statement that returns no rows: REG_OK or REG_ERROR; it is reset afterwards. */
int index_run(sqlite3_stmt *st);
/* Step once: REG_OK with a row (read it, then index_done), REG_ENOTFOUND, or REG_ERROR. */
int index_step_row(sqlite3_stmt *st);
int index_changes(index_db *ix);

#endif
