/* blobs.c - GET/HEAD /v2/<name>/blobs/<digest> (with Range) and DELETE of a blob's link. */
#include "server/errors.h"
#include "server/handlers.h"
#include "server/log.h"
#include "server/range.h"
#include "storage/reg_error.h"

#include <string.h>
#include <unistd.h>

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
    if (request_is(req, "HEAD")) {
        r = response_sized_nobody(size);
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
