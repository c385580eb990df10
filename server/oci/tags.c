/* tags.c - GET /v2/<name>/tags/list?n=&last= and GET /v2/_catalog?n=&last=: lexical pages
 * with a Link header to the next page. */
#include "auth/policy.h"
#include "auth/scope.h"
#include "server/http/auth.h"
#include "server/http/errors.h"
#include "server/oci/handlers.h"
#include "storage/base/buf.h"
#include "storage/base/reg_error.h"

#include <stdlib.h>
#include <string.h>

#define PAGE_MAX 100000

/* The JSON is written straight into a buffer: names come from the index, where only validated
 * repository names and tags are stored, so escaping is a formality (still done). */
typedef struct page {
    buf out;
    size_t last_off, last_len; /* the last name put on the page, inside out */
    const char *last_seen;     /* catalog with a filter: last name read, listed or not */
    arena *mem;
    const policy *filter; /* catalog with auth: only what the caller may pull */
    int64_t want, taken;
} page;

static int append_escaped(buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    int err = REG_OK;
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c && c >= 0x20 && c != '"' && c != '\\')
            continue;
        if ((err = buf_append(b, run, (size_t)(s - run))) < 0 || !c)
            return err;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        if ((err = buf_append(b, esc, sizeof(esc))) < 0)
            return err;
        run = s + 1;
    }
}

static int add_name(void *ctx, const char *name)
{
    page *p = ctx;
    if (p->filter) {
        if (!(p->last_seen = arena_strdup(p->mem, name)))
            return REG_ERROR;
        if (!(policy_actions(p->filter, name) & ACTION_PULL))
            return REG_OK;
    }
    if (p->taken == p->want)
        return REG_EBUSY; /* the page is full and something follows */
    if ((p->taken && buf_append(&p->out, ",", 1) < 0) || buf_append(&p->out, "\"", 1) < 0)
        return REG_ERROR;
    p->last_off = p->out.len;
    if (append_escaped(&p->out, name) < 0)
        return REG_ERROR;
    p->last_len = p->out.len - p->last_off;
    p->taken++;
    return buf_append(&p->out, "\"", 1);
}

/* n: absent means everything (bounded by PAGE_MAX); replies itself when malformed. */
static int page_size_or_reply(int64_t *out, request *req)
{
    const char *n = request_query(req, "n");
    char *end = NULL;
    *out = PAGE_MAX;
    if (!n)
        return REG_OK;
    long long v = strtoll(n, &end, 10);
    if (!*n || *end || v < 0) {
        reply_error(req, 400, "UNSUPPORTED", "query parameter n must be a non-negative integer");
        return REG_EINVALID;
    }
    *out = v < PAGE_MAX ? v : PAGE_MAX;
    return REG_OK;
}

/* Reply with the page and, when more follow, Link: <path?n=N&last=X>; rel="next". */
static void reply_page(request *req, const char *path, page *p, int64_t n, int more)
{
    if (buf_append(&p->out, "]}", 2) < 0) {
        buf_free(&p->out);
        reply_internal(req, REG_ERROR, "page");
        return;
    }
    const char *last =
        more && p->taken ? arena_strndup(&req->mem, p->out.data + p->last_off, p->last_len) : NULL;
    struct MHD_Response *r = response_from_copy(p->out.data, p->out.len);
    req->bytes_out = p->out.len;
    buf_free(&p->out);
    response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
    if (last)
        response_header(
            r, MHD_HTTP_HEADER_LINK,
            arena_printf(&req->mem, "<%s?n=%lld&last=%s>; rel=\"next\"", path, (long long)n, last));
    request_send(req, 200, r);
}

static int start_page(page *p, const char *prefix_key, const char *name)
{
    buf_init(&p->out, (size_t)64 << 20);
    if (!name)
        return buf_append(&p->out, prefix_key, strlen(prefix_key));
    if (buf_append(&p->out, "{\"name\":\"", 9) < 0 || append_escaped(&p->out, name) < 0)
        return REG_ERROR;
    return buf_append(&p->out, prefix_key, strlen(prefix_key));
}

void handle_tags_list(request *req)
{
    int64_t n;
    int more = 0;
    index_db *ix;
    if (page_size_or_reply(&n, req) < 0 || !(ix = index_or_reply(req)))
        return;
    page p = {.mem = &req->mem, .want = n};
    int err = start_page(&p, "\",\"tags\":[", req->name);
    if (err == REG_OK)
        err = index_tags_page(&more, ix, req->name, request_query(req, "last"), n, add_name, &p);
    if (err < 0) {
        buf_free(&p.out);
        if (err == REG_ENOTFOUND)
            reply_error(req, 404, "NAME_UNKNOWN", "repository %s is not known", req->name);
        else
            reply_internal(req, err, "tags list");
        return;
    }
    reply_page(req, arena_printf(&req->mem, "/v2/%s/tags/list", req->name), &p, n, more);
}

/* Fill a catalog page, reading on past repositories the caller may not see. */
static int fill_catalog(int *more, index_db *ix, page *p, const char *last)
{
    int err;
    const char *cursor = last;
    do {
        err = index_catalog_page(more, ix, cursor, p->want + 1, add_name, p);
        if (err == REG_EBUSY) {
            *more = 1;
            return REG_OK;
        }
        cursor = p->last_seen;
    } while (err == REG_OK && *more && p->filter);
    return err;
}

void handle_catalog(request *req)
{
    int64_t n;
    int more = 0;
    index_db *ix;
    policy *filter = NULL;
    if (page_size_or_reply(&n, req) < 0 || !(ix = index_or_reply(req)))
        return;
    if (auth_enabled(req->srv) &&
        policy_load_for(&filter, ix, req->principal, req->srv->cfg.registry_id) < 0) {
        reply_internal(req, REG_ERROR, "catalog policy");
        return;
    }
    page p = {.mem = &req->mem, .filter = filter, .want = n};
    int err = start_page(&p, "{\"repositories\":[", NULL);
    if (err == REG_OK)
        err = fill_catalog(&more, ix, &p, request_query(req, "last"));
    policy_free(filter);
    if (err < 0) {
        buf_free(&p.out);
        reply_internal(req, err, "catalog");
        return;
    }
    reply_page(req, "/v2/_catalog", &p, n, more);
}
