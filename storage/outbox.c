/* outbox.c - the outbox's workers (see outbox.h). */
#include "storage/outbox.h"
#include "storage/base/datetime.h"
#include "storage/base/random.h"
#include "storage/base/reg_error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_KINDS      8
#define MAX_WORKERS    64
#define PURGE_EVERY_MS (60 * 1000)

static struct kind {
    char name[32];
    outbox_deliver_fn deliver;             /* one entry at a time, or */
    outbox_deliver_batch_fn deliver_batch; /* up to batch_max */
    int batch_max;
    void *ctx;
} kinds[MAX_KINDS];
static int nkinds;
/* This process's lease owner, the running outbox's: its claims, renewals and settlements. */
static char lease_owner[RANDOM_UUID_LEN + 1];
static int64_t lease_ms = OUTBOX_LEASE_MS_DEFAULT; /* and its lease */

/* Wake-ups: a counter under a lock, so that a wake between a worker's look and its wait is
 * not lost. */
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static uint64_t wakes;
static uint64_t delivered_total, failed_total;

struct outbox {
    outbox_options opt;
    pthread_t threads[MAX_WORKERS];
    int nthreads;
    int stopping; /* under wake_lock */
};

static int add_kind(const char *kind, outbox_deliver_fn deliver,
                    outbox_deliver_batch_fn deliver_batch, int batch_max, void *ctx)
{
    for (int i = 0; i < nkinds; i++)
        if (!strcmp(kinds[i].name, kind))
            return reg_error_set(REG_ECONFLICT, "outbox kind %s is registered already", kind);
    if (nkinds == MAX_KINDS || strlen(kind) >= sizeof(kinds[0].name) || batch_max < 1 ||
        batch_max > OUTBOX_BATCH_MAX)
        return reg_error_set(REG_EINVALID, "cannot register outbox kind %s", kind);
    snprintf(kinds[nkinds].name, sizeof(kinds[0].name), "%s", kind);
    kinds[nkinds].deliver = deliver;
    kinds[nkinds].deliver_batch = deliver_batch;
    kinds[nkinds].batch_max = batch_max;
    kinds[nkinds].ctx = ctx;
    nkinds++;
    return REG_OK;
}

int outbox_register_kind(const char *kind, outbox_deliver_fn deliver, void *ctx)
{
    return add_kind(kind, deliver, NULL, 1, ctx);
}

int outbox_register_batch_kind(const char *kind, outbox_deliver_batch_fn deliver, void *ctx,
                               int batch_max)
{
    return add_kind(kind, NULL, deliver, batch_max, ctx);
}

static const struct kind *kind_of(const char *name)
{
    for (int i = 0; i < nkinds; i++)
        if (!strcmp(kinds[i].name, name))
            return &kinds[i];
    return NULL;
}

/* One idle worker at a time: a worker that finds an entry wakes the next (more may be due),
 * so a burst ramps up to every worker while a single entry costs one claim, not one a worker. */
void outbox_wake(void)
{
    pthread_mutex_lock(&wake_lock);
    wakes++;
    pthread_cond_signal(&wake_cond);
    pthread_mutex_unlock(&wake_lock);
}

void outbox_counts(uint64_t *delivered_out, uint64_t *failed_out)
{
    *delivered_out = __atomic_load_n(&delivered_total, __ATOMIC_RELAXED);
    *failed_out = __atomic_load_n(&failed_total, __ATOMIC_RELAXED);
}

