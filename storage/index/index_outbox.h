/* index_outbox.h - the durable outbox in the index: entries (a webhook event, a replication)
 * queued inside the write transaction of the change they describe, leased by one worker at a
 * time, then done, rescheduled or parked. storage/outbox.c runs the workers. Times are ms. */
#ifndef OCIREG_INDEX_OUTBOX_H
#define OCIREG_INDEX_OUTBOX_H

#include "storage/index/index.h"

#include <stdint.h>

/* An entry as a worker leases it; the strings are malloc'd (index_outbox_entry_clear). */
typedef struct outbox_entry {
    int64_t id;   /* commit order */
    char *kind;   /* "webhook", "replication", ... */
    char *target; /* a webhook name, a destination id */
    char *repository;
    char *payload; /* JSON, fixed at insert time */
    int64_t created;
    int64_t attempts; /* this one included */
} outbox_entry;
void index_outbox_entry_clear(outbox_entry *e);

/* Inside a write transaction: one entry of `kind` for `target`. */
int index_outbox_queue(index_db *ix, const char *kind, const char *target, const char *repo,
                       const char *payload, int64_t now);
/* Inside a write transaction: one "webhook" entry for every webhook whose events include
 * `event_bit` and whose repository prefix `repo` starts with; *queued_out says how many. */
int index_outbox_queue_webhooks(int *queued_out, index_db *ix, unsigned event_bit, const char *repo,
                                const char *payload, int64_t now);

/* Inside a write transaction: lease the oldest due entry to `owner` until `lease_until`,
 * counting the attempt. Skipped: an entry while an older one of its repository and target is
 * pending (commit order), and every entry of a target with `target_cap` deliveries leased
 * (repositories: a batch of index_outbox_claim_following counts once).
 * REG_ENOTFOUND when none is due. */
int index_outbox_claim(outbox_entry *out, index_db *ix, const char *owner, int64_t now,
                       int64_t lease_until, int64_t target_cap);
/* In the transaction of the claim of `head`: lease to `owner` the entries of head's kind,
 * target and repository that follow it in commit order, due and not leased, up to `max`,
 * stopping before the first that is not due or is leased. They go to out[] in commit order
 * (the caller clears each); *n_out says how many. */
int index_outbox_claim_following(outbox_entry *out, size_t max, size_t *n_out, index_db *ix,
                                 const outbox_entry *head, const char *owner, int64_t now,
                                 int64_t lease_until);
/* Keep the lease of a long delivery until `lease_until`; REG_ENOTFOUND when it was lost. */
int index_outbox_renew(index_db *ix, int64_t id, const char *owner, int64_t lease_until);
/* The leased entry delivered; REG_ENOTFOUND when `owner` lost its lease meanwhile. */
int index_outbox_done(index_db *ix, int64_t id, const char *owner, int64_t now);
/* The leased entry failed: due again at next_attempt, or parked (kept, never tried again
 * until redelivered) when `park`, with `error` recorded. */
int index_outbox_retry(index_db *ix, int64_t id, const char *owner, int64_t next_attempt,
                       const char *error, int park, int64_t now);
/* Every lease given back (SQLite at serve start: no other process delivers from it). */
int index_outbox_release_all(index_db *ix);
/* When the next entry a claim at `now` could take falls due (the oldest pending entry of its
 * repository and target, not leased); REG_ENOTFOUND when there is none. */
int index_outbox_next_due(int64_t *out, index_db *ix, int64_t now);
/* Pending entries and the creation time of the oldest (0 when none). */
int index_outbox_stats(int64_t *depth_out, int64_t *oldest_out, index_db *ix);
/* Parked entries, of every kind and target. */
int index_outbox_parked(int64_t *count_out, index_db *ix);
/* Delete entries done before `before`. */
int index_outbox_purge(index_db *ix, int64_t before);

typedef struct outbox_row {
    int64_t id, attempts, created, updated;
    const char *state; /* pending, parked, done */
    const char *repository;
    const char *payload;
    const char *last_error; /* NULL when none */
} outbox_row;
typedef int (*outbox_row_cb)(void *ctx, const outbox_row *row);
/* The newest `limit` entries of kind + target (only parked ones with parked_only). */
int index_outbox_list(index_db *ix, const char *kind, const char *target, int parked_only,
                      int64_t limit, outbox_row_cb cb, void *ctx);
/* Make entry `id` (or, with id < 0, every parked entry) of kind + target pending again with
 * no attempts; *count_out says how many. A leased entry is left alone. */
int index_outbox_redeliver(int64_t *count_out, index_db *ix, const char *kind, const char *target,
                           int64_t id, int64_t now);
/* Drop every entry of kind + target (the target is deleted). */
int index_outbox_drop_target(index_db *ix, const char *kind, const char *target);

#endif
