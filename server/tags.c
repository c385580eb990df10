/* tags.c - GET /v2/<name>/tags/list?n=&last= and GET /v2/_catalog?n=&last=: lexical pages
 * with a Link header to the next page. */
#include "auth/policy.h"
#include "auth/scope.h"
#include "server/auth.h"
#include "server/errors.h"
#include "server/handlers.h"
#include "storage/reg_error.h"

#include <stdlib.h>
#include <string.h>

#define PAGE_MAX 100000

typedef struct page {
    json_t *names;
    const char *last_name;  /* last name put on the page */
    const char *last_seen;  /* last name read, listed or not */
    arena *mem;
    const policy *filter;   /* catalog with auth: only what the caller may pull */
    int64_t want, taken;
} page;

static int add_name(void *ctx, const char *name)
{
    page *p = ctx;
    if (!(p->last_seen = arena_strdup(p->mem, name)))
        return REG_ERROR;
    if (p->filter && !(policy_actions(p->filter, name) & ACTION_PULL))
        return REG_OK;
    if (p->taken == p->want)
        return REG_EBUSY; /* the page is full and something follows */
    p->last_name = p->last_seen;
    p->taken++;
    return json_array_append_new(p->names, json_string(name)) == 0 ? REG_OK : REG_ERROR;
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
    page p = {.names = json_array(), .mem = &req->mem, .want = n};
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
    if (auth_enabled(req->srv) && policy_load(&filter, ix, req->principal) < 0) {
        reply_internal(req, REG_ERROR, "catalog policy");
        return;
    }
    page p = {.names = json_array(), .mem = &req->mem, .filter = filter, .want = n};
    int err = p.names ? fill_catalog(&more, ix, &p, request_query(req, "last")) : REG_ERROR;
    policy_free(filter);
    if (err < 0) {
        json_decref(p.names);
        reply_internal(req, err, "catalog");
        return;
    }
    json_t *body = json_pack("{s:o}", "repositories", p.names);
    reply_page(req, "/v2/_catalog", body, &p, n, more);
}
