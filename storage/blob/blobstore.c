/* blobstore.c - blob files on a local disk (see blobstore.h). Durability rule: a blob path
 * only ever appears by rename() or link() of an fsync'd, verified spool file, followed by a
 * folder fsync before the index row that makes it visible is committed. */
#include "storage/blob/blobstore.h"
#include "storage/blob/blobstore_s3.h"
#include "storage/base/fileio.h"
#include "storage/base/parallel.h"
#include "storage/base/random.h"
#include "storage/base/reg_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct blobstore {
    char *root;        /* DATA */
    char *uploads_dir; /* DATA/uploads */
    blobstore_s3 *remote; /* S3 storage: blobs are objects, not files under DATA/blobs */
};

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return REG_OK;
    return REG_ERROR;
}

int blobstore_open(blobstore **out, const char *data_dir)
{
    char path[PATH_MAX];
    blobstore *bs = calloc(1, sizeof(*bs));
    if (!bs)
        return REG_ERROR;
    bs->root = strdup(data_dir);
    if (asprintf(&bs->uploads_dir, "%s/uploads", data_dir) < 0)
        bs->uploads_dir = NULL;
    if (!bs->root || !bs->uploads_dir || make_dir(data_dir) < 0 || make_dir(bs->uploads_dir) < 0)
        goto fail;
    snprintf(path, sizeof(path), "%s/blobs", data_dir);
    if (make_dir(path) < 0)
        goto fail;
    for (int alg = 0; alg < 2; alg++) {
        snprintf(path, sizeof(path), "%s/blobs/%s", data_dir, digest_alg_name(alg));
        if (make_dir(path) < 0)
            goto fail;
        for (int i = 0; i < 256; i++) {
            snprintf(path, sizeof(path), "%s/blobs/%s/%02x", data_dir, digest_alg_name(alg), i);
            if (make_dir(path) < 0)
                goto fail;
        }
    }
    *out = bs;
    return REG_OK;
fail:
    blobstore_close(bs);
    return REG_ERROR;
}

int blobstore_open_at(blobstore **out, const char *data_dir, const char *storage, char *err,
                      size_t errlen)
{
    if (!storage || !storage[0]) {
        int rc = blobstore_open(out, data_dir);
        if (rc < 0)
            snprintf(err, errlen, "cannot make the folder layout: %s", strerror(errno));
        return rc;
    }
    blobstore *bs = calloc(1, sizeof(*bs));
    if (!bs || !(bs->root = strdup(data_dir)) ||
        asprintf(&bs->uploads_dir, "%s/uploads", data_dir) < 0) {
        if (bs)
            bs->uploads_dir = NULL;
        blobstore_close(bs);
        snprintf(err, errlen, "out of memory");
        return REG_ERROR;
    }
    int rc = make_dir(data_dir);
    if (rc < 0)
        snprintf(err, errlen, "cannot make %s: %s", data_dir, strerror(errno));
    else
        rc = bs3_open(&bs->remote, data_dir, storage, err, errlen);
    if (rc < 0) {
        blobstore_close(bs);
        return rc;
    }
    *out = bs;
    return REG_OK;
}

int blobstore_is_remote(const blobstore *bs)
{
    return bs->remote != NULL;
}

struct blobstore_s3 *blobstore_remote(blobstore *bs)
{
    return bs->remote;
}

int blobstore_put(blobstore *bs, const digest *d, const void *data, size_t len)
{
    char spool[PATH_MAX];
    if (bs->remote)
        return bs3_put(bs->remote, d, data, len);
    int err = blobstore_spool(spool, bs, data, len);
    if (err == REG_OK && (err = blobstore_commit_synced(bs, spool, d)) < 0)
        unlink(spool);
    return err;
}

void blobstore_close(blobstore *bs)
{
    if (!bs)
        return;
    bs3_close(bs->remote);
    free(bs->root);
    free(bs->uploads_dir);
    free(bs);
}

const char *blobstore_uploads_dir(const blobstore *bs)
{
    return bs->uploads_dir;
}

