/* fileio.h - small POSIX file helpers shared by the storage modules. */
#ifndef OCIREG_FILEIO_H
#define OCIREG_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* write() until done; REG_ENOSPACE for a full disk or quota, REG_ERROR otherwise. */
int fileio_write_all(int fd, const void *data, size_t len);
/* pwrite() at `at` until done; errors as for fileio_write_all. */
int fileio_pwrite_all(int fd, const void *data, size_t len, uint64_t at);
/* fsync a folder, so that a rename or a new entry in it is durable. */
int fileio_fsync_dir(const char *path);
/* Map an errno value to a reg_error code. */
int fileio_errno_to_reg(int e);

#endif
