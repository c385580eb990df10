/* index_internal.h - what the index*.c files share: the statements, the connection with its
 * statement cache and the stepping helpers. Not for use outside storage/index*.c. */
#ifndef OCIREG_INDEX_INTERNAL_H
#define OCIREG_INDEX_INTERNAL_H

#include "storage/index/index.h"
#include "storage/base/reg_error.h"
#include "storage/index/sqldb.h"

#include <pthread.h>

/* Every statement's slot in a connection's cache, numbered by the compiler from the one list
 * in statements.def. On PostgreSQL the slot also names the prepared statement ("s<slot>"). */
enum index_statement {
#define STATEMENT(name, text)                ST_##name,
#define STATEMENT_DIALECTS(name, sqlite, pg) ST_##name,
#include "storage/index/statements.def"
#undef STATEMENT
#undef STATEMENT_DIALECTS
    INDEX_SLOTS
};

/* The number of schema migrations (index.c), for fsck's check of a PostgreSQL schema. */
extern const int index_schema_version;

/* The most transactions one COMMIT makes durable: a member of a group waits for the group's
 * COMMIT, so the group must end even while writers keep arriving. */
#define INDEX_WRITER_GROUP_MAX 64

/* A member of a commit group waiting for the group's COMMIT, on its own stack. */
typedef struct index_group_ticket {
    struct index_group_ticket *next;
    int done;      /* set, under group_lock, when the group has ended */
    int err;       /* REG_OK once the COMMIT is durable */
    char msg[256]; /* why the group failed */
} index_group_ticket;

/* index_checkpoint.c: a server's WAL checkpoints, on a thread with its own connection. The
 * writer's commits signal it once the WAL holds INDEX_CHECKPOINT_FRAMES pages (SQLite's own
 * automatic threshold); it also looks every INDEX_CHECKPOINT_IDLE_MS for what other
 * processes left there. A commit that finds the WAL past INDEX_WAL_RESTART_FRAMES pages
 * copies the rest itself, so that the WAL can start over (16 MiB: steady writes would
 * otherwise grow it without end). Stop it before the writer's connection closes. */
#define INDEX_CHECKPOINT_FRAMES  1000
#define INDEX_WAL_RESTART_FRAMES 4096
#define INDEX_CHECKPOINT_IDLE_MS 2000
typedef struct index_checkpointer index_checkpointer;
int index_checkpointer_start(index_checkpointer **out, index_db *writer_ix, const char *location);
void index_checkpointer_stop(index_checkpointer *c, index_db *writer_ix);
uint64_t index_checkpointer_count(const index_checkpointer *c);

/* See index_writer_open and index_writer.c. */
struct index_writer {
    pthread_mutex_t lock; /* held from index_begin to the end of the transaction */
    index_db *ix;         /* SQLite: the connection the transactions run on; NULL on PostgreSQL */
    /* SQLite's group commit; all but `waiting` and the counters are guarded by `lock` */
    int waiting;                      /* threads waiting for `lock` (atomic) */
    int group_open;                   /* a transaction is open on ix for the current group */
    int group_members;                /* transactions begun in it */
    int group_max;                    /* INDEX_WRITER_GROUP_MAX */
    index_group_ticket *tickets;      /* its members that asked to commit */
    pthread_mutex_t group_lock;       /* guards the tickets' results */
    pthread_cond_t group_ended;       /* broadcast when a group's tickets are filled in */
    uint64_t commits;                 /* COMMITs run (atomic) */
    uint64_t transactions;            /* write transactions that asked to commit (atomic) */
    index_checkpointer *checkpointer; /* SQLite: copies the WAL into the database file */
};

struct index_db {
    sqldb *db;      /* the connection statements run on: own_db, or in a write transaction
                     * that took the writer (index_begin), the writer's */
    sqldb_stmt *st; /* the statement cache of that connection */
    sqldb *own_db;
    sqldb_stmt own_st[INDEX_SLOTS];
    index_writer *writer; /* attached with index_writer_attach, or NULL */
    int holds_writer;     /* in a transaction on the writer's connection, holding its mutex */
    int writer_failed;    /* the last transaction failed there: its message is this thread's
                           * reg_error_last, the writer's connection having moved on since */
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
/* Run a statement that changes rows: REG_OK when it changed at least one, REG_ENOTFOUND when
 * none, REG_ERROR when it failed (also for a NULL st). */
int index_run_changed(index_db *ix, sqldb_stmt *st);
/* Step once for a one-row query: REG_OK with its first column in *out (st is reset),
 * REG_ENOTFOUND without a row, or REG_ERROR (also for a NULL st). */
int index_row_int64(int64_t *out, sqldb_stmt *st);
/* Step once: REG_OK when the query has a row (st is reset), REG_ENOTFOUND, or REG_ERROR. */
int index_row_exists(sqldb_stmt *st);
/* The row loop: `int err = REG_OK; while (index_next(st, &err)) err = use_the_row(...);
 * return err;`. Steps st to its next row and returns 1 while *err is REG_OK and a row is
 * there; else resets st and returns 0, leaving *err as it was (a callback's error), or
 * REG_ERROR when the step failed or st is NULL. Rows that run out leave *err REG_OK. */
int index_next(sqldb_stmt *st, int *err);
/* Feed the first column of up to `limit` rows of st to cb: st asks for limit + 1 rows, and
 * *more_out says whether that one extra row came. */
int index_page_names(int *more_out, sqldb_stmt *st, int64_t limit, index_name_cb cb, void *ctx);
/* Statement `id` with text bound to ?1 (and b to ?2); NULL if it could not be prepared. */
sqldb_stmt *index_stmt_text(index_db *ix, enum index_statement id, const char *a);
sqldb_stmt *index_stmt_text2(index_db *ix, enum index_statement id, const char *a, const char *b);
/* Statement `id` with a repository id bound to ?1 and text to ?2; NULL if not prepared. */
sqldb_stmt *index_stmt_repo_text(index_db *ix, enum index_statement id, int64_t repo_id,
                                 const char *text);
/* Bind len bytes at p, or SQL NULL when there are none (a password or secret not set). */
static inline void index_bind_bytes(sqldb_stmt *st, int i, const void *p, size_t len)
{
    if (p && len)
        sqldb_bind_blob(st, i, p, (int)len);
    else
        sqldb_bind_null(st, i);
}
int index_changes(index_db *ix);
/* A text column as a malloc'd copy ("" for SQL NULL); NULL only when out of memory. */
char *index_column_copy(sqldb_stmt *st, int col);

struct image_info;
/* Call cb(ctx, img) for each row of st, an image row (IMAGES; IMAGE_PAGE and IMAGE_ONE when
 * `counted`, their column 9 the tag count), stopping at the first error it returns; st is reset
 * at the end. REG_OK once every row is read. */
int index_each_image(sqldb_stmt *st, int counted,
                     int (*cb)(void *ctx, const struct image_info *img), void *ctx);

#endif
