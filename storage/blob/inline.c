/* inline.c - blobs held in the index (index_inline.h) behind the blob store's interface: their
 * readers (the range copied once out of the index), their files (a memfd, for readers that
 * want a descriptor) and their publication, chosen by size in blobstore.c and uploads.c. */
#include "storage/blob/backend.h"
#include "storage/index/index_inline.h"
#include "storage/base/fileio.h"
#include "storage/base/reg_error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- reading ---- */

typedef struct inline_reader {
    blob_reader base;
    uint64_t length;
} inline_reader;

static ssize_t inline_read(blob_reader *base, uint64_t pos, void *out, size_t max)
{
    inline_reader *r = (inline_reader *)base;
    if (!base->bytes)
        return reg_error_set(REG_ERROR, "the blob's bytes were handed over");
    if (pos >= r->length)
        return 0;
    size_t n = r->length - pos < max ? (size_t)(r->length - pos) : max;
    memcpy(out, (const char *)base->bytes + pos, n);
    return (ssize_t)n;
}

static void inline_reader_free(blob_reader *base)
{
    free(base->bytes);
    free(base);
}

static const blob_reader_ops inline_reader_ops = {.read = inline_read, .free = inline_reader_free};

int inline_open_reader(blob_reader **out, index_db *ix, const digest *d, uint64_t start,
                       uint64_t length)
{
    inline_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return reg_error_set(REG_ERROR, "out of memory");
    int err = index_inline_read(&r->base.bytes, &r->base.size, ix, d, start, length);
    if (err < 0) {
        free(r);
        return err;
    }
    r->base.ops = &inline_reader_ops;
    r->base.fd = -1;
    r->length = length;
    *out = &r->base;
    return REG_OK;
}

int inline_open_fd(int *fd_out, uint64_t *size_out, index_db *ix, const digest *d)
{
    uint64_t size = 0;
    void *bytes = NULL;
    int err = index_inline_read(&bytes, &size, ix, d, 0, UINT64_MAX);
    if (err < 0)
        return err;
    int fd = memfd_create("ocireg-blob", MFD_CLOEXEC);
    if (fd < 0)
        err = reg_error_set(REG_ERROR, "cannot make a memory file: %s", strerror(errno));
    else if ((err = fileio_write_all(fd, bytes, size)) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        err = reg_error_set(err < 0 ? err : REG_ERROR, "cannot fill a memory file");
    free(bytes);
    if (err < 0) {
        if (fd >= 0)
            close(fd);
        return err;
    }
    *fd_out = fd;
    *size_out = size;
    return REG_OK;
}

/* ---- publishing: the bytes go into the index inside the transaction that links them ---- */

static int read_spool(blob_publish *p)
{
    struct stat st;
    int fd = p->fd >= 0 ? p->fd : open(p->path, O_RDONLY | O_CLOEXEC);
    int err = REG_OK;
    if (fd < 0)
        return reg_error_set(fileio_errno_to_reg(errno), "cannot open %s: %s", p->path,
                             strerror(errno));
    if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != p->len)
        err = reg_error_set(REG_ERROR, "%s is not the %zu bytes it was", p->path, p->len);
    else if (p->len && pread(fd, p->owned, p->len, 0) != (ssize_t)p->len)
        err = reg_error_set(REG_ERROR, "cannot read %s: %s", p->path, strerror(errno));
    if (fd != p->fd)
        close(fd);
    return err;
}

/* Before the transaction: the bytes into memory (nothing to sync: the commit is durable). */
static int inline_prepare(blob_publish *p)
{
    if (p->data)
        return REG_OK;
    if (!(p->owned = malloc(p->len ? p->len : 1)))
        return reg_error_set(REG_ERROR, "out of memory");
    int err = p->session ? upload_read_all(p->session, p->owned, p->len) : read_spool(p);
    if (err == REG_OK)
        p->data = p->owned;
    return err;
}

static int inline_commit(blob_publish *p)
{
    if (!p->ix)
        return reg_error_set(REG_ERROR, "blob %s is held in the index, which is not open",
                             p->d.str);
    return index_inline_put(p->ix, &p->d, p->data, p->len);
}

const blob_publish_ops inline_publish_ops = {
    .prepare = inline_prepare,
    .commit = inline_commit,
};
