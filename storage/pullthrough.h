/* pullthrough.h - the pull-through cache: fills a cached repository's manifests and blobs from
 * its upstream registry (storage/remote), each digest verified before anything is stored, each
 * fetched once per instance however many clients ask at once, blobs streamed to their clients
 * while they are stored. */
#ifndef OCIREG_PULLTHROUGH_H
#define OCIREG_PULLTHROUGH_H

#include "storage/base/reference.h"
#include "storage/index/index_cache.h"
#include "storage/remote/remote.h"
#include "storage/store.h"

#include <stdint.h>
#include <sys/types.h>

/* After a failed re-check of a cached tag, the next one waits this long (or the rule's TTL when
 * shorter): an upstream that is down is not asked again by every pull. */
#define PULLTHROUGH_RETRY_SECONDS 60

typedef struct pullthrough pullthrough;

/* Receives one line for the log (upstream failures, stale copies served). */
typedef void (*pullthrough_log_fn)(const char *line);

/* How long a blob fill may take: after `grace_seconds` it must have averaged `min_rate` bytes
 * a second (0: any rate), or it is cut off. */
typedef struct pullthrough_limits {
    int64_t grace_seconds;
    uint64_t min_rate;
} pullthrough_limits;

/* The cache of a store whose index connections attach to writer w (blob fills run on threads of
 * their own, with their own index connection). */
int pullthrough_new(pullthrough **out, store *s, index_writer *w, const pullthrough_limits *limits,
                    pullthrough_log_fn log);
/* Waits for fills under way (they end by the upstream's timeouts). NULL ok. */
void pullthrough_free(pullthrough *pt);

/* Where a cached repository comes from: its rule, and the rule's upstream with the password
 * opened by the caller's layer (auth/sealed.h). */
typedef struct pullthrough_source {
    const cache_rule *rule;
    const remote_endpoint *ep;
    const char *repo; /* the cached repository, "<rule prefix>/<path>" */
} pullthrough_source;

/* Whether a manifest the repository holds (`cached`) can be served without asking the upstream:
 * one by digest always, a tag checked within its rule's TTL. */
int pullthrough_fresh(index_db *ix, const cache_rule *rule, const char *repo, const reference *ref,
                      int cached);

/* Make manifest `ref` of src->repo present and, for a tag, fresh: a tag is checked upstream
 * (HEAD) at most once per rule TTL and followed when it moved; a digest is fetched only when
 * missing. `cached`: whether the repository holds `ref` now. REG_OK: read it from the index now
 * (*stale_out is 1 when the upstream failed and the cached copy stands, reg_error_last saying
 * why). Otherwise nothing was stored: REG_ENOTFOUND when the upstream has no such manifest,
 * REG_EMISMATCH when its bytes do not have their digest, another code when it failed. */
int pullthrough_manifest(int *stale_out, pullthrough *pt, index_db *ix,
                         const pullthrough_source *src, const reference *ref, int cached);

typedef struct pullthrough_reader pullthrough_reader;

/* Start the fill of blob d into src->repo, or join the one under way. REG_OK with *out set
 * and its size in *size_out (-1: unknown), or with *out NULL when the blob was stored
 * meanwhile (read it from the store). REG_ENOTFOUND when the upstream has no such blob,
 * REG_ETOOLARGE over the store's max_blob_size, another code when the upstream failed. */
int pullthrough_blob(pullthrough_reader **out, int64_t *size_out, pullthrough *pt, index_db *ix,
                     const pullthrough_source *src, const digest *d);
/* Bytes of the blob from pos into out, waiting at most wait_ms for some: REG_EBUSY when none
 * came meanwhile (ask again), 0 at the end, which comes only once every byte has the blob's
 * digest (its last byte is held back until then), another negative code when the fill failed
 * (reg_error_last says why). */
ssize_t pullthrough_read(pullthrough_reader *r, uint64_t pos, char *out, size_t max, int wait_ms);
/* Wait for the fill's end: REG_OK once the blob is stored. */
int pullthrough_wait(pullthrough_reader *r);
void pullthrough_reader_free(pullthrough_reader *r); /* NULL ok */

typedef struct pullthrough_stats {
    uint64_t manifest_fills;    /* manifests fetched and stored */
    uint64_t blob_fills;        /* blobs fetched, verified and stored */
    uint64_t blob_bytes;        /* their bytes */
    uint64_t upstream_failures; /* fetches and checks that failed, whatever was served */
    uint64_t stale_served;      /* cached tags served after a failed check */
    uint64_t joined;            /* requests served by another request's fetch */
} pullthrough_stats;

void pullthrough_stats_get(pullthrough_stats *out, pullthrough *pt);

#endif
