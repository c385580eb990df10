/* blobs.c - GET/HEAD /v2/<name>/blobs/<digest> (with Range) and DELETE of a blob's link. */
#include "server/http/errors.h"
#include "server/oci/handlers.h"
#include "server/http/log.h"
#include "server/http/range.h"
#include "storage/blob/blobstore_s3.h"
#include "storage/base/reg_error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- blobs in S3: streamed through, or a redirect to a presigned URL ---- */

/* One GET of the whole range runs in a thread of its own and fills a ring; MHD's reader
 * drains it. The S3 read and the socket write overlap, and the ring bounds the memory. */
#define RING (4u << 20)
#define PRESIGN_SECONDS 1200

typedef struct s3_stream {
    blobstore_s3 *b;
    digest d;
    uint64_t start, end;  /* bytes [start, end) of the blob are sent */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    char *ring;           /* RING bytes */
    uint64_t filled;      /* bytes written into the ring so far (stream offsets) */
    uint64_t drained;     /* bytes handed to MHD so far */
    int done, failed, cancelled;
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
        st->failed = 1;
        log_msg(LOG_ERROR, "blob %s: S3 read failed after %llu bytes: %s", st->d.str,
                (unsigned long long)st->filled, s3_last_error());
    }
    st->done = 1;
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

/* Consumer: MHD asks for the body from response position pos (always the next bytes). */
static ssize_t read_s3(void *cls, uint64_t pos, char *out, size_t max)
{
    s3_stream *st = cls;
    ssize_t got;
    pthread_mutex_lock(&st->lock);
    if (pos != st->drained) {
        got = MHD_CONTENT_READER_END_WITH_ERROR;
        goto done;
    }
    while (st->filled == st->drained && !st->done)
        pthread_cond_wait(&st->changed, &st->lock);
    if (st->filled == st->drained) {
        got = st->failed || st->start + st->drained < st->end ? MHD_CONTENT_READER_END_WITH_ERROR
                                                             : MHD_CONTENT_READER_END_OF_STREAM;
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

static void free_s3_stream(void *cls)
{
    s3_stream *st = cls;
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

static struct MHD_Response *response_from_s3(blobstore_s3 *b, const digest *d,
                                             const byte_range *range)
{
    s3_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->changed, NULL);
    st->b = b;
    st->d = *d;
    st->start = range->start;
    st->end = range->start + range->length;
    st->done = range->length == 0;
    struct MHD_Response *r = NULL;
    if ((st->ring = malloc(RING)) != NULL &&
        (r = MHD_create_response_from_callback(range->length, 256 * 1024, read_s3, st,
                                               free_s3_stream)) != NULL &&
        range->length > 0 && pthread_create(&st->reader, NULL, read_whole_range, st) == 0)
        st->reading = 1;
    if (r && !st->reading && range->length > 0) {
        MHD_destroy_response(r); /* frees st */
        return NULL;
    }
    if (!r)
        free_s3_stream(st);
    return r;
}

/* ECR's way: the client fetches the layer from the object store itself. */
static int redirect_to_s3(request *req, blobstore_s3 *b, const digest *d)
{
    char *url = NULL;
    if (bs3_presign(&url, b, d, PRESIGN_SECONDS) < 0)
        return REG_ERROR;
    struct MHD_Response *r = response_empty();
    response_header(r, MHD_HTTP_HEADER_LOCATION, arena_strdup(&req->mem, url));
    response_header(r, "Docker-Content-Digest", d->str);
    free(url);
    request_send(req, 307, r);
    return REG_OK;
}

static void add_blob_headers(request *req, struct MHD_Response *r, const digest *d)
{
    response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    response_header(r, "Docker-Content-Digest", d->str);
    response_header(r, MHD_HTTP_HEADER_ETAG, arena_printf(&req->mem, "\"%s\"", d->str));
    response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "max-age=31536000");
}

/* Work out which bytes to send; replies itself (416) when the Range cannot be served. */
static int range_or_reply(byte_range *out, unsigned *status, request *req, uint64_t size)
{
    const char *header = request_header(req, MHD_HTTP_HEADER_RANGE);
    out->start = 0;
    out->length = size;
    *status = 200;
    if (!header || strncmp(header, "bytes=", 6) != 0 || request_is(req, "HEAD"))
        return REG_OK;
    int err = range_parse(out, header, size);
    if (err == REG_OK) {
        *status = 206;
        return REG_OK;
    }
    struct MHD_Response *r = error_response(req, "RANGE_INVALID", NULL,
                                            "Range \"%s\" cannot be served from %llu bytes",
                                            header, (unsigned long long)size);
    response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE,
                    arena_printf(&req->mem, "bytes */%llu", (unsigned long long)size));
    request_send(req, 416, r);
    return err;
}

void handle_blob_get(request *req)
{
    digest d;
    uint64_t size, file_size;
    byte_range range;
    unsigned status;
    int fd = -1;
    index_db *ix;
    if (digest_or_reply(&d, req, req->arg) < 0 || !(ix = index_or_reply(req)))
        return;
    int err = index_blob_in_repo(&size, ix, req->name, &d);
    if (err == REG_ENOTFOUND) {
        reply_error(req, 404, "BLOB_UNKNOWN", "blob %s is not in repository %s", d.str, req->name);
        return;
    }
    if (err < 0) {
        reply_internal(req, err, "blob lookup");
        return;
    }
    if (range_or_reply(&range, &status, req, size) < 0)
        return;
    struct MHD_Response *r;
    blobstore_s3 *remote = blobstore_remote(req->srv->st->blobs);
    if (request_is(req, "HEAD")) {
        r = response_sized_nobody(size);
    } else if (remote && req->srv->cfg.blob_redirect && redirect_to_s3(req, remote, &d) == REG_OK) {
        return;
    } else if (remote) {
        if (!(r = response_from_s3(remote, &d, &range))) {
            reply_error(req, 500, "UNKNOWN", "out of memory");
            return;
        }
        req->bytes_out = range.length;
    } else {
        err = blobstore_open_blob(&fd, &file_size, req->srv->st->blobs, &d);
        if (err < 0 || file_size != size) {
            log_msg(LOG_ERROR, "blob %s is indexed but its file is %s", d.str,
                    err < 0 ? "missing" : "of the wrong size");
            if (fd >= 0)
                close(fd);
            reply_error(req, 500, "UNKNOWN", "blob %s cannot be read", d.str);
            return;
        }
        r = response_from_fd(fd, range.start, range.length);
        if (!r)
            close(fd);
        req->bytes_out = range.length;
    }
    add_blob_headers(req, r, &d);
    if (status == 206)
        response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE,
                        arena_printf(&req->mem, "bytes %llu-%llu/%llu",
                                     (unsigned long long)range.start,
                                     (unsigned long long)(range.start + range.length - 1),
                                     (unsigned long long)size));
    request_send(req, status, r);
}

void handle_blob_delete(request *req)
{
    digest d;
    char conflict[DIGEST_MAX];
    index_db *ix;
    if (digest_or_reply(&d, req, req->arg) < 0 || !(ix = index_or_reply(req)))
        return;
    int err = store_unlink_blob(ix, req->name, &d, conflict);
    if (err == REG_ENOTFOUND) {
        reply_error(req, 404, "BLOB_UNKNOWN", "blob %s is not in repository %s", d.str, req->name);
    } else if (err == REG_ECONFLICT) {
        reply_error(req, 409, "DENIED", "blob %s is used by manifest %s; delete the manifest first",
                    d.str, conflict);
    } else if (err < 0) {
        reply_internal(req, err, "blob delete");
    } else {
        request_send(req, 202, response_empty());
    }
}
