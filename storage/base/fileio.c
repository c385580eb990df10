/* fileio.c - POSIX file helpers (see fileio.h). */
#include "storage/base/fileio.h"
#include "storage/base/reg_error.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int fileio_errno_to_reg(int e)
{
    return (e == ENOSPC || e == EDQUOT) ? REG_ENOSPACE : REG_ERROR;
}

/* Write all of len bytes with write (at < 0) or pwrite from offset at, again after EINTR. */
static int write_all_at(int fd, const char *p, size_t len, int64_t at)
{
    while (len > 0) {
        ssize_t n = at < 0 ? write(fd, p, len) : pwrite(fd, p, len, (off_t)at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fileio_errno_to_reg(errno);
        p += n;
        len -= (size_t)n;
        if (at >= 0)
            at += n;
    }
    return REG_OK;
}

int fileio_write_all(int fd, const void *data, size_t len)
{
    return write_all_at(fd, data, len, -1);
}

int fileio_pwrite_all(int fd, const void *data, size_t len, uint64_t at)
{
    return write_all_at(fd, data, len, (int64_t)at);
}

int fileio_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return REG_ERROR;
    int err = fsync(fd) == 0 ? REG_OK : REG_ERROR;
    close(fd);
    return err;
}
