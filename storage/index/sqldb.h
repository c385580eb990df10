/* sqldb.h - the SQL driver under the index: one connection to SQLite (a file path) or to
 * PostgreSQL (a postgres:// URI), prepared statements, their parameters and rows, write
 * transactions. Only storage/index*.c use it. The SQLite calls are inline wrappers over
 * sqlite3_*, so the SQLite path costs one branch per call and no allocation. */
#ifndef OCIREG_SQLDB_H
#define OCIREG_SQLDB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sqldb sqldb;
typedef struct sqldb_pg_stmt sqldb_pg_stmt;

/* A statement: exactly one of the two is set once it is prepared. */
typedef struct sqldb_stmt {
    sqlite3_stmt *lite;
    sqldb_pg_stmt *pg;
} sqldb_stmt;

/* What sqldb_step returns. */
enum { SQLDB_ERROR = -1, SQLDB_DONE = 0, SQLDB_ROW = 1 };

/* Whether location is a PostgreSQL one: it starts with postgres:// or postgresql://. */
int sqldb_location_is_pg(const char *location);
/* Connect: to PostgreSQL when location is a libpq connection URI (sqldb_location_is_pg), else
 * to the SQLite file at that path. On failure *out is NULL and reg_error_last says why. */
int sqldb_open(sqldb **out, const char *location);
void sqldb_close(sqldb *db);
int sqldb_is_pg(const sqldb *db);
/* The SQLite handle (NULL on PostgreSQL), for what only SQLite has (the backup API). */
sqlite3 *sqldb_sqlite(sqldb *db);
const char *sqldb_errmsg(sqldb *db);
/* On PostgreSQL, set the message sqldb_errmsg reports, for failures the index itself decides
 * (on SQLite the message is always SQLite's own). */
void sqldb_set_error(sqldb *db, const char *msg);

/* Run SQL without parameters or rows (several statements allowed). */
int sqldb_exec(sqldb *db, const char *text);
/* Run a query without parameters: its first row's first column (a boolean reads as 0 or 1),
 * or REG_ENOTFOUND when it returns no row. */
int sqldb_query_int64(int64_t *out, sqldb *db, const char *text);

/* Prepare `text` into st unless it is ready. On PostgreSQL it is prepared under the name
 * "s<slot>" on this connection, its ?N parameters written $N; a connection that was lost is
 * reset first (outside a transaction), and the statement prepared again. */
int sqldb_prepare(sqldb_stmt *st, sqldb *db, int slot, const char *text);
void sqldb_finalize(sqldb_stmt *st);

/* Write transactions: SQLite BEGIN IMMEDIATE (its single writer lock); PostgreSQL BEGIN and
 * the writers' advisory lock, which serialises writers across every instance the same way. */
int sqldb_begin_write(sqldb *db);
int sqldb_commit(sqldb *db);
/* Roll back if a transaction is open (a lost connection has rolled it back already). */
void sqldb_rollback(sqldb *db);
/* SQLite only: a savepoint inside a write transaction, so that a part of it can be undone
 * (sqldb_rollback_to: back to the savepoint, which it then releases) or kept (sqldb_release)
 * while the transaction stays open. One savepoint at a time. */
int sqldb_savepoint(sqldb *db);
int sqldb_release(sqldb *db);
int sqldb_rollback_to(sqldb *db);
/* Whether a transaction is open: SQLite rolls one back by itself after some errors (disk
 * full, I/O error). */
int sqldb_in_transaction(sqldb *db);
/* Whether the last failure was a full disk (SQLite SQLITE_FULL, PostgreSQL disk_full). */
int sqldb_out_of_space(sqldb *db);
/* Rows changed by the last INSERT, UPDATE or DELETE. */
int sqldb_changes(sqldb *db);

