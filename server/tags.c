/* tags.c - GET /v2/<name>/tags/list?n=&last= and GET /v2/_catalog?n=&last=: lexical pages
 * with a Link header to the next page. */
#include "server/errors.h"
#include "server/handlers.h"
#include "storage/reg_error.h"

#include <stdlib.h>
#include <string.h>

#define PAGE_MAX 100000

typedef struct page {
    json_t *names;
    const char *last_name;
    arena *mem;
} page;

static int add_name(void *ctx, const char *name)
{
    page *p = ctx;
    p->last_name = arena_strdup(p->mem, name);
    return json_array_append_new(p->names, json_string(name)) == 0 && p->last_name ? REG_OK
                                                                                   : REG_ERROR;
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
        reply_error(req, 400, "PAGINATION_NUMBER_INVALID", "n must be a non-negative integer");
        return REG_EINVALID;
    }
    *out = v < PAGE_MAX ? v : PAGE_MAX;
    return REG_OK;
}

/* Reply with {key: names} and, when more follow, Link: <path?n=N&last=X>; rel="next". */
static void reply_page(request *req, const char *path, json_t *body, const page *p, int64_t n,
                       int more)
{
    struct MHD_Response *r = response_json(req, body, NULL);
    if (more && p->last_name)
        response_header(r, MHD_HTTP_HEADER_LINK,
                        arena_printf(&req->mem, "<%s?n=%lld&last=%s>; rel=\"next\"", path,
                                     (long long)n, p->last_name));
    request_send(req, 200, r);
}

void handle_tags_list(request *req)
{
    int64_t n;
    int more = 0;
    index_db *ix;
    if (page_size_or_reply(&n, req) < 0 || !(ix = index_or_reply(req)))
        return;
    page p = {.names = json_array(), .mem = &req->mem};
    int err = p.names ? index_tags_page(&more, ix, req->name, request_query(req, "last"), n,
                                        add_name, &p)
                      : REG_ERROR;
    if (err == REG_ENOTFOUND) {
        json_decref(p.names);
        reply_error(req, 404, "NAME_UNKNOWN", "repository %s is not known", req->name);
        return;
    }
    if (err < 0) {
        json_decref(p.names);
        reply_internal(req, err, "tags list");
        return;
    }
    json_t *body = json_pack("{s:s, s:o}", "name", req->name, "tags", p.names);
    reply_page(req, arena_printf(&req->mem, "/v2/%s/tags/list", req->name), body, &p, n, more);
}

void handle_catalog(request *req)
{
    int64_t n;
    int more = 0;
    index_db *ix;
    if (page_size_or_reply(&n, req) < 0 || !(ix = index_or_reply(req)))
        return;
    page p = {.names = json_array(), .mem = &req->mem};
    int err = p.names ? index_catalog_page(&more, ix, request_query(req, "last"), n, add_name, &p)
                      : REG_ERROR;
    if (err < 0) {
        json_decref(p.names);
        reply_internal(req, err, "catalog");
        return;
    }
    json_t *body = json_pack("{s:o}", "repositories", p.names);
    reply_page(req, "/v2/_catalog", body, &p, n, more);
}
