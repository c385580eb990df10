/* objects.c - requests on one object: PutObject, HeadObject, GetObject (resumed by
 * request.c), DeleteObject, and CopyObject, part by part above S3's 5 GiB limit for it. */
#include "storage/s3/s3_internal.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int s3_put(s3_client *c, const char *key, const void *data, size_t len)
{
    s3_req r = {.method = "PUT",
                .key = key,
                .body = data,
                .body_len = len,
                .headers = {sse_header(c)},
                .timeout = TIMEOUT_STREAM};
    int err;
    if ((err = check_key(c, key)) < 0 || (err = request_run(c, &r)) < 0)
        return err;
    return request_finish(c, &r, 0);
}

int s3_head(s3_client *c, const char *key, uint64_t *size_out, int64_t *mtime_out)
{
    s3_req r = {.method = "HEAD", .key = key, .timeout = TIMEOUT_SMALL};
    int err;
    if ((err = check_key(c, key)) < 0 || (err = request_run(c, &r)) < 0)
        return err;
    if ((err = request_finish(c, &r, 0)) < 0)
        return err;
    if (r.content_length == UINT64_MAX)
        return reg_error_set(REG_ERROR, "HEAD %s: no Content-Length", key);
    if (size_out)
        *size_out = r.content_length;
    if (mtime_out)
        *mtime_out = r.last_modified;
    return REG_OK;
}

int s3_get(s3_client *c, const char *key, uint64_t off, uint64_t len, s3_data_cb cb, void *ctx)
{
    download d = {.cb = cb, .ctx = ctx, .next = off, .end = len ? off + len : UINT64_MAX};
    s3_req r = {.method = "GET", .key = key, .timeout = TIMEOUT_STREAM, .dl = &d};
    int err;
    if ((err = check_key(c, key)) < 0)
        return err;
    if (!cb || (len && off > UINT64_MAX - len))
        return reg_error_set(REG_EINVALID, "GET %s: invalid range or callback", key);
    if ((err = request_run(c, &r)) < 0)
        return err;
    /* Unsatisfiable at 0 means an empty object; after a resume, that the object ended. */
    if (r.status == 416 && (off == 0 || d.next > off)) {
        buf_free(&r.response);
        return REG_OK;
    }
    return request_finish(c, &r, 0);
}

int s3_delete(s3_client *c, const char *key)
{
    s3_req r = {.method = "DELETE", .key = key, .timeout = TIMEOUT_SMALL};
    int err;
    if ((err = check_key(c, key)) < 0 || (err = request_run(c, &r)) < 0)
        return err;
    err = request_finish(c, &r, 0);
    return err == REG_ENOTFOUND ? REG_OK : err;
}

/* A copy source header: "x-amz-copy-source: /bucket/<prefix><key>" UriEncoded. */
static int copy_source(buf *out, const s3_client *c, const char *key)
{
    int err = put_str(out, "x-amz-copy-source: /");
    if (err == REG_OK)
        err = put_encoded(out, c->cfg.bucket, strlen(c->cfg.bucket), 0);
    if (err == REG_OK)
        err = buf_append(out, "/", 1);
    if (err == REG_OK)
        err = put_encoded(out, c->cfg.prefix, strlen(c->cfg.prefix), 1);
    if (err == REG_OK)
        err = put_encoded(out, key, strlen(key), 1);
    return err;
}

/* Objects up to this size are copied with one CopyObject (S3's limit for it); larger ones
 * part by part. Variables so that a test can exercise the multipart path with small data. */
UNITTEST uint64_t copy_single_max = 5ull << 30;
UNITTEST uint64_t copy_part_min = 512ull << 20;

/* UploadPartCopy of bytes [from, to] of the copy's source into part `no` of dst's upload
 * (query names the part and the upload); its ETag into *part. */