/* PostgreSQL halves of the calls below. */
void sqldb_pg_bind(sqldb_pg_stmt *st, int i, const void *value, int len, int binary);
void sqldb_pg_bind_int64(sqldb_pg_stmt *st, int i, int64_t v);
int sqldb_pg_step(sqldb_pg_stmt *st);
void sqldb_pg_reset(sqldb_pg_stmt *st);
const char *sqldb_pg_text(sqldb_pg_stmt *st, int col);
int64_t sqldb_pg_int64(sqldb_pg_stmt *st, int col);
const void *sqldb_pg_blob(sqldb_pg_stmt *st, int col, int *len_out);

/* Parameters are numbered from 1 and must stay valid until the statement is reset. A NULL
 * text binds SQL NULL. */
static inline void sqldb_bind_text(sqldb_stmt *st, int i, const char *s)
{
    if (st->lite) {
        if (s)
            sqlite3_bind_text(st->lite, i, s, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st->lite, i);
    } else {
        sqldb_pg_bind(st->pg, i, s, 0, 0);
    }
}

static inline void sqldb_bind_int64(sqldb_stmt *st, int i, int64_t v)
{
    if (st->lite)
        sqlite3_bind_int64(st->lite, i, (sqlite3_int64)v);
    else
        sqldb_pg_bind_int64(st->pg, i, v);
}

static inline void sqldb_bind_null(sqldb_stmt *st, int i)
{
    if (st->lite)
        sqlite3_bind_null(st->lite, i);
    else
        sqldb_pg_bind(st->pg, i, NULL, 0, 0);
}

static inline void sqldb_bind_blob(sqldb_stmt *st, int i, const void *p, int len)
{
    if (st->lite)
        sqlite3_bind_blob(st->lite, i, p, len, SQLITE_STATIC);
    else
        sqldb_pg_bind(st->pg, i, p, len, 1);
}

/* SQLDB_ROW with a row to read, SQLDB_DONE, or SQLDB_ERROR. */
static inline int sqldb_step(sqldb_stmt *st)
{
    if (st->lite) {
        int rc = sqlite3_step(st->lite);
        return rc == SQLITE_ROW ? SQLDB_ROW : rc == SQLITE_DONE ? SQLDB_DONE : SQLDB_ERROR;
    }
    return sqldb_pg_step(st->pg);
}

/* Back to before the first step, with every parameter cleared. */
static inline void sqldb_reset(sqldb_stmt *st)
{
    if (st->lite) {
        sqlite3_reset(st->lite);
        sqlite3_clear_bindings(st->lite);
    } else if (st->pg) {
        sqldb_pg_reset(st->pg);
    }
}

/* Columns of the current row, numbered from 0; valid until the next step or reset. Text is
 * NULL for SQL NULL; integers read a PostgreSQL boolean as 0 or 1. */
static inline const char *sqldb_column_text(sqldb_stmt *st, int col)
{
    return st->lite ? (const char *)sqlite3_column_text(st->lite, col) : sqldb_pg_text(st->pg, col);
}

static inline int64_t sqldb_column_int64(sqldb_stmt *st, int col)
{
    return st->lite ? (int64_t)sqlite3_column_int64(st->lite, col) : sqldb_pg_int64(st->pg, col);
}

static inline int sqldb_column_int(sqldb_stmt *st, int col)
{
    return st->lite ? sqlite3_column_int(st->lite, col) : (int)sqldb_pg_int64(st->pg, col);
}

/* A blob column: its bytes (NULL when empty or NULL) and, through len_out, their count. On
 * PostgreSQL they are valid only until the next sqldb_column_blob call: copy them first. */
static inline const void *sqldb_column_blob(sqldb_stmt *st, int col, int *len_out)
{
    if (st->lite) {
        const void *p = sqlite3_column_blob(st->lite, col);
        *len_out = sqlite3_column_bytes(st->lite, col);
        return p;
    }
    return sqldb_pg_blob(st->pg, col, len_out);
}

static inline int sqldb_column_is_null(sqldb_stmt *st, int col)
{
    return st->lite ? sqlite3_column_type(st->lite, col) == SQLITE_NULL
                    : sqldb_pg_text(st->pg, col) == NULL;
}

#endif
