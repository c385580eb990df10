/* blobstore.h - immutable content-addressed blobs, in DATA/blobs/<alg>/<xx>/<hex> or in an S3
 * bucket (backend.h holds each backend's operations). Nothing here touches the index: callers
 * order blob and index changes (blob first on publish, row first on delete). */
#ifndef OCIREG_BLOBSTORE_H
#define OCIREG_BLOBSTORE_H

#include "storage/base/digest.h"
#include "storage/index/index.h"

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct blobstore blobstore;
typedef struct blob_reader blob_reader;
typedef struct blob_publish blob_publish;

/* Blobs under data_dir (the folder layout made if missing). */
int blobstore_open(blobstore **out, const char *data_dir);
/* Blobs in `storage` (s3://BUCKET?endpoint=URL&region=R) when it is set, else as above;
 * reg_error_last() says why not. Local state (the read cache) still lives in data_dir. */
int blobstore_open_at(blobstore **out, const char *data_dir, const char *storage);
void blobstore_close(blobstore *bs);

const char *blobstore_uploads_dir(const blobstore *bs);

/* Blobs of up to `max` bytes are published into the index (0: none; at most
 * INDEX_INLINE_LIMIT), in the transaction that links them; the readers below find them there
 * first, whatever the maximum is now. 0 when opened; store_open sets its location's (serve
 * and the subcommands default to BLOBSTORE_INLINE_MAX_DEFAULT). */
#define BLOBSTORE_INLINE_MAX_DEFAULT (64 * 1024)
void blobstore_set_inline_max(blobstore *bs, uint64_t max);
/* Whether a blob of `size` bytes, published now, goes into the index. */
int blobstore_holds_in_index(const blobstore *bs, uint64_t size);

/* Open a whole blob as a file. REG_ENOTFOUND if it is missing. Caller closes *fd_out.
 * A blob the index ix holds comes as a memory file (ix NULL: not looked for there); S3
 * downloads it (digest checked) and keeps blobs up to 4 MiB in DATA/cache. */
int blobstore_open_blob(int *fd_out, uint64_t *size_out, blobstore *bs, index_db *ix,
                        const digest *d);

/* Stream bytes [start, start + length) of blob d. A blob the index ix holds is read from it
 * at once: blob_reader_take_bytes hands the bytes over. A local blob is a file: blob_reader_fd
 * hands it over (for sendfile); otherwise pull the bytes with blob_reader_read. REG_ENOTFOUND
 * if the blob is missing (S3: from the first read, the transfer having started in the
 * background). */
int blobstore_open_reader(blob_reader **out, blobstore *bs, index_db *ix, const digest *d,
                          uint64_t start, uint64_t length);
/* The whole of blob d when the index ix holds it (malloc'd, the caller's), its size in
 * size_out; REG_ENOTFOUND when it does not (the blob is then the backend's). */
int blobstore_read_inline(void **out, uint64_t *size_out, index_db *ix, const digest *d);
/* The range's bytes when the index held the blob (malloc'd, then the caller's: free()), else
 * NULL. */
void *blob_reader_take_bytes(blob_reader *r);
/* The whole blob's file and size, when the reader has one: the fd is then the caller's to
 * close (-1 when there is none). */
int blob_reader_fd(uint64_t *size_out, blob_reader *r);
/* Up to max bytes from position pos of the range (pos: the bytes already read): > 0 bytes
 * read, 0 at the end, < 0 a REG_* code with reg_error_last() saying why. */
ssize_t blob_reader_read(blob_reader *r, uint64_t pos, void *out, size_t max);
/* Stops a transfer still running (a client that went away). */
void blob_reader_free(blob_reader *r);

/* A URL the client can fetch blob d from itself for `expires` seconds (malloc'd); REG_EINVALID
 * where the backend has none (local files) or the index ix holds the blob (no object). */
int blobstore_presign(char **url_out, blobstore *bs, index_db *ix, const digest *d, int expires);

/* Publishing a blob whose digest the caller has verified, the one way every writer makes a
 * blob appear: blob_publish_prepare before the index's write transaction does the slow part
 * (local: fsync the spool, make it read-only, hard-link it to the blob's path and fsync the
 * folder; S3 upload: last part and completion), blob_publish_commit inside the transaction
 * makes sure the blob is there (local: the path still holds the spool's inode, else it is
 * linked again, as gc may have removed it meanwhile; S3: the object is put, or checked and
 * copied again). blob_publish_free after the transaction, whatever its outcome, removes the
 * spool name the publication made or was given; a failed commit leaves an orphan file that gc
 * removes after its grace period. A blob within the inline maximum is instead read into memory
 * by blob_publish_prepare and written into the index by blob_publish_commit. */
/* From memory (manifests). */
int blobstore_publish_bytes(blob_publish **out, blobstore *bs, const digest *d, const void *data,
                            size_t len);
/* From a fully written local spool file, which the publication takes over (import, restore). */
int blobstore_publish_file(blob_publish **out, blobstore *bs, const digest *d, const char *path);
int blob_publish_prepare(blob_publish *p);
/* ix: the connection whose write transaction is open (a blob within the inline maximum is
 * written there). */
int blob_publish_commit(blob_publish *p, index_db *ix);
void blob_publish_free(blob_publish *p);

/* Remove what an interrupted gc of an older version left in DATA/trash; returns how many
 * files went. */
int blobstore_empty_trash(blobstore *bs);

/* Call cb for every blob until it returns < 0 (names only: no stat per blob). */
typedef int (*blobstore_walk_cb)(void *ctx, const digest *d);
int blobstore_walk(blobstore *bs, blobstore_walk_cb cb, void *ctx);
/* Size and modification time of a blob; REG_ENOTFOUND if absent. */
int blobstore_stat(uint64_t *size_out, int64_t *mtime_out, blobstore *bs, const digest *d);
/* Move a corrupt blob file to DATA/quarantine/ (fsck --repair never deletes); REG_EINVALID on
 * S3, where fsck reports but does not move objects. */
int blobstore_quarantine(blobstore *bs, const digest *d);
/* Delete a blob outright (gc, once its row is gone; orphans with no index row). */
int blobstore_remove(blobstore *bs, const digest *d);
/* blobstore_remove for n blobs (files: several at a time; S3: DeleteObjects). A blob already
 * gone is not an error; returns the first other error. */
int blobstore_remove_many(blobstore *bs, const digest *ds, size_t n);

#endif
