/* replicate.h - the replication push engine: one image (a manifest with its blobs, an index's
 * children, its referrers and its tags) copied to another registry over the OCI Distribution
 * API, its status at that destination recorded in the index as it goes. */
#ifndef OCIREG_REPLICATE_H
#define OCIREG_REPLICATE_H

#include "storage/index/index_outbox.h"
#include "storage/remote/remote.h"
#include "storage/store.h"

/* Index children nested deeper than this are refused (a manifest list of lists of ...). */
#define REPLICATE_DEPTH_MAX 4
/* At most this many referrers, and tags, of one image are copied with it: an image with more
 * fails to replicate (it is not copied in part). */
#define REPLICATE_NAMES_MAX 4096

/* A destination as statuses name it (ECR's region + registryId) and the client reaching it,
 * opened by the caller with the destination's unsealed credentials. */
typedef struct replicate_destination {
    const char *region;
    const char *registry_id;
    remote *client;
    const outbox_entry *lease; /* the outbox entry being delivered, whose lease is extended
                                * between blobs of a long copy; NULL: none (sync) */
} replicate_destination;

/* Copy image (repo, digest) to dest, to the repository of the same name: blobs first (a HEAD
 * skips what dest has, a cross-repository mount is tried from another repository holding the
 * blob, else a monolithic upload streamed from the blob store), an index's children before
 * it, then the manifest by digest, its referrers and its tags (a tag pointing elsewhere at
 * dest moves). Records IN_PROGRESS, then COMPLETE, or FAILED with the reason (also in
 * reg_error_last) and returns the error. */
int replicate_image(store *s, index_db *ix, const replicate_destination *dest, const char *repo,
                    const char *digest);

/* Inside the write transaction of a push of image (repo, dg): queue its replication to every
 * destination the rules give repo (outbox kind "replication"), its status there IN_PROGRESS.
 * *queued_out grows by the entries queued (outbox_wake after the commit). */
int replicate_queue(int *queued_out, index_db *ix, const char *repo, const digest *dg);

/* How the outbox's "replication" entries are delivered: `connect` lends a client for a
 * destination with its credentials (auth/ hands it down: the core does not open sealed
 * passwords; REG_ENOTFOUND when no such destination is configured), `release` takes it back. */
typedef int (*replicate_connect_fn)(remote **out, void *ctx, index_db *ix, const char *region,
                                    const char *registry_id);
typedef void (*replicate_release_fn)(void *ctx, remote *client);
typedef struct replicate_kind {
    store *s;
    replicate_connect_fn connect;
    replicate_release_fn release;
    void *connect_ctx;
} replicate_kind;

/* outbox_deliver_fn of kind "replication" (ctx: a replicate_kind): replicate_image of the
 * entry's image to its target. An image deleted meanwhile is delivered (deletes are not
 * replicated); a destination that is not configured parks the entry, its status FAILED. */
int replicate_deliver(void *ctx, index_db *ix, const outbox_entry *e);

#endif
