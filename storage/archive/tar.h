/* tar.h - a streaming tar writer and reader (POSIX ustar with pax extended headers; GNU long
 * names and base-256 sizes are read too) over byte sink/source callbacks. Nothing is held in
 * memory beyond one header: entry data flows through in the caller's chunks. */
#ifndef OCIREG_TAR_H
#define OCIREG_TAR_H

#include <stddef.h>
#include <stdint.h>

#define TAR_BLOCK        512
#define TAR_NAME_MAX     1024
#define TAR_EXTENDED_MAX (64 * 1024) /* largest pax or GNU extension header accepted */
#define TAR_FILE         '0'
#define TAR_DIR          '5'

/* Write all of data; a negative reg_error stops the archive. */
typedef int (*tar_sink)(void *ctx, const void *data, size_t len);

typedef struct tar_writer {
    tar_sink sink;
    void *ctx;
    uint64_t left; /* data bytes the current entry still expects */
    uint64_t size; /* data bytes of the current entry */
} tar_writer;

void tar_writer_init(tar_writer *w, tar_sink sink, void *ctx);
/* Start an entry (TAR_FILE or TAR_DIR); names or sizes ustar cannot hold get a pax header. */
int tar_put_header(tar_writer *w, const char *name, char type, uint64_t size, unsigned mode,
                   int64_t mtime);
/* REG_EINVALID when more than the declared size is written. */
int tar_put_data(tar_writer *w, const void *data, size_t len);
/* Pad the entry to a block; REG_EINVALID when fewer bytes than declared were written. */
int tar_end_entry(tar_writer *w);
/* The end-of-archive marker (two zero blocks). */
int tar_put_end(tar_writer *w);
/* Fill in the checksum field of a 512-byte header block (after any change to it). */
void tar_put_checksum(unsigned char *h);

/* Read up to len bytes; *got 0 at the end of the input. */
typedef int (*tar_source)(void *ctx, void *buf, size_t len, size_t *got);

typedef struct tar_entry {
    char name[TAR_NAME_MAX];
    char type;     /* TAR_FILE ('\0' is reported as TAR_FILE), TAR_DIR, or as found */
    uint64_t size; /* data bytes */
    unsigned mode;
} tar_entry;

typedef struct tar_reader {
    tar_source source;
    void *ctx;
    uint64_t left;  /* data bytes of the current entry not read yet */
    unsigned pad;   /* zero bytes after them */
    uint64_t count; /* entries read */
} tar_reader;

void tar_reader_init(tar_reader *r, tar_source source, void *ctx);
/* The next entry (the rest of the current one is skipped): REG_OK, REG_ENOTFOUND at the
 * end-of-archive marker, REG_EINVALID (message in reg_error_last()) for a malformed or
 * truncated archive, or the source's error (with the message the source set). */
int tar_next(tar_entry *out, tar_reader *r);
/* Data of the current entry: *got is 0 at its end. REG_EINVALID if the input ends early. */
int tar_read(tar_reader *r, void *buf, size_t len, size_t *got);

#endif
