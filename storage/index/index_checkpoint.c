/* index_checkpoint.c - a server's WAL checkpoints, on a thread of their own (see
 * index_internal.h). SQLite's automatic checkpoint runs inside the COMMIT that crosses its
 * threshold, so one push in every thousand pages written paid for copying them all into the
 * database file and its fsync, and `ocireg gc` paid for its own. Here the writer's commits
 * only signal, and a thread with its own connection copies while writers go on (PASSIVE: it
 * never waits for a reader or a writer). It also looks every INDEX_CHECKPOINT_IDLE_MS, for
 * what other processes (gc, import) left in the WAL. And the settings of batch jobs'
 * connections, which leave their checkpoints to it (index_tune_for_batch, _for_scan). */
#include "storage/index/index_internal.h"
#include "storage/base/datetime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct index_checkpointer {
    index_db *ix; /* its own connection to the index */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_mutex_t copying; /* held by whoever copies: the thread, or a commit (bound_wal) */
    int due;                 /* the WAL reached INDEX_CHECKPOINT_FRAMES (under lock) */
    int stop;                /* under lock */
    uint64_t checkpoints;    /* checkpoints that copied frames (atomic) */
    int last_log;            /* the WAL's length when the last checkpoint ended (thread only) */
    int copied_upto;         /* the WAL pages that checkpoint had copied (written by the thread,
                              * read by the commits: atomic) */
    int bound_tried_at;      /* the WAL's length at the commits' last copy (bound_wal; the
                              * commits' only, under the writer's mutex) */
};

/* SQLite starts the WAL over only when a write transaction begins with every page of it
 * copied, which a checkpoint beside steady writes never achieves: a WAL past
 * INDEX_WAL_RESTART_FRAMES has the commit (on the writer's connection, its mutex held, so
 * no write comes between) copy what the thread has not, once per INDEX_CHECKPOINT_FRAMES
 * pages more while readers keep it from starting over. A copy the thread has under way is
 * left to finish, and the next commit tries again, until the WAL is INDEX_CHECKPOINT_FRAMES
 * past the bound: from there the commit waits for it (skipping every time let the WAL grow
 * by a transaction for each commit that copy outlasted, the disk busy:
 * tests/unit/test_index_writer.c). Another process's checkpoint (gc's close) is tried again
 * at the next commit. */
static void bound_wal(index_checkpointer *c, sqlite3 *db, int frames)
{
    if (frames < c->bound_tried_at)
        c->bound_tried_at = 0; /* it started over */
    if (frames < INDEX_WAL_RESTART_FRAMES ||
        (c->bound_tried_at && frames - c->bound_tried_at < INDEX_CHECKPOINT_FRAMES))
        return;
    if (frames < INDEX_WAL_RESTART_FRAMES + INDEX_CHECKPOINT_FRAMES) {
        if (pthread_mutex_trylock(&c->copying) != 0)
            return; /* the thread's copy: the next commit tries again */
    } else {
        pthread_mutex_lock(&c->copying);
    }
    int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_unlock(&c->copying);
    if (rc != SQLITE_OK)
        return;
    c->bound_tried_at = frames;
    __atomic_add_fetch(&c->checkpoints, 1, __ATOMIC_RELAXED);
}

/* The writer's commits: SQLite calls this after each one with the WAL's length in pages. A
 * checkpoint is due once INDEX_CHECKPOINT_FRAMES pages came after those the last one copied
 * (counted from the start of a WAL that started over shorter than that): a WAL that cannot
 * start over while readers use it would otherwise have every commit wake a checkpoint, and an
 * fsync (the small push with 1 client lost a fifth of its rate to that). */
static int on_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
    index_checkpointer *c = arg;
    int upto = __atomic_load_n(&c->copied_upto, __ATOMIC_RELAXED);
    (void)name;
    bound_wal(c, db, frames);
    if (frames < upto)
        upto = 0;
    if (frames - upto >= INDEX_CHECKPOINT_FRAMES) {
        pthread_mutex_lock(&c->lock);
        c->due = 1;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
    }
    return SQLITE_OK;
}

