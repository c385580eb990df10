/* index_internal.h - what the index*.c files share: the statements, the connection with its
 * statement cache and the stepping helpers. Not for use outside storage/index*.c. */
#ifndef OCIREG_INDEX_INTERNAL_H
#define OCIREG_INDEX_INTERNAL_H

#include "storage/index/index.h"
#include "storage/base/reg_error.h"
#include "storage/index/sqldb.h"

/* Every statement's slot in a connection's cache, numbered by the compiler from the one list
 * in statements.def. On PostgreSQL the slot also names the prepared statement ("s<slot>"). */
enum index_statement {
#define STATEMENT(name, text) ST_##name,
#define STATEMENT_DIALECTS(name, sqlite, pg) ST_##name,
#include "storage/index/statements.def"
#undef STATEMENT
#undef STATEMENT_DIALECTS
    INDEX_SLOTS
};

/* The number of schema migrations (index.c), for fsck's check of a PostgreSQL schema. */
extern const int index_schema_version;

struct index_db {
    sqldb *db;      /* the connection statements run on: own_db, or in a write transaction
                     * that took the writer (index_begin), the writer's */
    sqldb_stmt *st; /* the statement cache of that connection */
    sqldb *own_db;
    sqldb_stmt own_st[INDEX_SLOTS];
    int holds_writer;      /* this connection holds the process's writer mutex (index_begin) */
    int uses_shared;       /* opened on the shared writer's location */
    char write_error[256]; /* the shared writer's message for the last failed transaction */
};

/* Prepare statement `id` on ix's connection in use; NULL if that failed. */
sqldb_stmt *index_prepare(index_db *ix, enum index_statement id);

/* Statement `id`, prepared on its first use on the connection and kept until it closes. */
static inline sqldb_stmt *index_stmt(index_db *ix, enum index_statement id)
{
    sqldb_stmt *st = &ix->st[id];
    return st->lite ? st : index_prepare(ix, id);
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
