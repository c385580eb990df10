/* blobs.c - GET/HEAD /v2/<name>/blobs/<digest> (with Range) and DELETE of a blob's link. */
#include "server/http/errors.h"
#include "server/oci/cache_fill.h"
#include "server/oci/handlers.h"
#include "server/http/log.h"
#include "server/http/range.h"
#include "storage/base/reg_error.h"
#include "storage/blob/readahead.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- blobs that are not local files (S3): streamed through, or a redirect ---- */

#define PRESIGN_SECONDS 1200

/* MHD asks for the body from response position pos (always the next bytes). */
static ssize_t read_stream(void *cls, uint64_t pos, char *out, size_t max)
{
    ssize_t got = blob_reader_read(cls, pos, out, max);
    if (got > 0)
        return got;
    if (got == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    log_msg(LOG_ERROR, "%s", reg_error_last("blob read failed"));
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void free_stream(void *cls)
{
    blob_reader_free(cls);
}

/* ECR's way: the client fetches the layer from the object store itself (REG_ERROR, nothing
 * sent, where the backend cannot presign or the index holds the blob). */
static int redirect_to_presigned(request *req, index_db *ix, const digest *d)
{
    char *url = NULL;
    if (blobstore_presign(&url, req->srv->st->blobs, ix, d, PRESIGN_SECONDS) < 0)
        return REG_ERROR;
    struct MHD_Response *r = response_empty();
    response_header(r, MHD_HTTP_HEADER_LOCATION, arena_strdup(&req->mem, url));
    response_header(r, "Docker-Content-Digest", d->str);
    free(url);
    request_send(req, 307, r);
    return REG_OK;
}

/* The body: a blob the index holds goes out from the bytes read from it (MHD frees them), a
 * local blob's file with sendfile (read ahead where it is large and cold, readahead.h), any
 * other blob through its reader. NULL after replying (500) itself. */
static struct MHD_Response *body_or_reply(request *req, index_db *ix, const digest *d,
                                          uint64_t size, const byte_range *range)
{
    blob_reader *rd = NULL;
    uint64_t file_size = 0;
    struct MHD_Response *r = NULL;
    int err = blobstore_open_reader(&rd, req->srv->st->blobs, ix, d, range->start, range->length);
    void *bytes = err == REG_OK ? blob_reader_take_bytes(rd) : NULL;
    if (bytes) {
        blob_reader_free(rd);
        if (!(r = response_from_malloc(bytes, range->length)))
            reply_error(req, 500, "UNKNOWN", "out of memory");
        return r;
    }
    int fd = err == REG_OK ? blob_reader_fd(&file_size, rd) : -1;
    if (err < 0 || (fd >= 0 && file_size != size)) {
        log_msg(LOG_ERROR, "blob %s is indexed but its file is %s", d->str,
                err < 0 ? "missing" : "of the wrong size");
        if (fd >= 0)
            close(fd);
        blob_reader_free(rd);
        reply_error(req, 500, "UNKNOWN", "blob %s cannot be read", d->str);
        return NULL;
    }
    if (fd >= 0) {
        blob_reader_free(rd);
        blob_readahead(fd, range->start, range->length);
        if (!(r = response_from_fd(fd, range->start, range->length)))
            close(fd);
    } else if (!(r = MHD_create_response_from_callback(range->length, 256 * 1024, read_stream, rd,
                                                       free_stream))) {
        blob_reader_free(rd);
    }
    if (!r)
        reply_error(req, 500, "UNKNOWN", "out of memory");
    return r;
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
    struct MHD_Response *r =
        error_response(req, "RANGE_INVALID", NULL, "Range \"%s\" cannot be served from %llu bytes",
                       header, (unsigned long long)size);
    response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE,
                    arena_printf(&req->mem, "bytes */%llu", (unsigned long long)size));
    request_send(req, 416, r);
    return err;
}

void handle_blob_get(request *req)
{
    digest d;
    uint64_t size;
    byte_range range;
    unsigned status;
    index_db *ix;
    if (digest_or_reply(&d, req, req->arg) < 0 || !(ix = index_or_reply(req)))
        return;
    int err = index_blob_in_repo(&size, ix, req->name, &d);
    if (err == REG_ENOTFOUND) {
        cache_result cr = cache_blob_or_reply(req, ix, &d);
        if (cr == CACHE_REPLIED)
            return;
        if (cr == CACHE_READY)
            err = index_blob_in_repo(&size, ix, req->name, &d);
    }
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
    if (request_is(req, "HEAD")) {
        r = response_sized_nobody(size);
    } else if (req->srv->cfg.blob_redirect && redirect_to_presigned(req, ix, &d) == REG_OK) {
        return;
    } else {
        if (!(r = body_or_reply(req, ix, &d, size, &range)))
            return;
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
