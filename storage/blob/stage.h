/* stage.h - write-behind for a local upload's spool file. Bytes gather in aligned 1 MiB
 * buffers; the request's thread writes each full one with O_DIRECT (or through the page cache,
 * starting its writeback each 8 MiB) and hands it to a worker thread that hashes it (SHA-256,
 * in order), so hashing overlaps with receiving. A stage may
 * outlive a request: stage_sync puts the partial buffer in the file (page cache) without
 * waiting for the hash, and the session's next request goes on filling it. stage_finish waits
 * for the hash. Not thread-safe: one request at a time (the session's io lock). */
#ifndef OCIREG_STAGE_H
#define OCIREG_STAGE_H

#include "storage/base/digest.h"

#include <stddef.h>
#include <stdint.h>

typedef struct stage stage;

typedef struct stage_result {
    uint64_t length; /* bytes surely in the file */
    int hashed;      /* the digester covers exactly [0, length) */
    int direct_off;  /* O_DIRECT was refused (EINVAL): write plainly from now on */
} stage_result;

/* Continue the file `fd` (read/write, page cache) at `offset`, its length, writing full buffers
 * through `dfd`: the same file opened O_DIRECT, or `fd` itself for a file whose readers follow
 * it (each byte is then written once, by stage_sync or with its full buffer). `h` covers
 * [0, offset) when `hashed`, and the stage keeps it going; otherwise it is left alone. */
int stage_start(stage **out, int fd, int dfd, uint64_t offset, digester *h, int hashed);

/* Accept len bytes. An error means a buffer failed to reach the file: finish the stage to
 * learn how much of it is good. */
int stage_add(stage *s, const void *data, size_t len);

/* Put every accepted byte in the file (the partial buffer through the page cache), leaving
 * the hash to catch up. An error: finish the stage. */
int stage_sync(stage *s);

/* Wait for the hash, write the tail, free the stage. Returns the first error. */
int stage_finish(stage *s, stage_result *out);

/* More stages are alive than should be kept between requests (each holds a buffer and a
 * thread): finish instead of keeping one. */
int stage_crowded(void);

#endif
