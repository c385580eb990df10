/* outbox.h - the workers that deliver the durable outbox (index_outbox.h): a few threads lease
 * due entries, hand each to the delivery function its kind registered, then mark it done or
 * reschedule it with exponential backoff and jitter, parking it after the last attempt. */
#ifndef OCIREG_OUTBOX_H
#define OCIREG_OUTBOX_H

#include "storage/index/index.h"
#include "storage/index/index_outbox.h"

#include <stddef.h>
#include <stdint.h>

#define OUTBOX_WORKERS_DEFAULT            4    /* serve --outbox-workers */
#define OUTBOX_MAX_ATTEMPTS_DEFAULT       10   /* serve --outbox-max-attempts: then parked */
#define OUTBOX_TARGET_CONCURRENCY_DEFAULT 4    /* serve --outbox-target-concurrency */
#define OUTBOX_RETRY_MS_DEFAULT           1000 /* serve --outbox-retry-ms: the first wait */
#define OUTBOX_RETRY_MAX_MS               (3600 * 1000LL) /* the longest wait between two attempts */
#define OUTBOX_LEASE_MS_DEFAULT           120000 /* serve --outbox-lease-ms (extended by copies) */
#define OUTBOX_POLL_MS                    1000 /* idle workers look again (retries, others' work) */
#define OUTBOX_DONE_KEEP_MS               (7 * 86400 * 1000LL) /* delivered entries kept for `deliveries` */

/* A delivery function's answer that the entry can never be delivered (its target is gone):
 * it is parked at once. Any other negative code retries it later. */
#define OUTBOX_PARK REG_EINVALID

/* Deliver one leased entry through ix (the worker's connection, attached to the writer; no
 * transaction open). REG_OK when delivered; otherwise a negative code with the reason in
 * reg_error_last (kept as the entry's last error: never put a secret in it). It must return
 * within the lease (outbox_lease_ms), or extend it. */
typedef int (*outbox_deliver_fn)(void *ctx, index_db *ix, const outbox_entry *e);

/* What a batch delivery says of each of its entries: REG_OK, or a negative code (OUTBOX_PARK
 * included) with the reason (no secrets) in `why`. */
#define OUTBOX_WHY_MAX 512
typedef struct outbox_outcome {
    int result;
    char why[OUTBOX_WHY_MAX];
} outbox_outcome;

/* Deliver entries[0..n-1], leased together: one repository and target of one kind, in commit
 * order (the first was the oldest pending there). Each gets its own outcome in out[i]; the
 * function must keep whatever order its kind promises (replication: tags moved in commit
 * order). The same rules of time and lease as outbox_deliver_fn, for every entry. */
typedef void (*outbox_deliver_batch_fn)(void *ctx, index_db *ix, const outbox_entry *entries,
                                        size_t n, outbox_outcome *out);
#define OUTBOX_BATCH_MAX 64 /* the most entries a kind may take in one batch */

/* The running outbox's lease in ms (OUTBOX_LEASE_MS_DEFAULT before a start). */
int64_t outbox_lease_ms(void);

/* From a delivery function: keep the entry's lease for outbox_lease_ms() more (a replication
 * of large blobs calls it between blobs). REG_ENOTFOUND when the lease was lost (another
 * worker may deliver the entry too: stop). Runs its own write transaction on ix. */
int outbox_extend_lease(index_db *ix, const outbox_entry *e);

/* Register how entries of `kind` are delivered, before outbox_start; ctx must outlive the
 * workers. REG_ECONFLICT when the kind has a function already. */
int outbox_register_kind(const char *kind, outbox_deliver_fn deliver, void *ctx);

/* Register a kind delivered in batches of up to batch_max (at most OUTBOX_BATCH_MAX) entries
 * of one repository and target: a worker that claims the oldest pending entry there takes
 * the due entries that follow it too. */
int outbox_register_batch_kind(const char *kind, outbox_deliver_batch_fn deliver, void *ctx,
                               int batch_max);

typedef struct outbox_options {
    const char *index_location; /* the store's db_path */
    index_writer *writer;       /* the server's */
    int workers;                /* 0: none start (another instance delivers) */
    int max_attempts;
    int target_concurrency; /* deliveries (entries, or batches) of one target at once,
                             * all instances */
    int64_t retry_ms;       /* the wait after the first failure; doubles each time */
    int64_t lease_ms;       /* a claim's lease (0: OUTBOX_LEASE_MS_DEFAULT) */
    int release_leases;     /* give back every lease first (SQLite: ours alone) */
} outbox_options;

typedef struct outbox outbox;
int outbox_start(outbox **out, const outbox_options *opt);
/* Stop the workers (each finishes the delivery it is in); NULL ok. */
void outbox_stop(outbox *o);

/* From any thread, after a commit that queued entries: idle workers look at once. */
void outbox_wake(void);

/* Process totals since start: deliveries that succeeded, attempts that failed. */
void outbox_counts(uint64_t *delivered_out, uint64_t *failed_out);

/* The wait before attempt `attempts` + 1: retry_ms * 2^(attempts - 1), at most
 * OUTBOX_RETRY_MAX_MS, of which a random part (`jitter`, 0..1) of the second half. */
int64_t outbox_backoff_ms(int64_t attempts, int64_t retry_ms, double jitter);

#endif
