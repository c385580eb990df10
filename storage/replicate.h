/* replicate.h - the replication push engine: one image (a manifest with its blobs, an index's
 * children, its referrers and its tags) copied to another registry over the OCI Distribution
 * API, its status at that destination recorded in the index as it goes. */
#ifndef OCIREG_REPLICATE_H
#define OCIREG_REPLICATE_H

#include "storage/index/index_outbox.h"
#include "storage/outbox.h"
#include "storage/remote/remote.h"
#include "storage/store.h"

/* Index children nested deeper than this are refused (a manifest list of lists of ...). */
#define REPLICATE_DEPTH_MAX 4
/* At most this many referrers, and tags, of one image are copied with it: an image with more
 * fails to replicate (it is not copied in part). */
#define REPLICATE_NAMES_MAX 4096

/* A blob of up to this many bytes is sent in one request (OCI's monolithic POST, read into
 * memory), with no HEAD first: asking whether the destination has it costs a request as
 * sending it does. Larger blobs are HEADed, then streamed by POST and PUT. */
#define REPLICATE_ONE_REQUEST_MAX (64u << 10)

/* A destination as statuses name it (ECR's region + registryId) and the client reaching it,
 * opened by the caller with the destination's unsealed credentials. */
typedef struct replicate_destination {
    const char *region;
    const char *registry_id;
    remote *client;
    const outbox_entry *lease; /* the outbox entries being delivered (nlease of them), whose
                                * leases are extended between blobs of a long copy; NULL:
                                * none (sync) */
    size_t nlease;
} replicate_destination;

/* Copy image (repo, digest) to dest, to the repository of the same name: blobs first (a HEAD
 * skips what dest has, a cross-repository mount is tried from another repository holding the
 * blob, else an upload streamed from the blob store; see REPLICATE_ONE_REQUEST_MAX), an
 * index's children before it, then the manifest, its referrers and its tags (a tag pointing
 * elsewhere at dest moves; with no referrers the manifest's PUT is by its first tag).
 * Records IN_PROGRESS, then COMPLETE, or FAILED with the reason (also in reg_error_last) and
 * returns the error. */
int replicate_image(store *s, index_db *ix, const replicate_destination *dest, const char *repo,
                    const char *digest);

/* Inside the write transaction of a push of image (repo, dg): queue its replication to every
 * destination the rules give repo (outbox kind "replication"), its status there IN_PROGRESS.
 * *queued_out grows by the entries queued (outbox_wake after the commit). */
int replicate_queue(int *queued_out, index_db *ix, const char *repo, const digest *dg);

/* How the outbox's "replication" entries are delivered: `connect` lends a client for a
 * destination with its credentials (auth/ hands it down: the core does not open sealed
 * passwords; REG_ENOTFOUND when no such destination is configured), `release` takes it back.
 * A batch copies its images on connections of its own to the index, attached to `writer`
 * and kept for the next batch (replicate_kind_close closes them). */
typedef int (*replicate_connect_fn)(remote **out, void *ctx, index_db *ix, const char *region,
                                    const char *registry_id);
typedef void (*replicate_release_fn)(void *ctx, remote *client);
#define REPLICATE_SPARE_MAX 32 /* OUTBOX_WORKERS_DEFAULT batches of REPLICATE_PARALLEL */
typedef struct replicate_kind {
    store *s;
    index_writer *writer;
    replicate_connect_fn connect;
    replicate_release_fn release;
    void *connect_ctx;
    index_db *spare[REPLICATE_SPARE_MAX]; /* idle index connections (replicate.c's) */
    int nspare;
} replicate_kind;
void replicate_kind_close(replicate_kind *kind);

/* The most entries of one repository and destination replicated together, and how many of
 * their images are copied at once (each on its own connections). 8 matches a destination
 * ocireg's threads on 2 cores, whose commits those copies share (bench/replication.py, 8
 * clients pushing into one repository: 4 replicated about 0.8 of the push rate, 8 about
 * 0.9, 16 no more). A batch ends when its slowest copy does, so the copies of a batch of 32
 * were idle 10-20% of it; batches of 64 (OUTBOX_BATCH_MAX) halve that. */
#define REPLICATE_BATCH_MAX 64
#define REPLICATE_PARALLEL  8

/* outbox_deliver_batch_fn of kind "replication" (ctx: a replicate_kind): the entries' images
 * (one repository, one destination, commit order) each copied whole (manifest with what it
 * references, referrers, tags), REPLICATE_PARALLEL at once. Their tags are read first, in
 * commit order, a tag read on two images kept only on the later one: no two copies PUT the
 * same tag, so their order does not matter, and a tag moved at the source lands where its
 * last move put it (a move after the read queued an entry that a later batch delivers).
 * Each image's status is recorded and its outcome its own. An image deleted meanwhile is
 * delivered (deletes are not replicated); a destination that is not configured parks the
 * entries, their statuses FAILED. */
void replicate_deliver_batch(void *ctx, index_db *ix, const outbox_entry *entries, size_t n,
                             outbox_outcome *out);

#endif
