/* blobstore.c - the blob store's public functions (see blobstore.h), each handed to the
 * backend's operations table (backend.h); DATA's own folders (uploads, trash) are kept here. */
#include "storage/blob/backend.h"
#include "storage/index/index_inline.h"
#include "storage/base/reg_error.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct blobstore {
    char *root;        /* DATA */
    char *uploads_dir; /* DATA/uploads */
    blob_backend *backend;
    uint64_t inline_max; /* blobs up to this size are published into the index */
};

static int blobstore_new(blobstore **out, const char *data_dir)
{
    blobstore *bs = calloc(1, sizeof(*bs));
    if (!bs || !(bs->root = strdup(data_dir)) ||
        asprintf(&bs->uploads_dir, "%s/uploads", data_dir) < 0) {
        if (bs)
            bs->uploads_dir = NULL;
        blobstore_close(bs);
        return reg_error_set(REG_ERROR, "out of memory");
    }
    *out = bs;
    return REG_OK;
}

int blobstore_open(blobstore **out, const char *data_dir)
{
    blobstore *bs = NULL;
    int err = blobstore_new(&bs, data_dir);
    if (err == REG_OK && (err = local_backend_open(&bs->backend, data_dir)) < 0)
        blobstore_close(bs);
    if (err == REG_OK)
        *out = bs;
    return err;
}

int blobstore_open_at(blobstore **out, const char *data_dir, const char *storage)
{
    blobstore *bs = NULL;
    if (!storage || !storage[0])
        return blobstore_open(out, data_dir);
    int err = blobstore_new(&bs, data_dir);
    if (err < 0)
        return err;
    if (mkdir(data_dir, 0755) < 0 && errno != EEXIST)
        err = reg_error_set(REG_ERROR, "cannot make %s: %s", data_dir, strerror(errno));
    else
        err = s3_backend_open(&bs->backend, data_dir, storage);
    if (err < 0) {
        blobstore_close(bs);
        return err;
    }
    *out = bs;
    return REG_OK;
}

void blobstore_close(blobstore *bs)
{
    if (!bs)
        return;
    if (bs->backend)
        bs->backend->ops->close(bs->backend);
    free(bs->root);
    free(bs->uploads_dir);
    free(bs);
}

blob_backend *blobstore_backend(blobstore *bs)
{
    return bs->backend;
}

const char *blobstore_uploads_dir(const blobstore *bs)
{
    return bs->uploads_dir;
}

void blobstore_set_inline_max(blobstore *bs, uint64_t max)
{
    bs->inline_max = max < INDEX_INLINE_LIMIT ? max : INDEX_INLINE_LIMIT;
}

/* Whatever the maximum is now, a blob may be held in the index (published under an earlier
 * one): the index is asked first, the backend when it does not hold the blob. */
int blobstore_open_blob(int *fd_out, uint64_t *size_out, blobstore *bs, index_db *ix,
                        const digest *d)
{
    int err = ix ? inline_open_fd(fd_out, size_out, ix, d) : REG_ENOTFOUND;
    if (err != REG_ENOTFOUND)
        return err;
    return bs->backend->ops->open_fd(fd_out, size_out, bs->backend, d);
}

int blobstore_open_reader(blob_reader **out, blobstore *bs, index_db *ix, const digest *d,
                          uint64_t start, uint64_t length)
{
    int err = ix ? inline_open_reader(out, ix, d, start, length) : REG_ENOTFOUND;
    if (err != REG_ENOTFOUND)
        return err;
    if ((err = bs->backend->ops->open_reader(out, bs->backend, d, start, length)) == REG_OK)
        (*out)->bytes = NULL; /* the backends know nothing of the index's bytes */
    return err;
}

int blobstore_read_inline(void **out, uint64_t *size_out, index_db *ix, const digest *d)
{
    return index_inline_read(out, size_out, ix, d, 0, UINT64_MAX);
}

static int holds_inline(index_db *ix, const digest *d)
{
    uint64_t size;
    return index_inline_size(&size, ix, d->str) == REG_OK;
}