static int copy_part(s3_part *part, s3_client *c, const char *src, const char *dst,
                     const char *source, const char *query, uint64_t from, uint64_t to, int no)
{
    char range[96];
    s3_error_doc e;
    snprintf(range, sizeof(range), "x-amz-copy-source-range: bytes=%llu-%llu",
             (unsigned long long)from, (unsigned long long)to);
    s3_req r = {.method = "PUT",
                .key = dst,
                .query = query,
                .headers = {source, range},
                .timeout = TIMEOUT_SLOW,
                .max_response = XML_MAX_SMALL,
                .error_in_200 = 1,
                .self_sign = 1};
    int err = request_run(c, &r);
    if (err < 0)
        return err;
    if (error_in_ok(&r, &e)) {
        buf_free(&r.response);
        return reg_error_set(REG_ERROR, "UploadPartCopy %s -> %s: %s: %s", src, dst, e.code,
                             e.message);
    }
    if (r.status == 200 &&
        xml_field(part->etag, sizeof(part->etag), r.response.data, r.response.len, "ETag") < 0) {
        buf_free(&r.response);
        return reg_error_set(REG_ERROR, "UploadPartCopy %s: malformed <ETag>", dst);
    }
    part->no = no;
    return request_finish(c, &r, 0);
}

static int copy_multipart(s3_client *c, const char *src, const char *dst, const char *source,
                          uint64_t size)
{
    char upload_id[S3_UPLOAD_ID_MAX], query[S3_UPLOAD_ID_MAX * 3 + 64];
    uint64_t part = copy_part_min;
    s3_part *parts = NULL;
    buf enc;
    int err;
    while ((size + part - 1) / part > S3_MAX_PARTS)
        part *= 2;
    size_t n = (size_t)((size + part - 1) / part);
    if (!(parts = calloc(n, sizeof(*parts))))
        return reg_error_set(REG_ERROR, "out of memory");
    if ((err = s3_multipart_create(c, dst, upload_id, sizeof(upload_id))) < 0) {
        free(parts);
        return err;
    }
    buf_init(&enc, sizeof(query));
    if (put_encoded(&enc, upload_id, strlen(upload_id), 0) < 0)
        err = reg_error_set(REG_ERROR, "upload id too long");
    for (size_t i = 0; err == REG_OK && i < n; i++) {
        uint64_t from = i * part, to = from + part < size ? from + part - 1 : size - 1;
        snprintf(query, sizeof(query), "partNumber=%zu&uploadId=%s", i + 1, enc.data);
        err = copy_part(&parts[i], c, src, dst, source, query, from, to, (int)i + 1);
    }
    if (err == REG_OK)
        err = s3_multipart_complete(c, dst, upload_id, parts, n);
    if (err < 0) {
        char why[REG_ERROR_MAX];
        snprintf(why, sizeof(why), "%s", reg_error_last(""));
        s3_multipart_abort(c, dst, upload_id);
        reg_error_set(err, "%s", why);
    }
    buf_free(&enc);
    free(parts);
    return err;
}

int s3_copy(s3_client *c, const char *src_key, const char *dst_key)
{
    uint64_t size = 0;
    buf source;
    int err;
    if ((err = check_key(c, src_key)) < 0 || (err = check_key(c, dst_key)) < 0 ||
        (err = s3_head(c, src_key, &size, NULL)) < 0)
        return err;
    buf_init(&source, S3_MAX_KEY * 3 + 128);
    if ((err = copy_source(&source, c, src_key)) < 0) {
        buf_free(&source);
        return reg_error_set(REG_EINVALID, "copy source too long");
    }
    if (size > copy_single_max) {
        err = copy_multipart(c, src_key, dst_key, source.data, size);
        buf_free(&source);
        return err;
    }
    s3_req r = {.method = "PUT",
                .key = dst_key,
                .headers = {source.data, sse_header(c)},
                .timeout = TIMEOUT_SLOW,
                .max_response = XML_MAX_SMALL,
                .error_in_200 = 1};
    s3_error_doc e;
    err = request_run(c, &r);
    buf_free(&source);
    if (err < 0)
        return err;
    if (error_in_ok(&r, &e)) {
        buf_free(&r.response);
        return reg_error_set(REG_ERROR, "CopyObject %s -> %s: %s: %s", src_key, dst_key, e.code,
                             e.message);
    }
    return request_finish(c, &r, 0);
}