int64_t outbox_backoff_ms(int64_t attempts, int64_t retry_ms, double jitter)
{
    int64_t wait = retry_ms > 0 ? retry_ms : 1;
    for (int64_t i = 1; i < attempts && wait < OUTBOX_RETRY_MAX_MS; i++)
        wait *= 2;
    if (wait > OUTBOX_RETRY_MAX_MS)
        wait = OUTBOX_RETRY_MAX_MS;
    jitter = jitter < 0 ? 0 : jitter > 1 ? 1 : jitter;
    return wait - wait / 2 + (int64_t)((double)(wait / 2) * jitter);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double random_fraction(void)
{
    uint32_t r = 0;
    random_bytes(&r, sizeof(r));
    return (double)r / 4294967295.0;
}

int64_t outbox_lease_ms(void)
{
    return __atomic_load_n(&lease_ms, __ATOMIC_RELAXED);
}

int outbox_extend_lease(index_db *ix, const outbox_entry *e)
{
    int err = index_begin(ix);
    if (err < 0)
        return err;
    if ((err = index_outbox_renew(ix, e->id, lease_owner, now_ms() + outbox_lease_ms())) < 0 ||
        (err = index_commit(ix)) < 0)
        index_rollback(ix);
    return err;
}

/* A claimed head entry and, for a batch kind, the entries that follow it. */
typedef struct batch {
    outbox_entry e[OUTBOX_BATCH_MAX];
    size_t n;
    outbox_outcome out[OUTBOX_BATCH_MAX];
} batch;

static void batch_clear(batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        index_outbox_entry_clear(&b->e[i]);
    b->n = 0;
}

/* One write transaction around a claim: the head entry, then what follows it when its kind
 * takes batches. */
static int claim(batch *b, outbox *o, index_db *ix)
{
    int64_t now = now_ms(), until = now + outbox_lease_ms();
    size_t more = 0;
    b->n = 0;
    int err = index_begin(ix);
    if (err < 0)
        return err;
    err = index_outbox_claim(&b->e[0], ix, lease_owner, now, until, o->opt.target_concurrency);
    if (err == REG_OK)
        b->n = 1;
    const struct kind *k = err == REG_OK ? kind_of(b->e[0].kind) : NULL;
    if (k && k->batch_max > 1 &&
        (err = index_outbox_claim_following(&b->e[1], (size_t)k->batch_max - 1, &more, ix, &b->e[0],
                                            lease_owner, now, until)) == REG_OK)
        b->n += more;
    if (err == REG_OK)
        err = index_commit(ix);
    if (err < 0) {
        index_rollback(ix);
        batch_clear(b);
    }
    return err;
}

/* Whether a failed delivery parks its entry rather than retrying it. */
static int parks(const outbox *o, const outbox_entry *e, int result)
{
    return result != REG_OK && (result == OUTBOX_PARK || e->attempts >= o->opt.max_attempts);
}

static int settle_one(outbox *o, index_db *ix, const outbox_entry *e, int result, const char *why,
                      int64_t now)
{
    int park = parks(o, e, result);
    int err = result == REG_OK
                  ? index_outbox_done(ix, e->id, lease_owner, now)
                  : index_outbox_retry(
                        ix, e->id, lease_owner,
                        now + outbox_backoff_ms(e->attempts, o->opt.retry_ms, random_fraction()),
                        why, park, now);
    /* the lease ran out and another worker has it: theirs now */
    return err == REG_ENOTFOUND ? REG_OK : err;
}

/* Every entry of the batch done, rescheduled or parked, in one write transaction. */
static int settle(outbox *o, index_db *ix, const batch *b)
{
    int64_t now = now_ms();
    int err = index_begin(ix);
    for (size_t i = 0; err == REG_OK && i < b->n; i++)
        err = settle_one(o, ix, &b->e[i], b->out[i].result, b->out[i].why, now);
    if (err == REG_OK && (err = index_commit(ix)) == REG_OK)
        return REG_OK;
    index_rollback(ix);
    return err;
}

static void run_delivery(const struct kind *k, index_db *ix, batch *b)
{
    if (k && k->deliver_batch) {
        for (size_t i = 0; i < b->n; i++)
            b->out[i].result = REG_OK, b->out[i].why[0] = '\0';
        k->deliver_batch(k->ctx, ix, b->e, b->n, b->out);
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        reg_error_clear();
        int result =
            k ? k->deliver(k->ctx, ix, &b->e[i])
              : reg_error_set(REG_ERROR, "no delivery for outbox entries of kind %s", b->e[i].kind);
        b->out[i].result = result;
        snprintf(b->out[i].why, sizeof(b->out[i].why), "%s",
                 result == REG_OK ? "" : reg_error_last("delivery failed"));
    }
}

static void deliver(outbox *o, index_db *ix, batch *b)
{
    run_delivery(kind_of(b->e[0].kind), ix, b);
    for (size_t i = 0; i < b->n; i++) {
        if (b->out[i].result < 0 && !b->out[i].why[0])
            snprintf(b->out[i].why, sizeof(b->out[i].why), "delivery failed");
        __atomic_add_fetch(b->out[i].result == REG_OK ? &delivered_total : &failed_total, 1,
                           __ATOMIC_RELAXED);
    }
    if (settle(o, ix, b) < 0) {
        fprintf(stderr, "ocireg: outbox entry %lld: cannot record its delivery: %s\n",
                (long long)b->e[0].id, index_errmsg(ix));
    } else {
        for (size_t i = 0; i < b->n; i++) {
            const outbox_entry *e = &b->e[i];
            if (parks(o, e, b->out[i].result))
                fprintf(stderr,
                        "ocireg: outbox entry %lld (%s %s, %s) parked after %lld attempts: %s\n",
                        (long long)e->id, e->kind, e->target, e->repository, (long long)e->attempts,
                        b->out[i].why);
        }
    }
    /* Its end may let the next entry of its repository, or of its target, go. */
    outbox_wake();
}

/* Whether an entry is due: a read, so that idle workers take no write lock. */
static int something_due(index_db *ix, int64_t *due_out)
{
    int64_t now = now_ms();
    *due_out = 0;
    return index_outbox_next_due(due_out, ix, now) == REG_OK && *due_out <= now;
}

/* Sleep until woken after `seen`, until `due` (the next entry's time, 0: none), or for
 * OUTBOX_POLL_MS. */
static void wait_for_work(outbox *o, int64_t due, uint64_t seen)
{
    int64_t now = now_ms(), wait = OUTBOX_POLL_MS;
    if (due > now && due - now < wait)
        wait = due - now;
    struct timespec until = datetime_deadline_in((int)wait);
    pthread_mutex_lock(&wake_lock);
    while (!o->stopping && wakes == seen)
        if (pthread_cond_timedwait(&wake_cond, &wake_lock, &until) != 0)
            break;
    pthread_mutex_unlock(&wake_lock);
}

static int stopping(outbox *o, uint64_t *seen_out)
{
    pthread_mutex_lock(&wake_lock);
    int stop = o->stopping;
    *seen_out = wakes;
    pthread_mutex_unlock(&wake_lock);
    return stop;
}

static void purge(index_db *ix)
{
    if (index_begin(ix) < 0)
        return;
    if (index_outbox_purge(ix, now_ms() - OUTBOX_DONE_KEEP_MS) < 0 || index_commit(ix) < 0)
        index_rollback(ix);
}

static void *worker_main(void *arg)
{
    outbox *o = arg;
    index_db *ix = NULL;
    uint64_t seen;
    int64_t last_purge = 0;
    batch *b = calloc(1, sizeof(*b)); /* ~36 KiB: not on a worker's stack */
    if (!b || index_open(&ix, o->opt.index_location) < 0) {
        free(b);
        fprintf(stderr, "ocireg: outbox worker cannot open the index: %s\n",
                reg_error_last("unknown error"));
        return NULL;
    }
    index_writer_attach(o->opt.writer, ix);
    while (!stopping(o, &seen)) {
        int64_t due;
        if (something_due(ix, &due) && claim(b, o, ix) == REG_OK) {
            outbox_wake();
            deliver(o, ix, b);
            batch_clear(b);
            continue;
        }
        if (now_ms() - last_purge > PURGE_EVERY_MS) {
            last_purge = now_ms();
            purge(ix);
        }
        /* Due but not claimable (an older entry of its repository is in flight, its target
         * is at its limit): the end of that delivery wakes us, or the poll. */
        wait_for_work(o, due, seen);
    }
    index_close(ix);
    free(b);
    return NULL;
}

static int release_leases(const outbox_options *opt)
{
    index_db *ix = NULL;
    int err = index_open(&ix, opt->index_location);
    if (err == REG_OK) {
        index_writer_attach(opt->writer, ix);
        if ((err = index_begin(ix)) == REG_OK &&
            ((err = index_outbox_release_all(ix)) < 0 || (err = index_commit(ix)) < 0))
            index_rollback(ix);
    }
    index_close(ix);
    return err;
}

int outbox_start(outbox **out, const outbox_options *opt)
{
    outbox *o = calloc(1, sizeof(*o));
    *out = NULL;
    if (!o)
        return reg_error_set(REG_ERROR, "out of memory");
    o->opt = *opt;
    if (o->opt.workers > MAX_WORKERS)
        o->opt.workers = MAX_WORKERS;
    int err = random_uuid(lease_owner);
    __atomic_store_n(&lease_ms, opt->lease_ms > 0 ? opt->lease_ms : OUTBOX_LEASE_MS_DEFAULT,
                     __ATOMIC_RELAXED);
    if (err == REG_OK && opt->release_leases && opt->workers > 0)
        err = release_leases(opt);
    for (int i = 0; err == REG_OK && i < o->opt.workers; i++) {
        if (pthread_create(&o->threads[i], NULL, worker_main, o) != 0)
            err = reg_error_set(REG_ERROR, "cannot start an outbox worker");
        else
            o->nthreads++;
    }
    if (err < 0) {
        outbox_stop(o);
        return err;
    }
    *out = o;
    return REG_OK;
}

void outbox_stop(outbox *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&wake_lock);
    o->stopping = 1;
    pthread_cond_broadcast(&wake_cond);
    pthread_mutex_unlock(&wake_lock);
    for (int i = 0; i < o->nthreads; i++)
        pthread_join(o->threads[i], NULL);
    free(o);
}
