/* index_export.h - what export and backup ask of the index: a repository's tags, a
 * consistent online snapshot of the whole database (SQLite's backup API), the blobs a snapshot
 * lists, and the removal from a snapshot of blobs that vanished before they were copied. */
#ifndef OCIREG_INDEX_EXPORT_H
#define OCIREG_INDEX_EXPORT_H

#include "storage/index/index.h"

#include <stddef.h>
#include <stdint.h>

/* Every tag of `repo` in name order with the digest it points at. REG_ENOTFOUND when the
 * repository does not exist. */
typedef int (*index_tag_cb)(void *ctx, const char *tag, const char *digest);
int index_export_tags(index_db *ix, const char *repo, index_tag_cb cb, void *ctx);

/* Copy the whole database, as of one read transaction, into a new file at dest_path.
 * REG_EINVALID (with index_errmsg saying to use pg_dump) for a PostgreSQL index. */
int index_snapshot(index_db *ix, const char *dest_path);

/* Up to `limit` blobs after `after` ("" for the start) in digest order. */
typedef int (*index_blob_cb)(void *ctx, const char *digest, uint64_t size);
int index_blobs_page(int64_t *count_out, index_db *ix, const char *after, int64_t limit,
                     index_blob_cb cb, void *ctx);

/* In a snapshot: forget the given blobs, the manifests that are or need them (and, in turn,
 * indexes listing those), and the tags and references left dangling. Counts the manifests
 * removed. Runs in one transaction. */
int index_snapshot_drop_blobs(int64_t *manifests_out, index_db *snap, const char *const *digests,
                              size_t n);

/* Fold a snapshot's write-ahead log into its file and leave WAL mode, so that the file alone
 * is the whole database. */
int index_snapshot_seal(index_db *snap);

#endif
