/* index_fsck.h - consistency queries for fsck: every blob row, and rows that point at rows
 * that are gone (tags, manifest references, repository links), with their safe removals. */
#ifndef OCIREG_INDEX_FSCK_H
#define OCIREG_INDEX_FSCK_H

#include "storage/index/index.h"

#include <stdint.h>

/* SQLite's own check (PRAGMA quick_check); on PostgreSQL, which checks its own pages, that the
 * schema is fully migrated. REG_OK when "ok", else REG_ERROR with the first message in msg. */
int index_fsck_integrity(char *msg, size_t n, index_db *ix);

typedef int (*index_blob_row_cb)(void *ctx, const char *digest, int64_t size);
int index_fsck_blobs(index_db *ix, index_blob_row_cb cb, void *ctx);

/* A problem row: kind says which check found it; repo, a, b depend on the kind. */
typedef int (*index_problem_cb)(void *ctx, const char *kind, const char *repo, const char *a,
                                const char *b);
/* Tags without their manifest, manifests without their blob row, references to missing blobs
 * or child manifests, repository links to missing blob rows. */
int index_fsck_dangling(index_db *ix, index_problem_cb cb, void *ctx);

/* Safe repairs. */
int index_fsck_drop_tag(index_db *ix, const char *repo, const char *tag);
int index_fsck_drop_link(index_db *ix, const char *repo, const char *digest);
/* Drop a blob row (and its links) nothing references. REG_ECONFLICT when a manifest still
 * is or references it. */
int index_fsck_drop_blob(index_db *ix, const char *digest);

#endif
