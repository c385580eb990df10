/* blobstore.h - immutable content-addressed blob files under DATA/blobs/<alg>/<xx>/<hex>,
 * and the spool files in DATA/uploads/ they are made from. Nothing here touches the index:
 * callers order file and index changes (file first on commit, row first on delete). */
#ifndef OCIREG_BLOBSTORE_H
#define OCIREG_BLOBSTORE_H

#include "storage/base/digest.h"

#include <stdint.h>
#include <stddef.h>

typedef struct blobstore blobstore;

/* Create the folder layout under data_dir if missing. */
int blobstore_open(blobstore **out, const char *data_dir);
/* Blobs in `storage` (s3://BUCKET?endpoint=URL&region=R) when it is set, else as above;
 * err (errlen bytes) says why not. Local state (the read cache) still lives in data_dir. */
int blobstore_open_at(blobstore **out, const char *data_dir, const char *storage, char *err,
                      size_t errlen);
/* Remote (S3) storage: the spool/place/walk functions below are for local files only;
 * blobs appear with blobstore_put or an S3 upload session and go with blobstore_remove. */
int blobstore_is_remote(const blobstore *bs);
struct blobstore_s3 *blobstore_remote(blobstore *bs);
/* Store `len` bytes as blob d (its digest verified by the caller), durably. Remote storage
 * calls this inside the index transaction that records the blob. */
int blobstore_put(blobstore *bs, const digest *d, const void *data, size_t len);
void blobstore_close(blobstore *bs);

const char *blobstore_uploads_dir(const blobstore *bs);

/* Open a blob for reading. REG_ENOTFOUND if the file is missing. Caller closes *fd_out.
 * Remote storage downloads it (digest checked) and keeps blobs up to 4 MiB in DATA/cache. */
int blobstore_open_blob(int *fd_out, uint64_t *size_out, blobstore *bs, const digest *d);

/* Make `spool_path` (fully written, its digest verified by the caller) the blob `d`:
 * fsync it, make it read-only, rename it into place and fsync the folder. If the blob already
 * exists the spool is removed instead. Either way the spool path is gone on success. */
int blobstore_commit(blobstore *bs, const char *spool_path, int spool_fd, const digest *d);

/* The two halves of blobstore_commit, so that the slow one can run outside the index's write
 * lock: blobstore_sync (fsync, read-only) first, then blobstore_commit_synced (rename and
 * folder fsync) inside the transaction. */
int blobstore_sync(int spool_fd);
int blobstore_commit_synced(blobstore *bs, const char *spool_path, const digest *d);

/* Publishing in two steps, so that the folder fsync runs outside the index's write lock.
 * blobstore_place, before the transaction: hard-link the synced spool (blobstore_sync) to the
 * blob's path, if no file is there yet, and fsync the folder. blobstore_confirm, inside the
 * transaction: make sure the path still holds a durable file (gc may have removed it in
 * between; it is then linked again). The spool keeps its own name until the caller removes it
 * after the transaction, whatever its outcome; a failed commit leaves an orphan file that gc
 * removes after its grace period. */
int blobstore_place(blobstore *bs, const char *spool_path, const digest *d);
int blobstore_confirm(blobstore *bs, const char *spool_path, const digest *d);

/* Write `len` bytes into a new, synced spool file (its path in path_out, PATH_MAX bytes). */
int blobstore_spool(char *path_out, blobstore *bs, const void *data, size_t len);


/* Remove what an interrupted gc of an older version left in DATA/trash; returns how many
 * files went. */
int blobstore_empty_trash(blobstore *bs);

/* Call cb for every blob file until it returns < 0 (names only: no stat per file). */
typedef int (*blobstore_walk_cb)(void *ctx, const digest *d);
int blobstore_walk(blobstore *bs, blobstore_walk_cb cb, void *ctx);
/* Size and modification time of a blob file; REG_ENOTFOUND if absent. */
int blobstore_stat(uint64_t *size_out, int64_t *mtime_out, blobstore *bs, const digest *d);
/* Move a corrupt blob file to DATA/quarantine/ (fsck --repair never deletes). */
int blobstore_quarantine(blobstore *bs, const digest *d);
/* Delete a blob file outright (gc, once its row is gone; orphans with no index row). */
int blobstore_remove(blobstore *bs, const digest *d);
/* blobstore_remove for n blobs (files: several at a time; S3: DeleteObjects). A blob already
 * gone is not an error; returns the first other error. */
int blobstore_remove_many(blobstore *bs, const digest *ds, size_t n);

#endif
