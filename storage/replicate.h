/* replicate.h - the replication push engine: one image (a manifest with its blobs, an index's
 * children, its referrers and its tags) copied to another registry over the OCI Distribution
 * API, its status at that destination recorded in the index as it goes. */
#ifndef OCIREG_REPLICATE_H
#define OCIREG_REPLICATE_H

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
} replicate_destination;

/* Copy image (repo, digest) to dest, to the repository of the same name: blobs first (a HEAD
 * skips what dest has, a cross-repository mount is tried from another repository holding the
 * blob, else a monolithic upload streamed from the blob store), an index's children before
 * it, then the manifest by digest, its referrers and its tags (a tag pointing elsewhere at
 * dest moves). Records IN_PROGRESS, then COMPLETE, or FAILED with the reason (also in
 * reg_error_last) and returns the error. */
int replicate_image(store *s, index_db *ix, const replicate_destination *dest, const char *repo,
                    const char *digest);

#endif
