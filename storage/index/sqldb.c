/* sqldb.c - the SQL driver under the index (see sqldb.h): SQLite through sqlite3_*, and
 * PostgreSQL through libpq with statements prepared once per connection, parameters sent as
 * text (blobs in binary) and the rows of a statement kept from its first step to its reset. */
#include "storage/index/sqldb.h"
#include "storage/base/reg_error.h"
#include "storage/base/dynlib_calls.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_BOOL_OID 16

/* Every PostgreSQL write transaction (and migration) takes this advisory lock ("ocireg" in
 * ASCII). Waiting for it is bounded like SQLite's busy timeout. */
#define PG_BEGIN_WRITE                                                                             \
    "BEGIN; SET LOCAL lock_timeout = '10s'; SELECT pg_advisory_xact_lock(122472761550183)"

struct sqldb {
    sqlite3 *lite;
    sqlite3_stmt *begin, *commit, *rollback; /* SQLite, prepared on first use */
    sqlite3_stmt *savepoint, *release, *rollback_to;
    PGconn *pg;
    int in_tx;      /* PostgreSQL: a transaction of ours is open */
    int ended;      /* PostgreSQL: the server said it ends the session (FATAL while idle) */
    unsigned epoch; /* PostgreSQL: counts connections; statements of an older one are stale */
    int changes;    /* PostgreSQL: rows changed by the last write */
    char err[512];  /* PostgreSQL: the last error */
    int disk_full;  /* PostgreSQL: the last error was SQLSTATE 53100 (disk_full) */
};

struct sqldb_pg_stmt {
    sqldb *db;
    char name[16];
    char *text;     /* with $N parameters */
    unsigned epoch; /* the connection it was prepared on; 0 before the first */
    int nparams;
    const char **values;
    int *lengths, *formats;
    char (*numbers)[24]; /* integer parameters, printed */
    PGresult *res;       /* from the first step until the reset */
    int row, nrows;
    unsigned char *blob; /* the last blob column read, decoded */
    size_t blob_len;
    int blob_row, blob_col;
};

int sqldb_location_is_pg(const char *location)
{
    return strncmp(location, "postgres://", 11) == 0 || strncmp(location, "postgresql://", 13) == 0;
}

static void copy_message(char *dst, size_t n, const char *msg)
{
    snprintf(dst, n, "%s", msg && *msg ? msg : "unknown PostgreSQL error");
    size_t len = strlen(dst);
    while (len > 0 && (dst[len - 1] == '\n' || dst[len - 1] == ' '))
        dst[--len] = '\0';
}

static void note_error(sqldb *db, const PGresult *res)
{
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    copy_message(db->err, sizeof(db->err), msg && *msg ? msg : PQerrorMessage(db->pg));
    db->disk_full = state && !strcmp(state, "53100");
}

/* libpq hands what the server says between queries to the notice receiver; a FATAL there is
 * the server ending the session (shutdown, restart, pg_terminate_backend), its connection
 * closing right after. Other notices are of no interest. */
static void note_session_end(void *arg, const PGresult *res)
{
    sqldb *db = arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity && (!strcmp(severity, "FATAL") || !strcmp(severity, "PANIC")))
        db->ended = 1;
}

static int open_pg(sqldb *db, const char *location)
{
    char why[512];
    if (dynlib_load_pq() < 0)
        return REG_ERROR;
    db->pg = PQconnectdb(location);
    if (!db->pg || PQstatus(db->pg) != CONNECTION_OK) {
        copy_message(why, sizeof(why), db->pg ? PQerrorMessage(db->pg) : "out of memory");
        return reg_error_set(REG_ERROR, "%s", why);
    }
    PQsetNoticeReceiver(db->pg, note_session_end, db);
    db->epoch = 1;
    return REG_OK;
}

static int open_sqlite(sqldb *db, const char *location)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(location, &db->lite, flags, NULL) != SQLITE_OK)
        return reg_error_set(REG_ERROR, "%s",
                             db->lite ? sqlite3_errmsg(db->lite) : "out of memory");
    return REG_OK;
}

int sqldb_open(sqldb **out, const char *location)
{
    sqldb *db = calloc(1, sizeof(*db));
    *out = NULL;
    if (!db)
        return reg_error_set(REG_ERROR, "out of memory");
    int err = sqldb_location_is_pg(location) ? open_pg(db, location) : open_sqlite(db, location);
    if (err < 0) {
        sqldb_close(db);
        return err;
    }
    *out = db;
    return REG_OK;
}

