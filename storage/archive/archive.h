/* archive.h - the .tar.zst files of export and backup. Written as a zstd-compressed tar stream
 * into FILE.tmp, renamed to FILE only when complete (or to stdout for "-"); read from a file
 * or stdin, zstd-compressed or a plain tar. Entry data is streamed in fixed-size chunks, so
 * memory does not grow with what is archived. */
#ifndef OCIREG_ARCHIVE_H
#define OCIREG_ARCHIVE_H

#include "storage/base/digest.h"
#include "storage/archive/tar.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Called after every chunk: uncompressed bytes so far, and how far through the work is as
 * position of size (size 0 when unknown, e.g. reading a pipe). */
typedef void (*archive_progress_fn)(void *ctx, uint64_t bytes, uint64_t position, uint64_t size);

typedef struct archive_options {
    int level;                    /* zstd level (writing) */
    int threads;                  /* zstd worker threads, 0 for none (writing) */
    archive_progress_fn progress; /* may be NULL */
    void *progress_ctx;
    const volatile sig_atomic_t *cancel; /* stop with an error once *cancel is set */
    /* Reading: a spooled entry (a blob) declaring more bytes is refused before a byte of it is
     * written; 0 for no limit. Every spooled or extracted entry must also fit in the free
     * space of its folder. */
    uint64_t max_blob_size;
} archive_options;

#define ARCHIVE_ERROR_MAX 512

/* ---- writing ---- */

typedef struct archive_out archive_out;

/* Failures of this and every other archive call leave their reason in reg_error_last(). */
int archive_create(archive_out **out, const char *path, const archive_options *opt);
/* Total uncompressed bytes expected, for progress. */
void archive_set_total(archive_out *a, uint64_t total);
int archive_add_dir(archive_out *a, const char *name, unsigned mode);
int archive_add_buffer(archive_out *a, const char *name, const void *data, size_t len,
                       unsigned mode);
/* Add `size` bytes of fd (read from offset 0) as file `name`. With `check`, the content must
 * hash to that digest (REG_EMISMATCH otherwise). */
int archive_add_fd(archive_out *a, const char *name, int fd, uint64_t size, unsigned mode,
                   const digest *check);
/* End the tar and zstd streams, fsync and rename into place. */
int archive_commit(archive_out *a);
uint64_t archive_bytes_written(const archive_out *a); /* compressed */
/* Removes the temporary file unless committed. */
void archive_out_free(archive_out *a);

/* ---- reading ---- */

typedef struct archive_in archive_in;

int archive_open(archive_in **out, const char *path, const archive_options *opt);
/* The next entry; REG_ENOTFOUND after the last (the input is then read to its end, so that a
 * damaged zstd stream is still noticed), REG_EINVALID for a damaged archive. */
int archive_next(tar_entry *out, archive_in *a);
int archive_read(archive_in *a, void *buf, size_t len, size_t *got);
/* The current entry (at most max bytes, else REG_ETOOLARGE) into a NUL-terminated buffer the
 * caller frees. */
int archive_read_all(char **out, size_t *len_out, archive_in *a, size_t max);
/* Stream the current entry into a new file `dir`/`prefix`<random> (mode 0644, not yet
 * fsync'd: blob_publish_prepare does that), hashing it: REG_EMISMATCH when it does not
 * hash to `expected`; REG_ETOOLARGE (over max_blob_size) or REG_ENOSPACE (over the free
 * space of dir) from its declared size, before anything is written. On success the file's path is
 * in path_out (the caller removes or commits it); on failure nothing is left behind. */
int archive_spool(char *path_out, size_t path_len, archive_in *a, const char *dir,
                  const char *prefix, const digest *expected);
/* Write the current entry into a new file at path (it must not exist) with exactly `mode`,
 * fsync'd. REG_ETOOLARGE when it declares more than max bytes, REG_ENOSPACE when more than
 * the free space of path's folder, before anything is written. On failure nothing is left
 * behind. */
int archive_extract(archive_in *a, const char *path, unsigned mode, uint64_t max);
uint64_t archive_bytes_read(const archive_in *a); /* compressed */
void archive_close(archive_in *a);

#endif
