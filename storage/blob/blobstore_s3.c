/* blobstore_s3.c - blobs as S3 objects (see blobstore_s3.h). Objects appear only by
 * PutObject or CompleteMultipartUpload of verified content, inside the index transaction that
 * records them, and go only after their rows (see gc.c), so a row always has its object.
 * Blobs up to CACHE_MAX (manifests, configs) are kept in DATA/cache after their first read:
 * content-addressed objects never change, so the cache never goes stale. */
#include "storage/blob/blobstore_s3.h"
#include "storage/base/fileio.h"
#include "storage/base/random.h"
#include "storage/base/reg_error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAX (4u << 20)
#define DELETE_BATCH 1000

struct blobstore_s3 {
    s3_client *s3;
    char *cache_dir; /* DATA/cache */
};

int bs3_open(blobstore_s3 **out, const char *data_dir, const char *url, char *err, size_t errlen)
{
    s3_config cfg;
    blobstore_s3 *b = calloc(1, sizeof(*b));
    int rc = REG_ERROR;
    if (!b)
        return REG_ERROR;
    if ((rc = s3_config_parse(&cfg, url, err, errlen)) < 0)
        goto fail;
    rc = s3_client_new(&b->s3, &cfg);
    s3_config_free(&cfg);
    if (rc < 0) {
        snprintf(err, errlen, "cannot set up the S3 client");
        goto fail;
    }
    if (s3_bucket_ensure(b->s3) < 0) {
        snprintf(err, errlen, "S3 bucket not usable: %s", s3_last_error());
        rc = REG_ERROR;
        goto fail;
    }
    if (asprintf(&b->cache_dir, "%s/cache", data_dir) < 0) {
        b->cache_dir = NULL;
        goto fail;
    }
    if (mkdir(b->cache_dir, 0755) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot make %s: %s", b->cache_dir, strerror(errno));
        goto fail;
    }
    *out = b;
    return REG_OK;
fail:
    bs3_close(b);
    return rc < 0 ? rc : REG_ERROR;
}

void bs3_close(blobstore_s3 *b)
{
    if (!b)
        return;
    s3_client_free(b->s3);
    free(b->cache_dir);
    free(b);
}

s3_client *bs3_client(blobstore_s3 *b)
{
    return b->s3;
}

void bs3_key(char *out, const digest *d)
{
    const char *hex = digest_hex(d);
    snprintf(out, BLOBSTORE_KEY_MAX, "blobs/%s/%.2s/%s", digest_alg_name(d->alg), hex, hex);
}

int bs3_put(blobstore_s3 *b, const digest *d, const void *data, size_t len)
{
    char key[BLOBSTORE_KEY_MAX];
    bs3_key(key, d);
    return s3_put(b->s3, key, data, len);
}

int bs3_read(blobstore_s3 *b, const digest *d, uint64_t off, uint64_t len, s3_data_cb cb,
             void *ctx)
{
    char key[BLOBSTORE_KEY_MAX];
    bs3_key(key, d);
    return s3_get(b->s3, key, off, len, cb, ctx);
}

int bs3_presign(char **url_out, blobstore_s3 *b, const digest *d, int expires)
{
    char key[BLOBSTORE_KEY_MAX];
    bs3_key(key, d);
    return s3_presign_get(url_out, b->s3, key, expires);
}

int bs3_stat(uint64_t *size_out, int64_t *mtime_out, blobstore_s3 *b, const digest *d)
{
    char key[BLOBSTORE_KEY_MAX];
    bs3_key(key, d);
    return s3_head(b->s3, key, size_out, mtime_out);
}

int bs3_remove(blobstore_s3 *b, const digest *d)
{
    char key[BLOBSTORE_KEY_MAX];
    bs3_key(key, d);
    return s3_delete(b->s3, key);
}

int bs3_remove_many(blobstore_s3 *b, const digest *ds, size_t n)
{
    char(*keys)[BLOBSTORE_KEY_MAX] = NULL;
    const char **ptrs = NULL;
    int err = REG_OK;
    for (size_t at = 0; at < n && err == REG_OK; at += DELETE_BATCH) {
        size_t k = n - at < DELETE_BATCH ? n - at : DELETE_BATCH;
        if (!keys && (!(keys = malloc(DELETE_BATCH * sizeof(*keys))) ||
                      !(ptrs = malloc(DELETE_BATCH * sizeof(*ptrs))))) {
            err = REG_ERROR;
            break;
        }
        for (size_t i = 0; i < k; i++) {
            bs3_key(keys[i], &ds[at + i]);
            ptrs[i] = keys[i];
        }
        err = s3_delete_many(b->s3, ptrs, k);
    }
    free(keys);
    free(ptrs);
    return err;
}

