/* multipart.c - multipart uploads: create, upload a part, complete (with what RGW 16.2 and
 * lost answers need), abort. */
#include "storage/s3/s3_internal.h"
#include "storage/base/digest.h"
#include "storage/base/reg_error.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int upload_query(char *out, size_t cap, const char *upload_id, int part_no)
{
    buf q;
    char num[32];
    int err = REG_OK;
    size_t len = upload_id ? strlen(upload_id) : 0;
    if (len == 0 || len >= S3_UPLOAD_ID_MAX)
        return reg_error_set(REG_EINVALID, "invalid upload id");
    buf_init(&q, cap - 1);
    if (part_no > 0) {
        snprintf(num, sizeof(num), "partNumber=%d&", part_no);
        err = put_str(&q, num);
    }
    if (err == REG_OK)
        err = put_str(&q, "uploadId=");
    if (err == REG_OK)
        err = put_encoded(&q, upload_id, len, 0);
    if (err == REG_OK)
        memcpy(out, q.data, q.len + 1);
    buf_free(&q);
    if (err < 0)
        return reg_error_set(REG_EINVALID, "invalid upload id");
    return REG_OK;
}

int s3_multipart_create(s3_client *c, const char *key, char *upload_id_out, size_t cap)
{
    s3_req r = {.method = "POST",
                .key = key,
                .query = "uploads=",
                .headers = {sse_header(c)},
                .timeout = TIMEOUT_SMALL,
                .max_response = XML_MAX_SMALL};
    xml_span root;
    int err;
    if ((err = check_key(c, key)) < 0 || (err = request_run(c, &r)) < 0)
        return err;
    if (r.status != 200)
        return request_finish(c, &r, 0);
    if (!r.response.data ||
        !xml_element(&root, r.response.data, r.response.len, "InitiateMultipartUploadResult")) {
        err = reg_error_set(REG_ERROR, "CreateMultipartUpload %s: answer without a result", key);
    } else if ((err = xml_field(upload_id_out, cap, root.text, root.len, "UploadId")) < 0) {
        err = reg_error_set(err == REG_ETOOLARGE ? REG_ETOOLARGE : REG_ERROR,
                            "CreateMultipartUpload %s: <UploadId> malformed or over %zu bytes", key,
                            cap);
    } else if (!upload_id_out[0] || !is_clean_text(upload_id_out, strlen(upload_id_out))) {
        err = reg_error_set(REG_ERROR, "CreateMultipartUpload %s: empty or unprintable <UploadId>",
                            key);
    }
    buf_free(&r.response);
    return err;
}

int s3_multipart_part(s3_client *c, const char *key, const char *upload_id, int part_no,
                      const void *data, size_t len, char *etag_out, size_t cap)
{
    char query[S3_UPLOAD_ID_MAX * 3 + 64];
    s3_req r = {.method = "PUT",
                .key = key,
                .query = query,
                .body = data,
                .body_len = len,
                .timeout = TIMEOUT_STREAM};
    int err;
    if (part_no < 1 || part_no > S3_MAX_PARTS)
        return reg_error_set(REG_EINVALID, "UploadPart %s: part number %d out of 1..%d", key,
                             part_no, S3_MAX_PARTS);
    if ((err = check_key(c, key)) < 0 ||
        (err = upload_query(query, sizeof(query), upload_id, part_no)) < 0 ||
        (err = request_run(c, &r)) < 0)
        return err;
    if ((err = request_finish(c, &r, 0)) < 0)
        return err;
    if (r.etag_cut)
        return reg_error_set(REG_ERROR, "UploadPart %s: ETag too long or unprintable", key);
    if (strlen(r.etag) >= cap)
        return reg_error_set(REG_ETOOLARGE, "UploadPart %s: ETag does not fit in %zu bytes", key,
                             cap);
    memcpy(etag_out, r.etag, strlen(r.etag) + 1);
    return REG_OK;
}

/* The ETag S3 gives an object made of these parts: "MD5(MD5(part 1) ... MD5(part n))-n".
 * REG_EINVALID when a part's ETag is not a quoted MD5 (RGW may send none). */
UNITTEST int multipart_etag(char out[S3_ETAG_MAX], const s3_part *parts, size_t n)
{
    unsigned char *md5s = malloc(16 * n), md[16];
    unsigned int len = 0;
    int err = md5s ? REG_OK : REG_ERROR;
    for (size_t i = 0; err == REG_OK && i < n; i++) {
        const char *e = parts[i].etag;
        if (strnlen(e, 35) != 34 || e[0] != '"' || e[33] != '"')
            err = REG_EINVALID;
        for (int j = 0; err == REG_OK && j < 16; j++) {
            int hi = hex_value(e[1 + 2 * j]), lo = hex_value(e[2 + 2 * j]);
            if (hi < 0 || lo < 0)
                err = REG_EINVALID;
            else
                md5s[16 * i + (size_t)j] = (unsigned char)(hi << 4 | lo);
        }
    }
    if (err == REG_OK && (EVP_Digest(md5s, 16 * n, md, &len, EVP_md5(), NULL) != 1 || len != 16))
        err = REG_ERROR;
    if (err == REG_OK) {
        char hex[33];
        hex_encode(hex, md, 16);
        snprintf(out, S3_ETAG_MAX, "\"%s-%zu\"", hex, n);
    }
    free(md5s);
    return err;
}

/* ListParts of at most one part: REG_OK when the upload exists, REG_ENOTFOUND when not.
 * The reason already set is left as it was. */