static void wait_due(index_checkpointer *c)
{
    struct timespec until = datetime_deadline_in(INDEX_CHECKPOINT_IDLE_MS);
    while (!c->due && !c->stop)
        if (pthread_cond_timedwait(&c->wake, &c->lock, &until) == ETIMEDOUT)
            break;
    c->due = 0;
}

/* A checkpoint that finds nothing new to copy costs a few reads of the WAL index, and is
 * not counted. */
static void checkpoint(index_checkpointer *c, sqlite3 *db)
{
    int log = 0, copied = 0;
    pthread_mutex_lock(&c->copying);
    int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    pthread_mutex_unlock(&c->copying);
    if (rc != SQLITE_OK)
        return; /* another checkpoint is running (gc's close): the next one catches up */
    int before = __atomic_load_n(&c->copied_upto, __ATOMIC_RELAXED);
    if (copied > 0 && (log != c->last_log || copied != before))
        __atomic_add_fetch(&c->checkpoints, 1, __ATOMIC_RELAXED);
    c->last_log = log;
    __atomic_store_n(&c->copied_upto, copied, __ATOMIC_RELAXED);
}

static void *run(void *arg)
{
    index_checkpointer *c = arg;
    sqlite3 *db = sqldb_sqlite(c->ix->own_db);
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        wait_due(c);
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->lock);
        checkpoint(c, db);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int index_checkpointer_start(index_checkpointer **out, index_db *writer_ix, const char *location)
{
    index_checkpointer *c = calloc(1, sizeof(*c));
    *out = NULL;
    if (!c)
        return reg_error_set(REG_ERROR, "out of memory");
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->copying, NULL);
    pthread_cond_init(&c->wake, NULL);
    if (index_open(&c->ix, location) < 0)
        goto fail;
    if (pthread_create(&c->thread, NULL, run, c) != 0) {
        reg_error_set(REG_ERROR, "cannot start the index checkpoint thread");
        goto fail;
    }
    /* Replaces SQLite's automatic checkpoint on the writer's connection. */
    sqlite3_wal_hook(sqldb_sqlite(writer_ix->own_db), on_commit, c);
    *out = c;
    return REG_OK;
fail:
    index_close(c->ix);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->copying);
    pthread_mutex_destroy(&c->lock);
    free(c);
    return REG_ERROR;
}

void index_checkpointer_stop(index_checkpointer *c, index_db *writer_ix)
{
    if (!c)
        return;
    sqlite3_wal_hook(sqldb_sqlite(writer_ix->own_db), NULL, NULL);
    pthread_mutex_lock(&c->lock);
    c->stop = 1;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    index_close(c->ix);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->copying);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

uint64_t index_checkpointer_count(const index_checkpointer *c)
{
    return c ? __atomic_load_n(&c->checkpoints, __ATOMIC_RELAXED) : 0;
}

void index_tune_for_batch(index_db *ix)
{
    if (sqldb_is_pg(ix->own_db))
        return;
    sqlite3 *db = sqldb_sqlite(ix->own_db);
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA cache_size = -%d", INDEX_BATCH_CACHE_KIB);
    sqlite3_exec(db, pragma, NULL, NULL, NULL); /* a smaller cache only costs time */
    sqlite3_wal_autocheckpoint(db, 0);
}

void index_tune_for_scan(index_db *ix)
{
    if (sqldb_is_pg(ix->own_db))
        return;
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA mmap_size = %lld", (long long)INDEX_SCAN_MMAP_BYTES);
    /* without the mapping, pages are read into the cache: slower, same rows */
    sqlite3_exec(sqldb_sqlite(ix->own_db), pragma, NULL, NULL, NULL);
}
