/* readahead.h - reads a large range of a local blob file into the page cache ahead of its
 * sender. Uploads write all but a blob's head with O_DIRECT, so a blob pulled right after its
 * push is mostly on the disk only, and sendfile's own readahead (one window at a time, each
 * waited for) reads it at a fraction of the disk's speed: 330-430 MiB/s on the bench's VM,
 * against 1.2-1.6 GiB/s when every window of the range is asked for at once. A thread asks
 * for them (POSIX_FADV_WILLNEED, one call per READAHEAD_STEP: the kernel reads at most one
 * window per call) while sendfile sends what has arrived, and the blob stays in the page cache
 * for the pulls that follow (in 4 KiB folios, which sendfile sends about 10% slower than the
 * large ones of its own readahead). Measurements: docs/ARCHITECTURE.md, Durability. */
#ifndef OCIREG_READAHEAD_H
#define OCIREG_READAHEAD_H

#include <stdint.h>

/* Ranges shorter than this are left to sendfile's own readahead. */
#define READAHEAD_MIN_BYTES (16ull << 20)
/* Bytes asked for per call. */
#define READAHEAD_STEP (8u << 20)
/* Bytes of one range read ahead at most: a client that asks for a whole large blob and hangs
 * up at once makes the disk read no more than this. Past it, sendfile's own readahead. */
#define READAHEAD_MAX_BYTES (1ull << 30)
/* Readahead threads at once; past this, ranges are left to sendfile. */
#define READAHEAD_MAX 8

/* When [start, start + length) of the file `fd` is at least READAHEAD_MIN_BYTES long and some
 * of its first READAHEAD_MAX_BYTES is not in the page cache, start a thread that asks the
 * kernel to read those (on a duplicate of fd: the caller keeps fd). Returns 1 when a thread
 * was started, 0 when none was needed or one could not be (no room, memory or thread). */
int blob_readahead(int fd, uint64_t start, uint64_t length);

/* Readahead threads started since the process began (ocireg_blob_readaheads_total). */
uint64_t blob_readaheads_started(void);

#endif