static void blob_dir(char *out, size_t n, const blobstore *bs, const digest *d)
{
    const char *hex = digest_hex(d);
    snprintf(out, n, "%s/blobs/%s/%.2s", bs->root, digest_alg_name(d->alg), hex);
}

static void blob_path(char *out, size_t n, const blobstore *bs, const digest *d)
{
    const char *hex = digest_hex(d);
    snprintf(out, n, "%s/blobs/%s/%.2s/%s", bs->root, digest_alg_name(d->alg), hex, hex);
}

int blobstore_open_blob(int *fd_out, uint64_t *size_out, blobstore *bs, const digest *d)
{
    char path[PATH_MAX];
    struct stat st;
    if (bs->remote)
        return bs3_open_blob(fd_out, size_out, bs->remote, d);
    blob_path(path, sizeof(path), bs, d);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? REG_ENOTFOUND : REG_ERROR;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return REG_ERROR;
    }
    *fd_out = fd;
    *size_out = (uint64_t)st.st_size;
    return REG_OK;
}

int blobstore_sync(int spool_fd)
{
    if (fsync(spool_fd) < 0)
        return fileio_errno_to_reg(errno);
    return fchmod(spool_fd, 0444) == 0 ? REG_OK : REG_ERROR;
}

int blobstore_commit_synced(blobstore *bs, const char *spool_path, const digest *d)
{
    char path[PATH_MAX], dir[PATH_MAX];
    blob_path(path, sizeof(path), bs, d);
    if (access(path, F_OK) == 0)
        return unlink(spool_path) == 0 ? REG_OK : REG_ERROR;
    if (rename(spool_path, path) < 0)
        return REG_ERROR;
    blob_dir(dir, sizeof(dir), bs, d);
    return fileio_fsync_dir(dir);
}

int blobstore_place(blobstore *bs, const char *spool_path, const digest *d)
{
    char path[PATH_MAX], dir[PATH_MAX];
    blob_path(path, sizeof(path), bs, d);
    if (link(spool_path, path) < 0 && errno != EEXIST)
        return fileio_errno_to_reg(errno);
    /* Also when the file was there: its creator may not have synced the folder yet. */
    blob_dir(dir, sizeof(dir), bs, d);
    return fileio_fsync_dir(dir);
}

int blobstore_confirm(blobstore *bs, const char *spool_path, const digest *d)
{
    char path[PATH_MAX];
    struct stat placed, spool;
    blob_path(path, sizeof(path), bs, d);
    if (stat(path, &placed) == 0 && stat(spool_path, &spool) == 0 &&
        placed.st_dev == spool.st_dev && placed.st_ino == spool.st_ino)
        return REG_OK; /* our own link, synced by blobstore_place */
    return blobstore_place(bs, spool_path, d);
}

int blobstore_commit(blobstore *bs, const char *spool_path, int spool_fd, const digest *d)
{
    int err = blobstore_sync(spool_fd);
    return err < 0 ? err : blobstore_commit_synced(bs, spool_path, d);
}

