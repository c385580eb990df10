/* gc_list.c - the sweep's listing on a thread of its own (see gc_list.h). The thread fills the
 * caller's array in digest order and publishes how far it got every GC_LIST_STEP rows; the
 * deleting thread waits only when it has caught up. */
#include "storage/gc_list.h"
#include "storage/base/reg_error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* Rows listed between two wake-ups of the deleting thread: often enough that it rarely waits,
 * seldom enough that the hand-over costs nothing next to the rows' probes. */
#define GC_LIST_STEP 64

struct gc_lister {
    index_db *reader;
    gc_blob *rows;
    size_t max, listed; /* listed: rows written, only the lister's */
    int64_t cutoff;
    char after[DIGEST_MAX];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t more;
    size_t published; /* rows the deleting thread may read; guarded by lock */
    int done, stop;   /* guarded by lock */
    int stopped;      /* the listing ended because stop was asked (only the lister's) */
    int err;          /* the listing's result, once done */
    char msg[REG_ERROR_MAX];
};

/* Hand the rows listed so far over; returns whether the deleting thread asked to stop. */
static int publish(gc_lister *l, int done)
{
    pthread_mutex_lock(&l->lock);
    l->published = l->listed;
    l->done = done;
    int stop = l->stop;
    pthread_cond_broadcast(&l->more);
    pthread_mutex_unlock(&l->lock);
    return stop;
}

static int take_row(void *ctx, const gc_blob *b)
{
    gc_lister *l = ctx;
    if (l->listed == l->max)
        return REG_OK;
    l->rows[l->listed++] = *b;
    if (l->listed % GC_LIST_STEP)
        return REG_OK;
    l->stopped = publish(l, 0);
    return l->stopped ? REG_EBUSY : REG_OK;
}

static void *list_rows(void *arg)
{
    gc_lister *l = arg;
    l->err = index_gc_unreferenced_each(l->reader, l->cutoff, l->after, l->max, take_row, l);
    if (l->err < 0)
        snprintf(l->msg, sizeof(l->msg), "%s", reg_error_last(index_errmsg(l->reader)));
    (void)publish(l, 1); /* the listing is over: a late stop changes nothing */
    return NULL;
}

int gc_lister_start(gc_lister **out, index_db *reader, gc_blob *rows, size_t max, int64_t cutoff,
                    const char *after)
{
    gc_lister *l = calloc(1, sizeof(*l));
    if (!l)
        return reg_error_set(REG_ERROR, "out of memory");
    *l = (gc_lister){.reader = reader, .rows = rows, .max = max, .cutoff = cutoff};
    snprintf(l->after, sizeof(l->after), "%s", after ? after : "");
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->more, NULL);
    if (pthread_create(&l->thread, NULL, list_rows, l) != 0) {
        pthread_cond_destroy(&l->more);
        pthread_mutex_destroy(&l->lock);
        free(l);
        return reg_error_set(REG_ERROR, "cannot start gc's listing thread");
    }
    *out = l;
    return REG_OK;
}

int gc_lister_wait(gc_lister *l, size_t i)
{
    pthread_mutex_lock(&l->lock);
    while (i >= l->published && !l->done)
        pthread_cond_wait(&l->more, &l->lock);
    int there = i < l->published;
    pthread_mutex_unlock(&l->lock);
    return there;
}

int gc_lister_finish(gc_lister *l, size_t *count)
{
    pthread_mutex_lock(&l->lock);
    l->stop = 1;
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL);
    int err = l->stopped ? REG_OK : l->err;
    if (err < 0)
        reg_error_set(err, "listing unreferenced blobs: %s", l->msg);
    *count = l->listed;
    pthread_cond_destroy(&l->more);
    pthread_mutex_destroy(&l->lock);
    free(l);
    return err;
}
