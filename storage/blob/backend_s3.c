/* backend_s3.c - the blob backend of an S3 bucket (see backend_s3.h). Objects appear only by
 * PutObject or CompleteMultipartUpload of verified content, inside the index transaction that
 * records them, and go only after their rows (see gc.c), so a row always has its object.
 * Blobs up to CACHE_MAX (manifests, configs) are kept in DATA/cache after their first read:
 * content-addressed objects never change, so the cache never goes stale. */
#include "storage/blob/backend_s3.h"
#include "storage/base/fileio.h"
#include "storage/base/random.h"
#include "storage/base/reg_error.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAX    (4u << 20)
#define DELETE_BATCH 1000

typedef struct s3_backend {
    blob_backend base;
    s3_client *s3;
    char *cache_dir; /* DATA/cache */
} s3_backend;

static const blob_backend_ops s3_ops;

static s3_backend *remote(blob_backend *b)
{
    return (s3_backend *)b;
}

static void bs3_close(blob_backend *base)
{
    s3_backend *b = remote(base);
    if (!b)
        return;
    s3_client_free(b->s3);
    free(b->cache_dir);
    free(b);
}

static int make_client(s3_backend *b, const char *url)
{
    s3_config cfg;
    int err = s3_config_parse(&cfg, url);
    if (err < 0)
        return err;
    err = s3_client_new(&b->s3, &cfg);
    s3_config_free(&cfg);
    if (err < 0)
        return reg_error_wrap(err, "cannot set up the S3 client");
    if (s3_bucket_ensure(b->s3) < 0)
        return reg_error_wrap(REG_ERROR, "S3 bucket not usable");
    return REG_OK;
}

int s3_backend_open(blob_backend **out, const char *data_dir, const char *url)
{
    s3_backend *b = calloc(1, sizeof(*b));
    int err;
    if (!b)
        return reg_error_set(REG_ERROR, "out of memory");
    b->base.ops = &s3_ops;
    if ((err = make_client(b, url)) < 0)
        goto fail;
    if (asprintf(&b->cache_dir, "%s/cache", data_dir) < 0) {
        b->cache_dir = NULL;
        err = reg_error_set(REG_ERROR, "out of memory");
        goto fail;
    }
    if (mkdir(b->cache_dir, 0755) < 0 && errno != EEXIST) {
        err = reg_error_set(REG_ERROR, "cannot make %s: %s", b->cache_dir, strerror(errno));
        goto fail;
    }
    *out = &b->base;
    return REG_OK;
fail:
    bs3_close(&b->base);
    return err;
}

s3_client *bs3_client(blob_backend *b)
{
    return remote(b)->s3;
}

void bs3_key(char *out, const digest *d)
{
    const char *hex = digest_hex(d);
    snprintf(out, BLOBSTORE_KEY_MAX, "blobs/%s/%.2s/%s", digest_alg_name(d->alg), hex, hex);
}

int bs3_put(blob_backend *b, const digest *d, const void *data, size_t len)
{
    char key[BLOBSTORE_KEY_MAX];
    bs3_key(key, d);
    return s3_put(remote(b)->s3, key, data, len);
}

static int bs3_read(s3_backend *b, const digest *d, uint64_t off, uint64_t len, s3_data_cb cb,
                    void *ctx)
{
    char key[BLOBSTORE_KEY_MAX];
    bs3_key(key, d);
    return s3_get(b->s3, key, off, len, cb, ctx);
}

static int bs3_presign(char **url_out, blob_backend *b, const digest *d, int expires)
{
    char key[BLOBSTORE_KEY_MAX];
    bs3_key(key, d);
    return s3_presign_get(url_out, remote(b)->s3, key, expires);
}

static int bs3_stat(uint64_t *size_out, int64_t *mtime_out, blob_backend *b, const digest *d)
{
    char key[BLOBSTORE_KEY_MAX];
    bs3_key(key, d);
    return s3_head(remote(b)->s3, key, size_out, mtime_out);
}

