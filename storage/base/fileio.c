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

int fileio_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fileio_errno_to_reg(errno);
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int fileio_pwrite_all(int fd, const void *data, size_t len, uint64_t at)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fileio_errno_to_reg(errno);
        p += n;
        len -= (size_t)n;
        at += (uint64_t)n;
    }
    return REG_OK;
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