/* ---- reads into a file descriptor (manifests, configs, export) ---- */

typedef struct fetch {
    int fd;
    int err;
} fetch;

static int write_piece(void *ctx, const void *data, size_t len)
{
    fetch *f = ctx;
    if ((f->err = fileio_write_all(f->fd, data, len)) < 0)
        return -1;
    return 0;
}

static void cache_path(char *out, const blobstore_s3 *b, const digest *d)
{
    snprintf(out, PATH_MAX, "%s/%s-%s", b->cache_dir, digest_alg_name(d->alg), digest_hex(d));
}

static int open_cached(int *fd_out, uint64_t *size_out, const char *path)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return REG_ENOTFOUND;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return REG_ERROR;
    }
    *fd_out = fd;
    *size_out = (uint64_t)st.st_size;
    return REG_OK;
}

/* Download into a new file in the cache folder and check its digest; the caller keeps it
 * (small) or unlinks the name (large, read once). */
static int download(int *fd_out, char *tmp, blobstore_s3 *b, const digest *d)
{
    char rnd[17];
    digest got;
    if (random_hex(rnd, 8) < 0)
        return REG_ERROR;
    snprintf(tmp, PATH_MAX, "%s/.dl-%s", b->cache_dir, rnd);
    fetch f = {.fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644), .err = REG_OK};
    if (f.fd < 0)
        return fileio_errno_to_reg(errno);
    int err = bs3_read(b, d, 0, 0, write_piece, &f);
    if (err == REG_OK && f.err < 0)
        err = f.err;
    struct stat st;
    if (err == REG_OK && fstat(f.fd, &st) < 0)
        err = REG_ERROR;
    if (err == REG_OK && (digest_file(&got, d->alg, f.fd, (uint64_t)st.st_size) < 0 ||
                          strcmp(got.str, d->str) != 0))
        err = REG_EMISMATCH; /* never hand out bytes that are not the blob */
    if (err < 0) {
        close(f.fd);
        unlink(tmp);
        return err;
    }
    *fd_out = f.fd;
    return REG_OK;
}

int bs3_open_blob(int *fd_out, uint64_t *size_out, blobstore_s3 *b, const digest *d)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    struct stat st;
    int fd = -1;
    cache_path(path, b, d);
    if (open_cached(fd_out, size_out, path) == REG_OK)
        return REG_OK;
    int err = download(&fd, tmp, b, d);
    if (err < 0)
        return err;
    if (fstat(fd, &st) < 0) {
        close(fd);
        unlink(tmp);
        return REG_ERROR;
    }
    if ((uint64_t)st.st_size > CACHE_MAX || rename(tmp, path) < 0)
        unlink(tmp);
    *fd_out = fd;
    *size_out = (uint64_t)st.st_size;
    return REG_OK;
}

/* ---- listing ---- */

typedef struct walk {
    blobstore_walk_cb cb;
    void *ctx;
} walk;

/* "blobs/<alg>/<xx>/<hex>" -> digest; other keys are skipped. */
static int each_key(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    walk *w = ctx;
    char text[DIGEST_MAX + 8];
    digest dg;
    if (strncmp(key, "blobs/", 6) != 0)
        return 0;
    const char *alg = key + 6, *slash = strchr(alg, '/');
    if (!slash || strlen(slash) < 5 || slash[3] != '/')
        return 0;
    snprintf(text, sizeof(text), "%.*s:%s", (int)(slash - alg), alg, slash + 4);
    if (digest_parse(&dg, text) < 0 || strncmp(digest_hex(&dg), slash + 1, 2) != 0)
        return 0;
    return w->cb(w->ctx, &dg) < 0 ? -1 : 0;
}

int bs3_walk(blobstore_s3 *b, blobstore_walk_cb cb, void *ctx)
{
    walk w = {.cb = cb, .ctx = ctx};
    return s3_list(b->s3, "blobs/", each_key, &w);
}
