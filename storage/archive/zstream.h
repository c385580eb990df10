/* zstream.h - zstd streaming over a file descriptor: a compressing writer (level and worker
 * threads configurable) and a reader that decompresses zstd, recognised by its magic number,
 * or passes any other stream through. Memory is bounded by zstd's own stream buffers. */
#ifndef OCIREG_ZSTREAM_H
#define OCIREG_ZSTREAM_H

#include <stddef.h>
#include <stdint.h>

typedef struct zwriter zwriter;

/* threads: 0 compresses in the caller's thread, N > 0 uses N zstd worker threads. */
int zwriter_new(zwriter **out, int fd, int level, int threads);
int zwriter_write(zwriter *z, const void *data, size_t len);
/* End the frame and write out everything still buffered. */
int zwriter_finish(zwriter *z);
uint64_t zwriter_bytes_out(const zwriter *z);
void zwriter_free(zwriter *z);

typedef struct zreader zreader;

int zreader_new(zreader **out, int fd);
/* Up to len decompressed bytes; *got is 0 at the end of the input. REG_EINVALID (message in
 * reg_error_last()) when the zstd data is corrupt or the input ends inside a frame. */
int zreader_read(zreader *z, void *buf, size_t len, size_t *got);
/* Bytes taken from the file descriptor so far. */
uint64_t zreader_bytes_in(const zreader *z);
void zreader_free(zreader *z);

#endif