void sqldb_close(sqldb *db)
{
    if (!db)
        return;
    sqlite3_finalize(db->begin);
    sqlite3_finalize(db->commit);
    sqlite3_finalize(db->rollback);
    sqlite3_finalize(db->savepoint);
    sqlite3_finalize(db->release);
    sqlite3_finalize(db->rollback_to);
    sqlite3_close(db->lite);
    if (db->pg)
        PQfinish(db->pg);
    free(db);
}

int sqldb_is_pg(const sqldb *db)
{
    return db->pg != NULL;
}

sqlite3 *sqldb_sqlite(sqldb *db)
{
    return db->lite;
}

const char *sqldb_errmsg(sqldb *db)
{
    return db->lite ? sqlite3_errmsg(db->lite) : db->err;
}

void sqldb_set_error(sqldb *db, const char *msg)
{
    snprintf(db->err, sizeof(db->err), "%s", msg);
}

/* A server that restarted, or ended our session, while we were idle has left its FATAL
 * message (and end-of-file) on the socket: reading it tells us before we use the connection.
 * One poll per statement outside a transaction; a query costs a round trip anyway. */
static void pg_notice_loss(sqldb *db)
{
    struct pollfd p = {.fd = PQsocket(db->pg), .events = POLLIN};
    for (int i = 0; i < 4 && PQstatus(db->pg) == CONNECTION_OK && poll(&p, 1, 0) > 0; i++) {
        if (!PQconsumeInput(db->pg))
            break;
        PQisBusy(db->pg); /* parses what was read: a FATAL reaches note_session_end */
    }
}

/* A connection that was lost is reset, but never inside a transaction: its statements would
 * silently run outside it. A new connection has none of the prepared statements. */
static int pg_connected(sqldb *db)
{
    if (!db->in_tx)
        pg_notice_loss(db);
    if (PQstatus(db->pg) == CONNECTION_OK && !db->ended)
        return REG_OK;
    if (db->in_tx) {
        sqldb_set_error(db, "the connection to PostgreSQL was lost during a transaction");
        return REG_ERROR;
    }
    db->ended = 0;
    PQreset(db->pg);
    if (PQstatus(db->pg) != CONNECTION_OK) {
        note_error(db, NULL);
        return REG_ERROR;
    }
    db->epoch++;
    return REG_OK;
}

/* Run text (no parameters); REG_OK when it ended with `want`. */
static int pg_exec(sqldb *db, const char *text, ExecStatusType want)
{
    PGresult *res = PQexec(db->pg, text);
    int ok = PQresultStatus(res) == want;
    if (!ok)
        note_error(db, res);
    PQclear(res);
    return ok ? REG_OK : REG_ERROR;
}

int sqldb_exec(sqldb *db, const char *text)
{
    if (db->lite)
        return sqlite3_exec(db->lite, text, NULL, NULL, NULL) == SQLITE_OK ? REG_OK : REG_ERROR;
    if (pg_connected(db) < 0)
        return REG_ERROR;
    return pg_exec(db, text, PGRES_COMMAND_OK);
}

static int64_t pg_int64_value(const PGresult *res, int row, int col)
{
    const char *v = PQgetvalue(res, row, col);
    if (PQgetisnull(res, row, col))
        return 0;
    if (PQftype(res, col) == PG_BOOL_OID)
        return v[0] == 't';
    return strtoll(v, NULL, 10);
}

int sqldb_query_int64(int64_t *out, sqldb *db, const char *text)
{
    if (db->lite) {
        sqlite3_stmt *st = NULL;
        int err = REG_ERROR;
        if (sqlite3_prepare_v2(db->lite, text, -1, &st, NULL) == SQLITE_OK) {
            int rc = sqlite3_step(st);
            if (rc == SQLITE_ROW)
                *out = sqlite3_column_int64(st, 0);
            err = rc == SQLITE_ROW ? REG_OK : rc == SQLITE_DONE ? REG_ENOTFOUND : REG_ERROR;
        }
        sqlite3_finalize(st);
        return err;
    }
    if (pg_connected(db) < 0)
        return REG_ERROR;
    PGresult *res = PQexec(db->pg, text);
    int err = PQresultStatus(res) == PGRES_TUPLES_OK ? REG_OK : REG_ERROR;
    if (err < 0)
        note_error(db, res);
    else if (PQntuples(res) == 0 || PQnfields(res) == 0)
        err = REG_ENOTFOUND;
    else
        *out = pg_int64_value(res, 0, 0);
    PQclear(res);
    return err;
}

/* ---- statements ---- */

/* ?N -> $N, and a bare ? -> $(highest so far + 1) as SQLite numbers it; quoted text and
 * identifiers are copied as they are. */