static int bs3_remove(blob_backend *b, const digest *d)
{
    char key[BLOBSTORE_KEY_MAX];
    bs3_key(key, d);
    return s3_delete(remote(b)->s3, key);
}

static int bs3_remove_many(blob_backend *b, const digest *ds, size_t n)
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
        err = s3_delete_many(remote(b)->s3, ptrs, k);
    }
    free(keys);
    free(ptrs);
    return err;
}

static int bs3_quarantine(blob_backend *b, const digest *d)
{
    return REG_EINVALID; /* fsck --repair on S3 reports, but does not move objects */
}

/* ---- publishing: a blob from memory is put inside the transaction, where gc cannot remove
 * it before its row exists ---- */

static int publish_nothing_yet(blob_publish *p)
{
    if (p->path[0])
        return reg_error_set(REG_EINVALID,
                             "S3 storage takes blobs from memory or upload "
                             "sessions, not from the file %s",
                             p->path);
    return REG_OK;
}

static int publish_put(blob_publish *p)
{
    return bs3_put(p->backend, &p->d, p->data, p->len);
}

static const blob_publish_ops s3_publish_ops = {
    .prepare = publish_nothing_yet,
    .commit = publish_put,
};

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

static void cache_path(char *out, const s3_backend *b, const digest *d)
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
static int download(int *fd_out, char *tmp, s3_backend *b, const digest *d)
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
    if (err == REG_OK &&
        (digest_file(&got, d->alg, f.fd, (uint64_t)st.st_size) < 0 || strcmp(got.str, d->str) != 0))
        err = REG_EMISMATCH; /* never hand out bytes that are not the blob */
    if (err < 0) {
        close(f.fd);
        unlink(tmp);
        return err;
    }
    *fd_out = f.fd;
    return REG_OK;
}

