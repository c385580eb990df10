/* bulk.c - requests about many objects: DeleteObjects of up to a thousand keys in one
 * request, and ListObjectsV2 followed across its pages. */
#include "storage/s3/s3_internal.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX_EMPTY 100 /* truncated pages in a row without a key */

/* DeleteObjects' XML body (quiet: the answer lists only failures). */
static int delete_body(buf *body, s3_client *c, const char *const *keys, size_t n)
{
    static const char head[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                               "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                               "<Quiet>true</Quiet>";
    int err = put_str(body, head);
    for (size_t i = 0; i < n && err == REG_OK; i++) {
        if ((err = check_key(c, keys[i])) < 0)
            return err;
        if ((err = put_str(body, "<Object><Key>")) == REG_OK &&
            (err = put_xml_escaped(body, c->cfg.prefix)) == REG_OK &&
            (err = put_xml_escaped(body, keys[i])) == REG_OK)
            err = put_str(body, "</Key></Object>");
    }
    if (err == REG_OK)
        err = put_str(body, "</Delete>");
    if (err == REG_ETOOLARGE || err == REG_ERROR)
        return reg_error_set(err == REG_ETOOLARGE ? REG_EINVALID : err,
                             "DeleteObjects: request body too large");
    return err;
}

/* The first failure a DeleteObjects answer lists; a key that was already gone is none. */
static int delete_failures(const s3_req *r)
{
    xml_span sp;
    if (r->response.len >= r->response.max)
        return reg_error_set(REG_ERROR, "DeleteObjects: answer too large");
    for (const char *p = r->response.data, *end = p + r->response.len;
         p && xml_element(&sp, p, (size_t)(end - p), "Error"); p = sp.end) {
        char key[S3_MAX_KEY + 1];
        s3_error_doc e;
        if (xml_field(e.code, sizeof(e.code), sp.text, sp.len, "Code") < 0)
            strcpy(e.code, "(unreadable)");
        if (!strcmp(e.code, "NoSuchKey"))
            continue;
        if (xml_field(key, sizeof(key), sp.text, sp.len, "Key") < 0)
            strcpy(key, "(unreadable)");
        if (xml_field(e.message, sizeof(e.message), sp.text, sp.len, "Message") < 0)
            e.message[0] = '\0';
        return reg_error_set(REG_ERROR, "DeleteObjects: %s: %s: %s", key, e.code, e.message);
    }
    return REG_OK;
}

int s3_delete_many(s3_client *c, const char *const *keys, size_t n)
{
    char md5[25], md5_header[64];
    buf body;
    if (n == 0)
        return REG_OK;
    if (n > S3_MAX_DELETE || !keys)
        return reg_error_set(REG_EINVALID, "DeleteObjects: %zu keys (at most %d)", n,
                             S3_MAX_DELETE);
    buf_init(&body, XML_MAX_BODY);
    int err = delete_body(&body, c, keys, n);
    if (err == REG_OK && (err = md5_base64(md5, body.data, body.len)) < 0)
        reg_error_set(err, "DeleteObjects: MD5 failed");
    if (err < 0) {
        buf_free(&body);
        return err;
    }
    snprintf(md5_header, sizeof(md5_header), "Content-MD5: %s", md5);
    s3_req r = {.method = "POST",
                .query = "delete=",
                .body = body.data,
                .body_len = body.len,
                .headers = {md5_header},
                .timeout = TIMEOUT_SLOW,
                .max_response = XML_MAX_SMALL};
    err = request_run(c, &r);
    buf_free(&body);
    if (err < 0)
        return err;
    if (r.status != 200)
        return request_finish(c, &r, 0);
    err = delete_failures(&r);
    buf_free(&r.response);
    return err;
}

static int list_query(buf *q, const s3_client *c, const char *token, const char *prefix)
{
    char num[32];
    int err = REG_OK;
    if (token &&
        ((err = put_str(q, "continuation-token=")) < 0 ||
         (err = put_encoded(q, token, strlen(token), 0)) < 0 || (err = buf_append(q, "&", 1)) < 0))
        return err;
    if ((err = put_str(q, "list-type=2")) < 0)
        return err;
    if (c->cfg.list_page_size > 0) {
        snprintf(num, sizeof(num), "&max-keys=%d", c->cfg.list_page_size);
        if ((err = put_str(q, num)) < 0)
            return err;
    }
    size_t plen = strlen(c->cfg.prefix);
    if (plen + strlen(prefix) > 0 &&
        ((err = put_str(q, "&prefix=")) < 0 || (err = put_encoded(q, c->cfg.prefix, plen, 0)) < 0 ||
         (err = put_encoded(q, prefix, strlen(prefix), 0)) < 0))
        return err;
    return REG_OK;
}

/* One page of the listing, after `token` (NULL: the first), handed to pg's callback. */
static int list_one_page(list_page *pg, s3_client *c, const char *token, const char *prefix)
{
    buf q;
    buf_init(&q, 3 * (MAX_TOKEN + S3_MAX_KEY + MAX_PREFIX) + 128);
    if (list_query(&q, c, token, prefix) < 0) {
        buf_free(&q);
        return reg_error_set(REG_ERROR, "ListObjectsV2: query too long");
    }
    s3_req r = {
        .method = "GET", .query = q.data, .timeout = TIMEOUT_SMALL, .max_response = XML_MAX_LIST};
    int err = request_run(c, &r);
    buf_free(&q);
    if (err < 0)
        return err;
    if (r.status != 200)
        return request_finish(c, &r, 0);
    if (r.response.len >= r.response.max)
        err = reg_error_set(REG_ERROR, "ListObjectsV2: page larger than %u bytes", XML_MAX_LIST);
    else
        err = list_page_parse(pg, r.response.data ? r.response.data : "", r.response.len);
    buf_free(&r.response);
    return err;
}

int s3_list(s3_client *c, const char *prefix, s3_list_cb cb, void *ctx)
{
    list_page *pg = calloc(1, sizeof(*pg));
    char *token = NULL;
    int err = REG_OK, empty = 0;
    prefix = prefix ? prefix : "";
    if (!pg)
        return reg_error_set(REG_ERROR, "out of memory");
    if (!cb || strlen(prefix) > S3_MAX_KEY || !is_clean_text(prefix, strlen(prefix))) {
        free(pg);
        return reg_error_set(REG_EINVALID, "ListObjectsV2: invalid prefix or callback");
    }
    pg->strip = c->cfg.prefix;
    pg->cb = cb;
    pg->ctx = ctx;
    for (;;) {
        err = list_one_page(pg, c, token, prefix);
        if (err < 0 || pg->stopped || !pg->truncated) {
            if (err == REG_OK && pg->stopped < 0)
                err = pg->stopped;
            break;
        }
        empty = pg->keys ? 0 : empty + 1;
        if ((token && !strcmp(token, pg->next_token)) || empty > LIST_MAX_EMPTY) {
            err = reg_error_set(REG_ERROR, "ListObjectsV2: the listing does not advance");
            break;
        }
        free(token);
        if (!(token = strdup(pg->next_token))) {
            err = reg_error_set(REG_ERROR, "out of memory");
            break;
        }
    }
    free(token);
    free(pg);
    return err;
}