static int upload_exists(s3_client *c, const char *key, const char *upload_id)
{
    char query[S3_UPLOAD_ID_MAX * 3 + 64], why[REG_ERROR_MAX];
    s3_req r = {.method = "GET", .key = key, .query = query, .timeout = TIMEOUT_SMALL};
    int err;
    snprintf(why, sizeof(why), "%s", reg_error_last(""));
    memcpy(query, "max-parts=1&", 12);
    if ((err = upload_query(query + 12, sizeof(query) - 12, upload_id, 0)) == REG_OK &&
        (err = request_run(c, &r)) == REG_OK)
        err = request_finish(c, &r, 0);
    reg_error_set(err, "%s", why);
    return err;
}

/* CompleteMultipartUpload's XML body listing the parts (ascending, each ETag clean). */
static int complete_body(buf *body, const char *key, const s3_part *parts, size_t n)
{
    static const char head[] =
        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
    char num[64];
    int err = put_str(body, head);
    for (size_t i = 0; i < n && err == REG_OK; i++) {
        size_t elen = strnlen(parts[i].etag, sizeof(parts[i].etag));
        if (parts[i].no < 1 || parts[i].no > S3_MAX_PARTS ||
            (i > 0 && parts[i].no <= parts[i - 1].no) || elen == sizeof(parts[i].etag) ||
            !is_clean_text(parts[i].etag, elen))
            return reg_error_set(
                REG_EINVALID, "CompleteMultipartUpload %s: part %zu is out of order or malformed",
                key, i);
        snprintf(num, sizeof(num), "<Part><PartNumber>%d</PartNumber><ETag>", parts[i].no);
        if ((err = put_str(body, num)) == REG_OK &&
            (err = put_xml_escaped(body, parts[i].etag)) == REG_OK)
            err = put_str(body, "</ETag></Part>");
    }
    if (err == REG_OK)
        err = put_str(body, "</CompleteMultipartUpload>");
    if (err < 0)
        return reg_error_set(REG_ERROR, "CompleteMultipartUpload %s: request body too large", key);
    return REG_OK;
}

/* The completion's answer as a code (RGW 16.2 answers some failures with 200 and an error
 * document). */
static int completion_answer(s3_client *c, s3_req *r, const char *key)
{
    s3_error_doc e;
    int err;
    if (error_in_ok(r, &e)) {
        err = reg_error_set(!strcmp(e.code, "NoSuchUpload") ? REG_ENOTFOUND : REG_ERROR,
                            "CompleteMultipartUpload %s: HTTP 200 with error %s: %s", key, e.code,
                            e.message);
        buf_free(&r->response);
    } else {
        err = request_finish(c, r, 0);
    }
    return err;
}

/* An attempt that failed in transit may have completed the upload; then the retry finds it
 * gone, and the object there with the ETag these parts make (REG_OK), else err stands. */
static int completed_in_transit(s3_client *c, const char *key, const s3_part *parts, size_t n,
                                int err)
{
    char why[REG_ERROR_MAX], want[S3_ETAG_MAX];
    s3_req h = {.method = "HEAD", .key = key, .timeout = TIMEOUT_SMALL};
    snprintf(why, sizeof(why), "%s", reg_error_last(""));
    if (request_run(c, &h) == REG_OK && request_finish(c, &h, 0) == REG_OK &&
        (multipart_etag(want, parts, n) < 0 || !strcmp(want, h.etag)))
        return REG_OK;
    return reg_error_set(err, "%s", why);
}

int s3_multipart_complete(s3_client *c, const char *key, const char *upload_id,
                          const s3_part *parts, size_t n)
{
    char query[S3_UPLOAD_ID_MAX * 3 + 64];
    buf body;
    int err;
    if (n == 0 || n > S3_MAX_PARTS || !parts)
        return reg_error_set(REG_EINVALID, "CompleteMultipartUpload %s: %zu parts", key, n);
    if ((err = check_key(c, key)) < 0 ||
        (err = upload_query(query, sizeof(query), upload_id, 0)) < 0)
        return err;
    buf_init(&body, XML_MAX_BODY);
    if ((err = complete_body(&body, key, parts, n)) < 0) {
        buf_free(&body);
        return err;
    }
    s3_req r = {.method = "POST",
                .key = key,
                .query = query,
                .body = body.data,
                .body_len = body.len,
                .timeout = TIMEOUT_SLOW,
                .max_response = XML_MAX_SMALL,
                .error_in_200 = 1};
    err = request_run(c, &r);
    buf_free(&body);
    if (err == REG_OK) /* else r.status is that of the last attempt (0 for none) */
        err = completion_answer(c, &r, key);
    /* RGW 16.2 answers a completion of an unknown upload with 500 InternalError "This
     * multipart completion is already in progress" (its lock object is missing): ask
     * ListParts whether the upload exists. */
    if (err == REG_ERROR && r.status == 500 && upload_exists(c, key, upload_id) == REG_ENOTFOUND)
        err = REG_ENOTFOUND;
    if (err == REG_ENOTFOUND && r.maybe_done)
        err = completed_in_transit(c, key, parts, n, err);
    return err;
}

int s3_multipart_abort(s3_client *c, const char *key, const char *upload_id)
{
    char query[S3_UPLOAD_ID_MAX * 3 + 64];
    s3_req r = {.method = "DELETE", .key = key, .query = query, .timeout = TIMEOUT_SMALL};
    int err;
    if ((err = check_key(c, key)) < 0 ||
        (err = upload_query(query, sizeof(query), upload_id, 0)) < 0 ||
        (err = request_run(c, &r)) < 0)
        return err;
    err = request_finish(c, &r, 0);
    return err == REG_ENOTFOUND ? REG_OK : err;
}
