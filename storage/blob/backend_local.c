/* backend_local.c - the blob backend of a local disk (see backend.h). Durability rule: a blob
 * path only ever appears by link() of an fsync'd, verified spool file, followed by a folder
 * fsync before the index row that makes it visible is committed. */
#include "storage/blob/backend.h"
#include "storage/base/fileio.h"
#include "storage/base/parallel.h"
#include "storage/base/random.h"
#include "storage/base/reg_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct local_backend {
    blob_backend base;
    char *root;        /* DATA */
    char *uploads_dir; /* DATA/uploads: spool files */
} local_backend;

typedef struct local_reader {
    blob_reader base;
    uint64_t start, length;
} local_reader;

static const blob_backend_ops local_ops;

static local_backend *local(blob_backend *b)
{
    return (local_backend *)b;
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return REG_OK;
    return REG_ERROR;
}

static int make_layout(const char *data_dir, const char *uploads_dir)
{
    char path[PATH_MAX];
    if (make_dir(data_dir) < 0 || make_dir(uploads_dir) < 0)
        return REG_ERROR;
    snprintf(path, sizeof(path), "%s/blobs", data_dir);
    if (make_dir(path) < 0)
        return REG_ERROR;
    for (int alg = 0; alg < 2; alg++) {
        snprintf(path, sizeof(path), "%s/blobs/%s", data_dir, digest_alg_name(alg));
        if (make_dir(path) < 0)
            return REG_ERROR;
        for (int i = 0; i < 256; i++) {
            snprintf(path, sizeof(path), "%s/blobs/%s/%02x", data_dir, digest_alg_name(alg), i);
            if (make_dir(path) < 0)
                return REG_ERROR;
        }
    }
    return REG_OK;
}

static void local_close(blob_backend *base)
{
    local_backend *b = local(base);
    if (!b)
        return;
    free(b->root);
    free(b->uploads_dir);
    free(b);
}

int local_backend_open(blob_backend **out, const char *data_dir)
{
    local_backend *b = calloc(1, sizeof(*b));
    if (!b)
        return reg_error_set(REG_ERROR, "out of memory");
    b->base.ops = &local_ops;
    if (!(b->root = strdup(data_dir)) || asprintf(&b->uploads_dir, "%s/uploads", data_dir) < 0) {
        b->uploads_dir = NULL;
        local_close(&b->base);
        return reg_error_set(REG_ERROR, "out of memory");
    }
    if (make_layout(data_dir, b->uploads_dir) < 0) {
        int err = reg_error_set(REG_ERROR, "cannot make the folder layout: %s", strerror(errno));
        local_close(&b->base);
        return err;
    }
    *out = &b->base;
    return REG_OK;
}

static void blob_dir(char *out, size_t n, const local_backend *b, const digest *d)
{
    const char *hex = digest_hex(d);
    snprintf(out, n, "%s/blobs/%s/%.2s", b->root, digest_alg_name(d->alg), hex);
}

static void blob_path(char *out, size_t n, const local_backend *b, const digest *d)
{
    const char *hex = digest_hex(d);
    snprintf(out, n, "%s/blobs/%s/%.2s/%s", b->root, digest_alg_name(d->alg), hex, hex);
}