static int bs3_open_fd(int *fd_out, uint64_t *size_out, blob_backend *base, const digest *d)
{
    s3_backend *b = remote(base);
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

/* ---- streamed reads: one GET of the whole range runs in a thread of its own and fills a
 * ring that the reader drains. The S3 read and the socket write overlap, and the ring bounds
 * the memory. ---- */

#define RING (4u << 20)

typedef struct s3_stream {
    blob_reader base;
    s3_backend *b;
    digest d;
    uint64_t start, end; /* bytes [start, end) of the blob are read */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    char *ring;       /* RING bytes */
    uint64_t filled;  /* bytes written into the ring so far (stream offsets) */
    uint64_t drained; /* bytes handed out so far */
    int done, cancelled;
    int failed;    /* the S3 client's result, when the read failed */
    char why[256]; /* and its reason */
    pthread_t reader;
    int reading;
} s3_stream;

/* Producer: copy a piece into the ring, waiting while it is full. */
static int ring_put(void *ctx, const void *data, size_t len)
{
    s3_stream *st = ctx;
    const char *p = data;
    pthread_mutex_lock(&st->lock);
    while (len > 0 && !st->cancelled) {
        size_t room = RING - (size_t)(st->filled - st->drained);
        if (room == 0) {
            pthread_cond_wait(&st->changed, &st->lock);
            continue;
        }
        size_t at = (size_t)(st->filled % RING);
        size_t n = len < room ? len : room;
        n = n < RING - at ? n : RING - at;
        memcpy(st->ring + at, p, n);
        st->filled += n;
        p += n;
        len -= n;
        pthread_cond_broadcast(&st->changed);
    }
    int stop = st->cancelled;
    pthread_mutex_unlock(&st->lock);
    return stop ? REG_ERROR : 0;
}

static void *read_whole_range(void *arg)
{
    s3_stream *st = arg;
    int err = bs3_read(st->b, &st->d, st->start, st->end - st->start, ring_put, st);
    pthread_mutex_lock(&st->lock);
    if (err < 0 && !st->cancelled) {
        st->failed = err;
        snprintf(st->why, sizeof(st->why), "%s", reg_error_last("S3 read failed"));
    }
    st->done = 1;
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

/* Why the stream ended early (lock held). */
static int stream_failure(const s3_stream *st)
{
    if (st->failed)
        return reg_error_set(st->failed, "blob %s: S3 read failed after %llu bytes: %s", st->d.str,
                             (unsigned long long)st->filled, st->why);
    return reg_error_set(REG_ERROR, "blob %s: S3 sent %llu of %llu bytes", st->d.str,
                         (unsigned long long)st->filled, (unsigned long long)(st->end - st->start));
}

/* Consumer: the bytes after the last ones handed out (pos says which the caller expects). */
static ssize_t stream_read(blob_reader *base, uint64_t pos, void *out, size_t max)
{
    s3_stream *st = (s3_stream *)base;
    ssize_t got;
    pthread_mutex_lock(&st->lock);
    if (pos != st->drained) {
        got = reg_error_set(REG_EINVALID, "blob %s: read at %llu, the stream is at %llu", st->d.str,
                            (unsigned long long)pos, (unsigned long long)st->drained);
        goto done;
    }
    while (st->filled == st->drained && !st->done)
        pthread_cond_wait(&st->changed, &st->lock);
    if (st->filled == st->drained) {
        got = st->failed || st->start + st->drained < st->end ? stream_failure(st) : 0;
        goto done;
    }
    size_t at = (size_t)(st->drained % RING);
    size_t n = (size_t)(st->filled - st->drained);
    n = n < max ? n : max;
    n = n < RING - at ? n : RING - at;
    memcpy(out, st->ring + at, n);
    st->drained += n;
    pthread_cond_broadcast(&st->changed);
    got = (ssize_t)n;
done:
    pthread_mutex_unlock(&st->lock);
    return got;
}

static void stream_free(blob_reader *base)
{
    s3_stream *st = (s3_stream *)base;
    if (st->reading) {
        pthread_mutex_lock(&st->lock);
        st->cancelled = 1; /* a client that went away stops the download */
        pthread_cond_broadcast(&st->changed);
        pthread_mutex_unlock(&st->lock);
        pthread_join(st->reader, NULL);
    }
    pthread_cond_destroy(&st->changed);
    pthread_mutex_destroy(&st->lock);
    free(st->ring);
    free(st);
}

static const blob_reader_ops stream_ops = {.read = stream_read, .free = stream_free};

static int bs3_open_reader(blob_reader **out, blob_backend *b, const digest *d, uint64_t start,
                           uint64_t length)
{
    s3_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return reg_error_set(REG_ERROR, "out of memory");
    st->base.ops = &stream_ops;
    st->base.fd = -1;
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->changed, NULL);
    st->b = remote(b);
    st->d = *d;
    st->start = start;
    st->end = start + length;
    st->done = length == 0;
    if (length > 0 && (!(st->ring = malloc(RING)) ||
                       pthread_create(&st->reader, NULL, read_whole_range, st) != 0)) {
        stream_free(&st->base);
        return reg_error_set(REG_ERROR, "cannot start reading blob %s", d->str);
    }
    st->reading = length > 0;
    *out = &st->base;
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

static int bs3_walk(blob_backend *b, blobstore_walk_cb cb, void *ctx)
{
    walk w = {.cb = cb, .ctx = ctx};
    return s3_list(remote(b)->s3, "blobs/", each_key, &w);
}

static const blob_backend_ops s3_ops = {
    .open_fd = bs3_open_fd,
    .open_reader = bs3_open_reader,
    .presign = bs3_presign,
    .publish = &s3_publish_ops,
    .stat = bs3_stat,
    .walk = bs3_walk,
    .quarantine = bs3_quarantine,
    .remove = bs3_remove,
    .remove_many = bs3_remove_many,
    .uploads_new = s3u_new,
    .close = bs3_close,
};
