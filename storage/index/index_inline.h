/* index_inline.h - blobs held in the index itself (table blob_data, migration 11): small blobs
 * are written in the transaction that links them, so a small push costs one durable commit. */
#ifndef OCIREG_INDEX_INLINE_H
#define OCIREG_INDEX_INLINE_H

#include "storage/index/index.h"

#include <stddef.h>
#include <stdint.h>

/* The largest blob the index may hold (the upper bound of --inline-max). */
#define INDEX_INLINE_LIMIT (1024 * 1024)

/* Store the bytes of blob d (inside the write transaction that links it); a blob already held
 * stays as it is. REG_ETOOLARGE beyond INDEX_INLINE_LIMIT. */
int index_inline_put(index_db *ix, const digest *d, const void *data, size_t len);

/* Bytes [start, start + length) of blob d (length UINT64_MAX: to its end), copied once into
 * *out (malloc'd, the caller's; at least one byte allocated), its whole size in *size_out.
 * REG_ENOTFOUND when the index does not hold it, REG_EINVALID when the range is outside the blob.
 */
int index_inline_read(void **out, uint64_t *size_out, index_db *ix, const digest *d, uint64_t start,
                      uint64_t length);

/* The held size of blob d; REG_ENOTFOUND when the index does not hold it. */
int index_inline_size(uint64_t *size_out, index_db *ix, const char *digest_text);

/* Drop the bytes of blob d (with its row: gc, fsck --repair). */
int index_inline_delete(index_db *ix, const char *digest_text);

#endif