static int local_open_fd(int *fd_out, uint64_t *size_out, blob_backend *base, const digest *d)
{
    char path[PATH_MAX];
    struct stat st;
    blob_path(path, sizeof(path), local(base), d);
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

/* ---- reading: the reader is the file, which the HTTP layer sends with sendfile ---- */

static ssize_t local_read(blob_reader *base, uint64_t pos, void *out, size_t max)
{
    local_reader *r = (local_reader *)base;
    if (pos >= r->length)
        return 0;
    size_t n = r->length - pos < max ? (size_t)(r->length - pos) : max;
    ssize_t got = pread(r->base.fd, out, n, (off_t)(r->start + pos));
    if (got < 0)
        return reg_error_set(fileio_errno_to_reg(errno), "cannot read the blob: %s",
                             strerror(errno));
    return got > 0 ? got : reg_error_set(REG_ERROR, "the blob ends before its size");
}

static void local_reader_free(blob_reader *base)
{
    if (base->fd >= 0)
        close(base->fd);
    free(base);
}

static const blob_reader_ops local_reader_ops = {.read = local_read, .free = local_reader_free};

static int local_open_reader(blob_reader **out, blob_backend *b, const digest *d, uint64_t start,
                             uint64_t length)
{
    local_reader *r = malloc(sizeof(*r));
    if (!r)
        return REG_ERROR;
    int err = local_open_fd(&r->base.fd, &r->base.size, b, d);
    if (err < 0) {
        free(r);
        return err;
    }
    r->base.ops = &local_reader_ops;
    r->start = start;
    r->length = length;
    *out = &r->base;
    return REG_OK;
}

static int local_presign(char **url_out, blob_backend *b, const digest *d, int expires)
{
    return REG_EINVALID; /* clients read local blobs through the registry */
}

/* ---- publishing ---- */

static int sync_fd(int fd)
{
    if (fsync(fd) < 0)
        return fileio_errno_to_reg(errno);
    return fchmod(fd, 0444) == 0 ? REG_OK : REG_ERROR;
}

/* Write `len` bytes into a new, synced spool file (its path in path_out, PATH_MAX bytes). */
static int spool(char *path_out, const local_backend *b, const void *data, size_t len)
{
    char rnd[17];
    if (random_hex(rnd, 8) < 0)
        return REG_ERROR;
    snprintf(path_out, PATH_MAX, "%s/.m-%s", b->uploads_dir, rnd);
    int fd = open(path_out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return fileio_errno_to_reg(errno);
    int err = fileio_write_all(fd, data, len);
    if (err == REG_OK)
        err = sync_fd(fd);
    close(fd);
    if (err < 0)
        unlink(path_out);
    return err;
}

static int sync_spool(const blob_publish *p)
{
    if (p->fd >= 0)
        return sync_fd(p->fd);
    int fd = open(p->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return REG_ERROR;
    int err = sync_fd(fd);
    close(fd);
    return err;
}

/* Hard-link the synced spool to the blob's path, if no file is there yet, and fsync the
 * folder. */
static int place(const local_backend *b, const char *spool_path, const digest *d)
{
    char path[PATH_MAX], dir[PATH_MAX];
    blob_path(path, sizeof(path), b, d);
    if (link(spool_path, path) < 0 && errno != EEXIST)
        return fileio_errno_to_reg(errno);
    /* Also when the file was there: its creator may not have synced the folder yet. */
    blob_dir(dir, sizeof(dir), b, d);
    return fileio_fsync_dir(dir);
}

int local_publish_prepare(blob_publish *p)
{
    local_backend *b = local(p->backend);
    int err;
    if (!p->path[0]) {
        if ((err = spool(p->path, b, p->data, p->len)) < 0) {
            p->path[0] = '\0';
            return err;
        }
        p->remove_path = 1;
    } else if ((err = sync_spool(p)) < 0) {
        return err;
    }
    return place(b, p->path, &p->d);
}

/* Make sure the path still holds a durable file: gc may have removed it since the spool was
 * placed; it is then linked again. */
int local_publish_commit(blob_publish *p)
{
    local_backend *b = local(p->backend);
    char path[PATH_MAX];
    struct stat placed, spool_st;
    blob_path(path, sizeof(path), b, &p->d);
    if (stat(path, &placed) == 0 && stat(p->path, &spool_st) == 0 &&
        placed.st_dev == spool_st.st_dev && placed.st_ino == spool_st.st_ino)
        return REG_OK; /* our own link, synced by place */
    return place(b, p->path, &p->d);
}

static const blob_publish_ops local_publish_ops = {
    .prepare = local_publish_prepare,
    .commit = local_publish_commit,
};

/* ---- maintenance ---- */

static void aside_path(char *out, size_t n, const local_backend *b, const char *folder,
                       const digest *d)
{
    snprintf(out, n, "%s/%s/%s-%s", b->root, folder, digest_alg_name(d->alg), digest_hex(d));
}

static int move_aside(const local_backend *b, const digest *d, const char *folder)
{
    char from[PATH_MAX], to[PATH_MAX], dir[PATH_MAX];
    blob_path(from, sizeof(from), b, d);
    aside_path(to, sizeof(to), b, folder, d);
    if (rename(from, to) == 0)
        return REG_OK;
    if (errno != ENOENT)
        return REG_ERROR;
    if (access(from, F_OK) != 0)
        return REG_ENOTFOUND;
    /* The blob is there, so the folder is missing: it is made on first use. */
    snprintf(dir, sizeof(dir), "%s/%s", b->root, folder);
    if (make_dir(dir) < 0 || rename(from, to) < 0)
        return REG_ERROR;
    return REG_OK;
}

static int local_quarantine(blob_backend *b, const digest *d)
{
    return move_aside(local(b), d, "quarantine");
}

static int local_remove(blob_backend *b, const digest *d)
{
    char path[PATH_MAX];
    blob_path(path, sizeof(path), local(b), d);
    if (unlink(path) == 0)
        return REG_OK;
    return errno == ENOENT ? REG_ENOTFOUND : REG_ERROR;
}

/* Unlinks wait on the disk more than on the CPU (ext4 mounted with discard trims a file's
 * blocks inside its unlink): run several at once; more threads than this stopped helping. */
#define FS_THREADS 16

typedef struct remove_job {
    blob_backend *b;
    const digest *ds;
    int *errs;
} remove_job;

static void remove_one(void *ctx, size_t i)
{
    remove_job *j = ctx;
    int err = local_remove(j->b, &j->ds[i]);
    j->errs[i] = err == REG_ENOTFOUND ? REG_OK : err;
}

static int local_remove_many(blob_backend *b, const digest *ds, size_t n)
{
    int *errs = calloc(n ? n : 1, sizeof(*errs));
    if (!errs)
        return REG_ERROR;
    remove_job j = {b, ds, errs};
    parallel_for(n, FS_THREADS, remove_one, &j);
    int err = REG_OK;
    for (size_t i = 0; err == REG_OK && i < n; i++)
        err = errs[i];
    free(errs);
    return err;
}

static int local_stat(uint64_t *size_out, int64_t *mtime_out, blob_backend *b, const digest *d)
{
    char path[PATH_MAX];
    struct stat st;
    blob_path(path, sizeof(path), local(b), d);
    if (stat(path, &st) < 0)
        return errno == ENOENT ? REG_ENOTFOUND : REG_ERROR;
    *size_out = (uint64_t)st.st_size;
    *mtime_out = (int64_t)st.st_mtime;
    return REG_OK;
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

static int local_walk(blob_backend *b, blobstore_walk_cb cb, void *ctx)
{
    char dir[PATH_MAX];
    int err = REG_OK;
    for (int alg = 0; alg < 2 && err == REG_OK; alg++)
        for (int i = 0; i < 256 && err == REG_OK; i++) {
            snprintf(dir, sizeof(dir), "%s/blobs/%s/%02x", local(b)->root, digest_alg_name(alg), i);
            err = walk_dir(dir, (digest_alg)alg, cb, ctx);
        }
    return err;
}

static int local_uploads(upload_table **out, blob_backend *b, const char *index_location)
{
    (void)index_location; /* sessions of one instance, in its own memory and spool folder */
    return local_uploads_new(out, local(b)->uploads_dir);
}

static const blob_backend_ops local_ops = {
    .open_fd = local_open_fd,
    .open_reader = local_open_reader,
    .presign = local_presign,
    .publish = &local_publish_ops,
    .stat = local_stat,
    .walk = local_walk,
    .quarantine = local_quarantine,
    .remove = local_remove,
    .remove_many = local_remove_many,
    .uploads_new = local_uploads,
    .close = local_close,
};
