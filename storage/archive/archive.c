/* archive.c - tar over zstd over a file, with temporary-file-and-rename on the way out and
 * format detection on the way in (see archive.h). */
#include "storage/archive/archive.h"
#include "storage/base/fileio.h"
#include "storage/base/random.h"
#include "storage/base/reg_error.h"
#include "storage/archive/zstream.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

static int cancelled(const archive_options *opt)
{
    return opt->cancel && *opt->cancel;
}

/* ---- writing ---- */

struct archive_out {
    archive_options opt;
    int fd;
    char *path, *tmp_path; /* both NULL for stdout */
    zwriter *z;
    tar_writer tar;
    unsigned char *chunk;
    uint64_t done, total;
    int committed;
};

static int sink(void *ctx, const void *data, size_t len)
{
    archive_out *a = ctx;
    int err = zwriter_write(a->z, data, len);
    if (err < 0)
        return reg_error_set(err, "cannot write %s: %s", a->tmp_path ? a->tmp_path : "stdout",
                             err == REG_ENOSPACE ? "no space left on the device" : strerror(errno));
    a->done += len;
    if (a->opt.progress)
        a->opt.progress(a->opt.progress_ctx, a->done, a->done, a->total);
    return REG_OK;
}

int archive_create(archive_out **out, const char *path, const archive_options *opt)
{
    archive_out *a = calloc(1, sizeof(*a));
    int err = REG_ERROR;
    if (!a)
        return reg_error_set(REG_ERROR, "out of memory");
    a->opt = *opt;
    a->fd = -1;
    if (!(a->chunk = malloc(CHUNK))) {
        err = reg_error_set(REG_ERROR, "out of memory");
        goto fail;
    }
    if (strcmp(path, "-") == 0) {
        a->fd = STDOUT_FILENO;
    } else {
        if (!(a->path = strdup(path)) || asprintf(&a->tmp_path, "%s.tmp", path) < 0) {
            a->tmp_path = NULL;
            err = reg_error_set(REG_ERROR, "out of memory");
            goto fail;
        }
        a->fd = open(a->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (a->fd < 0) {
            err = reg_error_set(REG_ERROR, "cannot create %s: %s", a->tmp_path, strerror(errno));
            free(a->tmp_path); /* not ours to remove */
            a->tmp_path = NULL;
            goto fail;
        }
    }
    if ((err = zwriter_new(&a->z, a->fd, opt->level, opt->threads)) < 0)
        goto fail;
    tar_writer_init(&a->tar, sink, a);
    *out = a;
    return REG_OK;
fail:
    archive_out_free(a);
    return err;
}

void archive_set_total(archive_out *a, uint64_t total)
{
    a->total = total;
}

int archive_add_dir(archive_out *a, const char *name, unsigned mode)
{
    int err = tar_put_header(&a->tar, name, TAR_DIR, 0, mode, 0);
    return err < 0 ? err : tar_end_entry(&a->tar);
}

int archive_add_buffer(archive_out *a, const char *name, const void *data, size_t len,
                       unsigned mode)
{
    int err = tar_put_header(&a->tar, name, TAR_FILE, len, mode, 0);
    if (err == REG_OK)
        err = tar_put_data(&a->tar, data, len);
    return err < 0 ? err : tar_end_entry(&a->tar);
}

/* Copy size bytes of fd into the open entry, hashing them into h when given. */
static int copy_fd(archive_out *a, const char *name, int fd, uint64_t size, digester *h)
{
    uint64_t off = 0;
    while (off < size) {
        size_t want = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
        ssize_t n = pread(fd, a->chunk, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (cancelled(&a->opt))
            return reg_error_set(REG_ERROR, "interrupted");
        if (n <= 0)
            return reg_error_set(REG_ERROR, "cannot read %s: %s", name,
                                 n < 0 ? strerror(errno) : "file shrank");
        if (h && digester_update(h, a->chunk, (size_t)n) < 0)
            return reg_error_set(REG_ERROR, "cannot hash %s", name);
        int err = tar_put_data(&a->tar, a->chunk, (size_t)n);
        if (err < 0)
            return err;
        off += (uint64_t)n;
    }
    return REG_OK;
}

int archive_add_fd(archive_out *a, const char *name, int fd, uint64_t size, unsigned mode,
                   const digest *check)
{
    digester *h = NULL;
    digest got;
    int err = check ? digester_new(&h, check->alg) : REG_OK;
    if (err == REG_OK)
        err = tar_put_header(&a->tar, name, TAR_FILE, size, mode, 0);
    if (err == REG_OK)
        err = copy_fd(a, name, fd, size, h);
    if (err == REG_OK && check && (err = digester_peek(&got, h)) == REG_OK &&
        strcmp(got.str, check->str) != 0)
        err = reg_error_set(REG_EMISMATCH, "blob %s is corrupt on disk: its content hashes to %s",
                            check->str, got.str);
    if (err == REG_OK)
        err = tar_end_entry(&a->tar);
    digester_free(h);
    return err;
}

static int fsync_parent(const char *path)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof(copy), "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return REG_ERROR;
    int err = fsync(fd) == 0 ? REG_OK : REG_ERROR;
    close(fd);
    return err;
}

int archive_commit(archive_out *a)
{
    int err = tar_put_end(&a->tar);
    if (err == REG_OK && (err = zwriter_finish(a->z)) < 0)
        reg_error_set(err, "cannot write the archive: %s",
                      err == REG_ENOSPACE ? "no space left on the device" : strerror(errno));
    if (err < 0 || !a->path)
        return err;
    if (fsync(a->fd) < 0 || rename(a->tmp_path, a->path) < 0 || fsync_parent(a->path) < 0)
        return reg_error_set(fileio_errno_to_reg(errno), "cannot finish %s: %s", a->path,
                             strerror(errno));
    a->committed = 1;
    return REG_OK;
}

uint64_t archive_bytes_written(const archive_out *a)
{
    return zwriter_bytes_out(a->z);
}

void archive_out_free(archive_out *a)
{
    if (!a)
        return;
    zwriter_free(a->z);
    if (a->path && a->fd >= 0)
        close(a->fd);
    if (a->tmp_path && !a->committed)
        unlink(a->tmp_path);
    free(a->tmp_path);
    free(a->path);
    free(a->chunk);
    free(a);
}

/* ---- reading ---- */

struct archive_in {
    archive_options opt;
    int fd, own_fd;
    uint64_t file_size; /* 0 when not a regular file */
    uint64_t bytes;     /* uncompressed bytes read */
    zreader *z;
    tar_reader tar;
};

static int source(void *ctx, void *buf, size_t len, size_t *got)
{
    archive_in *a = ctx;
    if (cancelled(&a->opt))
        return reg_error_set(REG_ERROR, "interrupted");
    int err = zreader_read(a->z, buf, len, got);
    if (err < 0)
        return err;
    a->bytes += *got;
    if (a->opt.progress)
        a->opt.progress(a->opt.progress_ctx, a->bytes, zreader_bytes_in(a->z), a->file_size);
    return REG_OK;
}

int archive_open(archive_in **out, const char *path, const archive_options *opt)
{
    struct stat st;
    archive_in *a = calloc(1, sizeof(*a));
    if (!a)
        return reg_error_set(REG_ERROR, "out of memory");
    a->opt = *opt;
    a->fd = STDIN_FILENO;
    if (strcmp(path, "-") != 0) {
        if ((a->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
            int err = errno == ENOENT ? REG_ENOTFOUND : REG_ERROR;
            reg_error_set(err, "cannot open %s: %s", path, strerror(errno));
            free(a);
            return err;
        }
        a->own_fd = 1;
    }
    if (fstat(a->fd, &st) == 0 && S_ISREG(st.st_mode))
        a->file_size = (uint64_t)st.st_size;
    if (zreader_new(&a->z, a->fd) < 0) {
        archive_close(a);
        return reg_error_set(REG_ERROR, "cannot read %s", path);
    }
    tar_reader_init(&a->tar, source, a);
    *out = a;
    return REG_OK;
}

/* After the end-of-archive marker: read the rest, so a damaged zstd frame is noticed. */
static int drain(archive_in *a)
{
    unsigned char scratch[16384];
    size_t got;
    do {
        int err = source(a, scratch, sizeof(scratch), &got);
        if (err < 0)
            return err;
    } while (got > 0);
    return REG_ENOTFOUND;
}

int archive_next(tar_entry *out, archive_in *a)
{
    int err = tar_next(out, &a->tar);
    if (err == REG_ENOTFOUND)
        return drain(a);
    return err < 0 ? err : REG_OK;
}

int archive_read(archive_in *a, void *buf, size_t len, size_t *got)
{
    int err = tar_read(&a->tar, buf, len, got);
    return err < 0 ? err : REG_OK;
}

int archive_read_all(char **out, size_t *len_out, archive_in *a, size_t max)
{
    if (a->tar.left > max)
        return REG_ETOOLARGE;
    size_t len = (size_t)a->tar.left, got;
    char *data = malloc(len + 1);
    if (!data)
        return reg_error_set(REG_ERROR, "out of memory");
    int err = len ? archive_read(a, data, len, &got) : REG_OK;
    if (err < 0) {
        free(data);
        return err;
    }
    data[len] = '\0';
    *out = data;
    *len_out = len;
    return REG_OK;
}

/* Before writing the current entry into folder dir: its declared size against `max` and
 * against the space free there (a few kilobytes of tar header can declare terabytes). */
static int check_room(archive_in *a, const char *dir, const char *what, uint64_t max)
{
    struct statvfs vfs;
    uint64_t size = a->tar.left;
    if (max && size > max)
        return reg_error_set(REG_ETOOLARGE,
                             "%s declares %llu bytes, over the maximum blob size of %llu "
                             "(--max-blob-size)",
                             what, (unsigned long long)size, (unsigned long long)max);
    if (statvfs(dir, &vfs) < 0)
        return reg_error_set(REG_ERROR, "cannot read the free space of %s: %s", dir,
                             strerror(errno));
    uint64_t free_bytes = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    if (size > free_bytes)
        return reg_error_set(REG_ENOSPACE, "%s declares %llu bytes, more than the %llu free in %s",
                             what, (unsigned long long)size, (unsigned long long)free_bytes, dir);
    return REG_OK;
}

static int new_spool(char *path_out, size_t path_len, const char *dir, const char *prefix)
{
    char rnd[17];
    if (random_hex(rnd, 8) < 0)
        return -1;
    snprintf(path_out, path_len, "%s/%s%s", dir, prefix, rnd);
    return open(path_out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
}

/* Copy the rest of the entry into fd, hashing it. */
static int copy_entry(archive_in *a, int fd, digester *h, unsigned char *chunk)
{
    size_t got;
    int err;
    while ((err = archive_read(a, chunk, CHUNK, &got)) == REG_OK && got > 0) {
        if ((err = digester_update(h, chunk, got)) < 0)
            break;
        if ((err = fileio_write_all(fd, chunk, got)) < 0) {
            reg_error_set(err, "cannot write a spool file: %s",
                          err == REG_ENOSPACE ? "no space left on the device" : strerror(errno));
            break;
        }
    }
    return err;
}

int archive_spool(char *path_out, size_t path_len, archive_in *a, const char *dir,
                  const char *prefix, const digest *expected)
{
    digester *h = NULL;
    digest got;
    int err = check_room(a, dir, expected->str, a->opt.max_blob_size);
    if (err < 0)
        return err;
    unsigned char *chunk = malloc(CHUNK);
    int fd = chunk ? new_spool(path_out, path_len, dir, prefix) : -1;
    err = fd < 0 ? REG_ERROR : digester_new(&h, expected->alg);
    if (fd < 0 && chunk)
        reg_error_set(err, "cannot create a spool file in %s: %s", dir, strerror(errno));
    if (err == REG_OK)
        err = copy_entry(a, fd, h, chunk);
    if (err == REG_OK && (err = digester_peek(&got, h)) == REG_OK &&
        strcmp(got.str, expected->str) != 0)
        err = reg_error_set(REG_EMISMATCH,
                            "blob %s in the archive does not match its digest: its content "
                            "hashes to %s (a damaged or tampered archive)",
                            expected->str, got.str);
    if (fd >= 0)
        close(fd);
    if (fd >= 0 && err < 0)
        unlink(path_out);
    digester_free(h);
    free(chunk);
    return err;
}

int archive_extract(archive_in *a, const char *path, unsigned mode, uint64_t max)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    int err = check_room(a, dirname(dir), path, max);
    if (err < 0)
        return err;
    unsigned char *chunk = malloc(CHUNK);
    size_t got;
    int fd = chunk ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
    err = fd < 0 ? REG_ERROR : REG_OK;
    if (fd < 0 && chunk)
        reg_error_set(err, "cannot create %s: %s", path, strerror(errno));
    while (err == REG_OK && (err = archive_read(a, chunk, CHUNK, &got)) == REG_OK && got > 0)
        if ((err = fileio_write_all(fd, chunk, got)) < 0)
            reg_error_set(err, "cannot write %s: %s", path, strerror(errno));
    if (err == REG_OK && (fchmod(fd, mode & 07777) < 0 || fsync(fd) < 0))
        err = reg_error_set(fileio_errno_to_reg(errno), "cannot finish %s: %s", path,
                            strerror(errno));
    if (fd >= 0)
        close(fd);
    if (fd >= 0 && err < 0)
        unlink(path);
    free(chunk);
    return err;
}

uint64_t archive_bytes_read(const archive_in *a)
{
    return zreader_bytes_in(a->z);
}

void archive_close(archive_in *a)
{
    if (!a)
        return;
    zreader_free(a->z);
    if (a->own_fd)
        close(a->fd);
    free(a);
}