void *blob_reader_take_bytes(blob_reader *r)
{
    void *bytes = r->bytes;
    r->bytes = NULL;
    return bytes;
}

int blob_reader_fd(uint64_t *size_out, blob_reader *r)
{
    int fd = r->fd;
    r->fd = -1;
    *size_out = r->size;
    return fd;
}

ssize_t blob_reader_read(blob_reader *r, uint64_t pos, void *out, size_t max)
{
    return r->ops->read(r, pos, out, max);
}

void blob_reader_free(blob_reader *r)
{
    if (r)
        r->ops->free(r);
}

int blobstore_presign(char **url_out, blobstore *bs, index_db *ix, const digest *d, int expires)
{
    if (ix && holds_inline(ix, d))
        return REG_EINVALID;
    return bs->backend->ops->presign(url_out, bs->backend, d, expires);
}

/* ---- publishing ---- */

int blobstore_holds_in_index(const blobstore *bs, uint64_t size)
{
    return bs->inline_max && size <= bs->inline_max;
}

const blob_publish_ops *blobstore_publish_ops(const blobstore *bs, uint64_t size,
                                              const blob_publish_ops *otherwise)
{
    return blobstore_holds_in_index(bs, size) ? &inline_publish_ops : otherwise;
}

static int publish_new(blob_publish **out, blobstore *bs, const digest *d, uint64_t size)
{
    blob_publish *p = calloc(1, sizeof(*p));
    if (!p)
        return reg_error_set(REG_ERROR, "out of memory");
    p->ops = blobstore_publish_ops(bs, size, bs->backend->ops->publish);
    p->backend = bs->backend;
    p->d = *d;
    p->fd = -1;
    p->len = (size_t)size;
    *out = p;
    return REG_OK;
}

int blobstore_publish_bytes(blob_publish **out, blobstore *bs, const digest *d, const void *data,
                            size_t len)
{
    int err = publish_new(out, bs, d, len);
    if (err == REG_OK)
        (*out)->data = data;
    return err;
}

int blobstore_publish_file(blob_publish **out, blobstore *bs, const digest *d, const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return reg_error_set(REG_ERROR, "cannot stat %s: %s", path, strerror(errno));
    int err = publish_new(out, bs, d, (uint64_t)st.st_size);
    if (err == REG_OK) {
        snprintf((*out)->path, sizeof((*out)->path), "%s", path);
        (*out)->remove_path = 1;
    }
    return err;
}

int blob_publish_prepare(blob_publish *p)
{
    return p->ops->prepare(p);
}

int blob_publish_commit(blob_publish *p, index_db *ix)
{
    p->ix = ix;
    return p->ops->commit(p);
}

void blob_publish_free(blob_publish *p)
{
    if (!p)
        return;
    if (p->remove_path)
        unlink(p->path);
    free(p->owned);
    free(p);
}

/* ---- maintenance ---- */

/* What an older version's gc left in DATA/trash, if it was interrupted. */
int blobstore_empty_trash(blobstore *bs)
{
    char dir[PATH_MAX];
    int removed = 0;
    snprintf(dir, sizeof(dir), "%s/trash", bs->root);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.' && unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    closedir(d);
    return removed;
}

int blobstore_walk(blobstore *bs, blobstore_walk_cb cb, void *ctx)
{
    return bs->backend->ops->walk(bs->backend, cb, ctx);
}

int blobstore_stat(uint64_t *size_out, int64_t *mtime_out, blobstore *bs, const digest *d)
{
    return bs->backend->ops->stat(size_out, mtime_out, bs->backend, d);
}

int blobstore_quarantine(blobstore *bs, const digest *d)
{
    return bs->backend->ops->quarantine(bs->backend, d);
}

int blobstore_remove(blobstore *bs, const digest *d)
{
    return bs->backend->ops->remove(bs->backend, d);
}

int blobstore_remove_many(blobstore *bs, const digest *ds, size_t n)
{
    return bs->backend->ops->remove_many(bs->backend, ds, n);
}