int blobstore_spool(char *path_out, blobstore *bs, const void *data, size_t len)
{
    char rnd[17];
    if (random_hex(rnd, 8) < 0)
        return REG_ERROR;
    snprintf(path_out, PATH_MAX, "%s/.m-%s", bs->uploads_dir, rnd);
    int fd = open(path_out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return fileio_errno_to_reg(errno);
    int err = fileio_write_all(fd, data, len);
    if (err == REG_OK)
        err = blobstore_sync(fd);
    close(fd);
    if (err < 0)
        unlink(path_out);
    return err;
}

static void aside_path(char *out, size_t n, const blobstore *bs, const char *folder,
                       const digest *d)
{
    snprintf(out, n, "%s/%s/%s-%s", bs->root, folder, digest_alg_name(d->alg), digest_hex(d));
}

static int move_aside(blobstore *bs, const digest *d, const char *folder)
{
    char from[PATH_MAX], to[PATH_MAX], dir[PATH_MAX];
    blob_path(from, sizeof(from), bs, d);
    aside_path(to, sizeof(to), bs, folder, d);
    if (rename(from, to) == 0)
        return REG_OK;
    if (errno != ENOENT)
        return REG_ERROR;
    if (access(from, F_OK) != 0)
        return REG_ENOTFOUND;
    /* The blob is there, so the folder is missing: it is made on first use. */
    snprintf(dir, sizeof(dir), "%s/%s", bs->root, folder);
    if (make_dir(dir) < 0 || rename(from, to) < 0)
        return REG_ERROR;
    return REG_OK;
}

int blobstore_quarantine(blobstore *bs, const digest *d)
{
    if (bs->remote)
        return REG_EINVALID; /* fsck --repair on S3 reports, but does not move objects */
    return move_aside(bs, d, "quarantine");
}

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

int blobstore_remove(blobstore *bs, const digest *d)
{
    char path[PATH_MAX];
    if (bs->remote)
        return bs3_remove(bs->remote, d);
    blob_path(path, sizeof(path), bs, d);
    if (unlink(path) == 0)
        return REG_OK;
    return errno == ENOENT ? REG_ENOTFOUND : REG_ERROR;
}

/* Unlinks wait on the disk more than on the CPU (ext4 mounted with discard trims a file's
 * blocks inside its unlink): run several at once. 15,000 one-block files: 0.30 s on 8 threads,
 * 0.23 s on 16, no better on 32 or 64. */
#define FS_THREADS 16

typedef struct remove_job {
    blobstore *bs;
    const digest *ds;
    int *errs;
} remove_job;

static void remove_one(void *ctx, size_t i)
{
    remove_job *j = ctx;
    int err = blobstore_remove(j->bs, &j->ds[i]);
    j->errs[i] = err == REG_ENOTFOUND ? REG_OK : err;
}

int blobstore_remove_many(blobstore *bs, const digest *ds, size_t n)
{
    if (bs->remote)
        return bs3_remove_many(bs->remote, ds, n);
    int *errs = calloc(n ? n : 1, sizeof(*errs));
    if (!errs)
        return REG_ERROR;
    remove_job j = {bs, ds, errs};
    parallel_for(n, FS_THREADS, remove_one, &j);
    int err = REG_OK;
    for (size_t i = 0; err == REG_OK && i < n; i++)
        err = errs[i];
    free(errs);
    return err;
}

/* Walk one blobs/<alg>/<xx> folder. */
static int walk_dir(const char *dir, digest_alg alg, blobstore_walk_cb cb, void *ctx)
{
    char text[DIGEST_MAX + NAME_MAX];
    digest dg;
    int err = REG_OK;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? REG_OK : REG_ERROR;
    for (struct dirent *e; err == REG_OK && (e = readdir(d)) != NULL;) {
        snprintf(text, sizeof(text), "%s:%s", digest_alg_name(alg), e->d_name);
        if (e->d_name[0] == '.' || digest_parse(&dg, text) < 0)
            continue;
        err = cb(ctx, &dg);
    }
    closedir(d);
    return err;
}

int blobstore_stat(uint64_t *size_out, int64_t *mtime_out, blobstore *bs, const digest *d)
{
    char path[PATH_MAX];
    struct stat st;
    if (bs->remote)
        return bs3_stat(size_out, mtime_out, bs->remote, d);
    blob_path(path, sizeof(path), bs, d);
    if (stat(path, &st) < 0)
        return errno == ENOENT ? REG_ENOTFOUND : REG_ERROR;
    *size_out = (uint64_t)st.st_size;
    *mtime_out = (int64_t)st.st_mtime;
    return REG_OK;
}

int blobstore_walk(blobstore *bs, blobstore_walk_cb cb, void *ctx)
{
    char dir[PATH_MAX];
    int err = REG_OK;
    if (bs->remote)
        return bs3_walk(bs->remote, cb, ctx);
    for (int alg = 0; alg < 2 && err == REG_OK; alg++)
        for (int i = 0; i < 256 && err == REG_OK; i++) {
            snprintf(dir, sizeof(dir), "%s/blobs/%s/%02x", bs->root, digest_alg_name(alg), i);
            err = walk_dir(dir, (digest_alg)alg, cb, ctx);
        }
    return err;
}
