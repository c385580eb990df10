/* parallel.c - parallel_for (see parallel.h): the threads take the next index from a shared
 * atomic counter, so a slow call holds up no other. */
#include "storage/base/parallel.h"

#include <pthread.h>
#include <stdatomic.h>

#define MAX_THREADS 16

typedef struct job {
    atomic_size_t next;
    size_t n;
    void (*fn)(void *ctx, size_t i);
    void *ctx;
} job;

static void *run(void *arg)
{
    job *j = arg;
    for (size_t i; (i = atomic_fetch_add(&j->next, 1)) < j->n;)
        j->fn(j->ctx, i);
    return NULL;
}

void parallel_for(size_t n, unsigned threads, void (*fn)(void *ctx, size_t i), void *ctx)
{
    pthread_t tids[MAX_THREADS];
    unsigned started = 0;
    job j = {.n = n, .fn = fn, .ctx = ctx};
    atomic_init(&j.next, 0);
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    while (started + 1 < threads && started + 1 < n &&
           pthread_create(&tids[started], NULL, run, &j) == 0)
        started++;
    run(&j);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
}