static char *pg_translate(const char *text, int *nparams_out)
{
    char *out = malloc(strlen(text) * 4 + 1), *o = out;
    char quote = 0;
    int max = 0;
    if (!out)
        return NULL;
    for (const char *p = text; *p; p++) {
        if (quote) {
            quote = *p == quote ? 0 : quote;
            *o++ = *p;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
            *o++ = *p;
        } else if (*p == '?' && isdigit((unsigned char)p[1])) {
            char *end;
            long n = strtol(p + 1, &end, 10);
            max = n > max ? (int)n : max;
            o += sprintf(o, "$%ld", n);
            p = end - 1;
        } else if (*p == '?') {
            o += sprintf(o, "$%d", ++max);
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    *nparams_out = max;
    return out;
}

static void pg_stmt_free(sqldb_pg_stmt *st)
{
    if (!st)
        return;
    sqldb_pg_reset(st);
    free(st->text);
    free(st->values);
    free(st->lengths);
    free(st->formats);
    free(st->numbers);
    free(st);
}

static sqldb_pg_stmt *pg_stmt_new(sqldb *db, int slot, const char *text)
{
    sqldb_pg_stmt *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->db = db;
    st->row = -1;
    snprintf(st->name, sizeof(st->name), "s%d", slot);
    if (!(st->text = pg_translate(text, &st->nparams)))
        goto fail;
    size_t n = st->nparams > 0 ? (size_t)st->nparams : 1;
    st->values = calloc(n, sizeof(*st->values));
    st->lengths = calloc(n, sizeof(*st->lengths));
    st->formats = calloc(n, sizeof(*st->formats));
    st->numbers = calloc(n, sizeof(*st->numbers));
    if (!st->values || !st->lengths || !st->formats || !st->numbers)
        goto fail;
    return st;
fail:
    pg_stmt_free(st);
    return NULL;
}

int sqldb_prepare(sqldb_stmt *st, sqldb *db, int slot, const char *text)
{
    if (db->lite) {
        if (st->lite)
            return REG_OK;
        return sqlite3_prepare_v3(db->lite, text, -1, SQLITE_PREPARE_PERSISTENT, &st->lite, NULL) ==
                       SQLITE_OK
                   ? REG_OK
                   : REG_ERROR;
    }
    if (!st->pg && !(st->pg = pg_stmt_new(db, slot, text))) {
        sqldb_set_error(db, "out of memory");
        return REG_ERROR;
    }
    sqldb_pg_reset(st->pg);
    if (pg_connected(db) < 0)
        return REG_ERROR;
    if (st->pg->epoch == db->epoch)
        return REG_OK;
    PGresult *res = PQprepare(db->pg, st->pg->name, st->pg->text, 0, NULL);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (ok)
        st->pg->epoch = db->epoch;
    else
        note_error(db, res);
    PQclear(res);
    return ok ? REG_OK : REG_ERROR;
}

void sqldb_finalize(sqldb_stmt *st)
{
    sqlite3_finalize(st->lite);
    pg_stmt_free(st->pg);
    st->lite = NULL;
    st->pg = NULL;
}

void sqldb_pg_bind(sqldb_pg_stmt *st, int i, const void *value, int len, int binary)
{
    if (i < 1 || i > st->nparams)
        return;
    st->values[i - 1] = value;
    st->lengths[i - 1] = len;
    st->formats[i - 1] = binary;
}

void sqldb_pg_bind_int64(sqldb_pg_stmt *st, int i, int64_t v)
{
    if (i < 1 || i > st->nparams)
        return;
    snprintf(st->numbers[i - 1], sizeof(st->numbers[i - 1]), "%lld", (long long)v);
    sqldb_pg_bind(st, i, st->numbers[i - 1], 0, 0);
}

int sqldb_pg_step(sqldb_pg_stmt *st)
{
    sqldb *db = st->db;
    if (!st->res) {
        if (st->epoch != db->epoch) {
            sqldb_set_error(db, "the statement belongs to a lost connection");
            return SQLDB_ERROR;
        }
        st->res =
            PQexecPrepared(db->pg, st->name, st->nparams, st->values, st->lengths, st->formats, 0);
        ExecStatusType status = PQresultStatus(st->res);
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
            note_error(db, st->res);
            PQclear(st->res);
            st->res = NULL;
            return SQLDB_ERROR;
        }
        st->nrows = status == PGRES_TUPLES_OK ? PQntuples(st->res) : 0;
        st->row = -1;
        if (strncmp(PQcmdStatus(st->res), "SELECT", 6) != 0)
            db->changes = atoi(PQcmdTuples(st->res));
    }
    if (st->row < st->nrows)
        st->row++;
    return st->row < st->nrows ? SQLDB_ROW : SQLDB_DONE;
}

void sqldb_pg_reset(sqldb_pg_stmt *st)
{
    PQclear(st->res);
    st->res = NULL;
    st->row = -1;
    st->nrows = 0;
    if (st->blob)
        PQfreemem(st->blob);
    st->blob = NULL;
    for (int i = 0; i < st->nparams; i++)
        sqldb_pg_bind(st, i + 1, NULL, 0, 0);
}

const char *sqldb_pg_text(sqldb_pg_stmt *st, int col)
{
    if (!st->res || st->row < 0 || st->row >= st->nrows || col < 0 || col >= PQnfields(st->res) ||
        PQgetisnull(st->res, st->row, col))
        return NULL;
    return PQgetvalue(st->res, st->row, col);
}

int64_t sqldb_pg_int64(sqldb_pg_stmt *st, int col)
{
    return sqldb_pg_text(st, col) ? pg_int64_value(st->res, st->row, col) : 0;
}

const void *sqldb_pg_blob(sqldb_pg_stmt *st, int col, int *len_out)
{
    const char *v = sqldb_pg_text(st, col);
    *len_out = 0;
    if (!v)
        return NULL;
    if (!st->blob || st->blob_row != st->row || st->blob_col != col) {
        if (st->blob)
            PQfreemem(st->blob);
        st->blob = PQunescapeBytea((const unsigned char *)v, &st->blob_len);
        st->blob_row = st->row;
        st->blob_col = col;
        if (!st->blob)
            return NULL;
    }
    *len_out = (int)st->blob_len;
    return st->blob_len ? st->blob : NULL;
}

/* ---- transactions ---- */

static int lite_run(sqldb *db, sqlite3_stmt **slot, const char *text)
{
    if (!*slot &&
        sqlite3_prepare_v3(db->lite, text, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK)
        return REG_ERROR;
    int rc = sqlite3_step(*slot);
    sqlite3_reset(*slot);
    return rc == SQLITE_DONE ? REG_OK : REG_ERROR;
}

int sqldb_out_of_space(sqldb *db)
{
    if (db->lite)
        return (sqlite3_extended_errcode(db->lite) & 0xff) == SQLITE_FULL;
    return db->disk_full;
}

int sqldb_begin_write(sqldb *db)
{
    if (db->lite)
        return lite_run(db, &db->begin, "BEGIN IMMEDIATE");
    if (pg_connected(db) < 0)
        return REG_ERROR;
    db->in_tx = 1;
    if (pg_exec(db, PG_BEGIN_WRITE, PGRES_TUPLES_OK) == REG_OK)
        return REG_OK;
    char why[sizeof(db->err)];
    memcpy(why, db->err, sizeof(why));
    sqldb_rollback(db);
    memcpy(db->err, why, sizeof(why));
    return REG_ERROR;
}

int sqldb_commit(sqldb *db)
{
    if (db->lite)
        return lite_run(db, &db->commit, "COMMIT");
    if (!db->in_tx) {
        sqldb_set_error(db, "no transaction to commit");
        return REG_ERROR;
    }
    /* A transaction that met an error is rolled back by COMMIT, which then reports ROLLBACK. */
    PGresult *res = PQexec(db->pg, "COMMIT");
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(res), "COMMIT") == 0;
    if (!ok && PQresultStatus(res) == PGRES_COMMAND_OK)
        sqldb_set_error(db, "the transaction was rolled back after an earlier error");
    else if (!ok)
        note_error(db, res);
    PQclear(res);
    db->in_tx = 0;
    return ok ? REG_OK : REG_ERROR;
}

void sqldb_rollback(sqldb *db)
{
    if (db->lite) {
        if (!sqlite3_get_autocommit(db->lite))
            lite_run(db, &db->rollback, "ROLLBACK");
        return;
    }
    if (db->in_tx && PQstatus(db->pg) == CONNECTION_OK)
        pg_exec(db, "ROLLBACK", PGRES_COMMAND_OK);
    db->in_tx = 0;
}

int sqldb_savepoint(sqldb *db)
{
    return lite_run(db, &db->savepoint, "SAVEPOINT member");
}

int sqldb_release(sqldb *db)
{
    return lite_run(db, &db->release, "RELEASE member");
}

int sqldb_rollback_to(sqldb *db)
{
    if (lite_run(db, &db->rollback_to, "ROLLBACK TO member") < 0)
        return REG_ERROR;
    return sqldb_release(db);
}

int sqldb_in_transaction(sqldb *db)
{
    return db->lite ? !sqlite3_get_autocommit(db->lite) : db->in_tx;
}

int sqldb_changes(sqldb *db)
{
    return db->lite ? sqlite3_changes(db->lite) : db->changes;
}
