/* index_writer.c - write transactions (see index.h): the writer a server's connections share,
 * and on SQLite its group commit, where transactions that meet other writers waiting share
 * one durable COMMIT. */
#include "storage/index/index.h"
#include "storage/index/index_internal.h"
#include "storage/base/reg_error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

int index_writer_open(index_writer **out, const char *location)
{
    index_writer *w = calloc(1, sizeof(*w));
    *out = NULL;
    if (!w)
        return reg_error_set(REG_ERROR, "out of memory");
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->group_lock, NULL);
    pthread_cond_init(&w->group_ended, NULL);
    w->group_max = INDEX_WRITER_GROUP_MAX;
    if (!index_is_shared(location) &&
        (index_open(&w->ix, location) < 0 ||
         index_checkpointer_start(&w->checkpointer, w->ix, location) < 0)) {
        index_writer_close(w);
        return REG_ERROR;
    }
    *out = w;
    return REG_OK;
}

void index_writer_close(index_writer *w)
{
    if (!w)
        return;
    index_checkpointer_stop(w->checkpointer, w->ix);
    index_close(w->ix);
    pthread_cond_destroy(&w->group_ended);
    pthread_mutex_destroy(&w->group_lock);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

void index_writer_attach(index_writer *w, index_db *ix)
{
    ix->writer = w;
}

void index_writer_counts(uint64_t *commits_out, uint64_t *transactions_out, index_writer *w)
{
    *commits_out = __atomic_load_n(&w->commits, __ATOMIC_RELAXED);
    *transactions_out = __atomic_load_n(&w->transactions, __ATOMIC_RELAXED);
}

uint64_t index_writer_checkpoints(index_writer *w)
{
    return index_checkpointer_count(w->checkpointer);
}

/* Writers of this process queue on the writer's mutex before asking SQLite for its write
 * lock: SQLite's busy handler polls with sleeps of up to 100 ms, a mutex hands the lock over
 * at once. Other processes (ocireg gc, backup) still meet the busy handler. The count of
 * threads waiting tells a transaction that ends whether its group can grow. */
static void take_writer(index_db *ix)
{
    index_writer *w = ix->writer;
    __atomic_add_fetch(&w->waiting, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&w->lock);
    __atomic_sub_fetch(&w->waiting, 1, __ATOMIC_SEQ_CST);
    ix->holds_writer = 1;
    ix->db = w->ix->own_db;
    ix->st = w->ix->own_st;
}

static void release_writer(index_db *ix)
{
    ix->holds_writer = 0;
    ix->db = ix->own_db;
    ix->st = ix->own_st;
    pthread_mutex_unlock(&ix->writer->lock);
}

/* A failed transaction's message is the writer connection's, which serves other connections
 * once released: make it this thread's message now, for index_errmsg. */
static void keep_write_error(index_db *ix)
{
    if (ix->holds_writer) {
        reg_error_set(REG_ERROR, "%s", sqldb_errmsg(ix->db));
        ix->writer_failed = 1;
    }
}

/* Give every member of the group its result and wake them; the group is over. Under w->lock.
 * A ticket lives on its member's stack until the member has seen `done`, which it reads
 * under group_lock, so each is read before that lock is let go. */
static void end_group(index_writer *w, int err, const char *msg)
{
    index_group_ticket *t = w->tickets;
    w->tickets = NULL;
    w->group_open = 0;
    w->group_members = 0;
    pthread_mutex_lock(&w->group_lock);
    while (t) {
        index_group_ticket *next = t->next;
        t->err = err;
        snprintf(t->msg, sizeof(t->msg), "%s", msg);
        t->done = 1;
        t = next;
    }
    pthread_cond_broadcast(&w->group_ended);
    pthread_mutex_unlock(&w->group_lock);
}

/* A full disk is the caller's REG_ENOSPACE (HTTP 507): blobs held in the index make the
 * commit the first write that meets it. */
static int failure_code(sqldb *db)
{
    return sqldb_out_of_space(db) ? REG_ENOSPACE : REG_ERROR;
}

/* SQLite rolls a transaction back by itself after some errors (disk full, I/O error): the
 * work of the group's members went with it. */
static void check_group_alive(index_writer *w)
{
    sqldb *db = w->ix->own_db;
    if (w->group_open && !sqldb_in_transaction(db)) {
        char msg[256];
        snprintf(msg, sizeof(msg), "the write transaction was rolled back: %s", sqldb_errmsg(db));
        end_group(w, failure_code(db), msg);
    }
}

/* The group's one COMMIT (a ROLLBACK when no member asked to commit); a failed COMMIT fails
 * every member. */
static void commit_group(index_writer *w)
{
    sqldb *db = w->ix->own_db;
    if (!w->group_open)
        return;
    if (!w->tickets) {
        sqldb_rollback(db);
        end_group(w, REG_OK, "");
        return;
    }
    __atomic_add_fetch(&w->commits, 1, __ATOMIC_RELAXED);
    if (sqldb_commit(db) == REG_OK) {
        end_group(w, REG_OK, "");
        return;
    }
    char msg[256];
    int err = failure_code(db);
    snprintf(msg, sizeof(msg), "%s: %s",
             err == REG_ENOSPACE ? "no space left for the index" : "commit failed",
             sqldb_errmsg(db));
    sqldb_rollback(db);
    end_group(w, err, msg);
}

/* The end of ix's transaction on the writer: while threads wait for the writer and the group
 * may grow, hand the writer on with the transaction open; else commit the group. */
static void leave_group(index_db *ix)
{
    index_writer *w = ix->writer;
    check_group_alive(w);
    if (__atomic_load_n(&w->waiting, __ATOMIC_SEQ_CST) == 0 || w->group_members >= w->group_max)
        commit_group(w);
    release_writer(ix);
}

/* On the writer, each transaction is a savepoint in its group's SQLite transaction, which
 * the group's first member begins. */
static int begin_on_writer(index_db *ix)
{
    index_writer *w = ix->writer;
    int err = REG_OK;
    take_writer(ix);
    check_group_alive(w);
    if (!w->group_open && (err = sqldb_begin_write(ix->db)) == REG_OK)
        w->group_open = 1;
    if (err == REG_OK)
        err = sqldb_savepoint(ix->db);
    if (err < 0) {
        keep_write_error(ix);
        leave_group(ix);
        return err;
    }
    w->group_members++;
    return REG_OK;
}

int index_begin(index_db *ix)
{
    ix->writer_failed = 0;
    if (ix->writer && ix->writer->ix)
        return begin_on_writer(ix);
    return sqldb_begin_write(ix->db);
}

/* Keep the transaction's work in the group, then wait for the group's COMMIT. */
static int commit_on_writer(index_db *ix)
{
    index_writer *w = ix->writer;
    index_group_ticket mine = {.err = REG_ERROR};
    if (sqldb_release(ix->db) < 0) {
        index_rollback(ix);
        return REG_ERROR;
    }
    mine.next = w->tickets;
    w->tickets = &mine;
    __atomic_add_fetch(&w->transactions, 1, __ATOMIC_RELAXED);
    leave_group(ix);
    pthread_mutex_lock(&w->group_lock);
    while (!mine.done)
        pthread_cond_wait(&w->group_ended, &w->group_lock);
    pthread_mutex_unlock(&w->group_lock);
    if (mine.err < 0) {
        reg_error_set(mine.err, "%s", mine.msg);
        ix->writer_failed = 1;
    }
    return mine.err;
}

int index_commit(index_db *ix)
{
    if (ix->holds_writer)
        return commit_on_writer(ix);
    if (ix->writer) {
        __atomic_add_fetch(&ix->writer->transactions, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&ix->writer->commits, 1, __ATOMIC_RELAXED);
    }
    if (sqldb_commit(ix->db) == REG_OK)
        return REG_OK;
    if (!sqldb_out_of_space(ix->db))
        return REG_ERROR;
    return reg_error_set(REG_ENOSPACE, "no space left for the index: %s", sqldb_errmsg(ix->db));
}

int index_end(index_db *ix, int err)
{
    if (err == REG_OK && (err = index_commit(ix)) == REG_OK)
        return REG_OK;
    index_rollback(ix);
    return err;
}

/* On the writer, only this transaction's savepoint is rolled back; should that fail, the
 * whole group's transaction is, so that no part of this one is committed. */
void index_rollback(index_db *ix)
{
    if (!ix->holds_writer) {
        sqldb_rollback(ix->db);
        return;
    }
    keep_write_error(ix);
    if (sqldb_in_transaction(ix->db) && sqldb_rollback_to(ix->db) < 0)
        sqldb_rollback(ix->db);
    leave_group(ix);
}
