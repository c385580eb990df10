/* console_api.c - the console API's endpoint table and dispatch (see console_api.h). */
#include "server/console/console_api.h"
#include "auth/scope.h"
#include "server/console/console_ops.h"
#include "server/console/console_reply.h"
#include "storage/base/buf.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"
#include "storage/index/index_console.h"

#include <stdlib.h>
#include <string.h>

typedef void (*endpoint_fn)(request *req, index_db *ix, const console_viewer *v);

static void session_get(request *req, index_db *ix, const console_viewer *v)
{
    console_reply_json(req, 200, console_session_json(req, v));
}

static void session_delete(request *req, index_db *ix, const console_viewer *v)
{
    console_sign_out(req, v, ix);
}

typedef struct endpoint {
    const char *path;
    const char *method;
    endpoint_fn fn;
    int change; /* needs the CSRF token and the same origin */
} endpoint;

static const endpoint endpoints[] = {
    {"session", "GET", session_get, 0},
    {"session", "DELETE", session_delete, 0}, /* console_sign_out checks */
    {"repositories", "GET", console_repositories, 0},
    {"repository", "GET", console_repository, 0},
    {"repository", "DELETE", console_repository_delete, 1},
    {"lifecycle", "GET", console_lifecycle, 0},
    {"lifecycle", "POST", console_lifecycle_draft, 1}, /* reads only, but takes a body */
    {"images", "GET", console_images, 0},
    {"tags", "GET", console_tags, 0},
    {"image", "GET", console_image, 0},
    {"image", "DELETE", console_image_delete, 1},
    {"tag", "DELETE", console_tag_delete, 1},
    {"admin", "GET", console_admin, 0},
    {"redeliver", "POST", console_redeliver, 1},
};

static void call(request *req, const endpoint *e)
{
    console_viewer v;
    index_db *ix = request_index(req);
    if (!ix) {
        console_reply_error(req, 503, "the registry's index is not available");
        return;
    }
    if (console_viewer_load(&v, req, ix) < 0) {
        console_reply_error(req, 500, "who you are cannot be told: %s",
                            reg_error_last("the session or the access policy cannot be read"));
        console_viewer_free(&v);
        return;
    }
    if (!e->change || console_change_or_reply(req, &v) == REG_OK)
        e->fn(req, ix, &v);
    console_viewer_free(&v);
}

/* A POST's JSON body, read before its endpoint runs. */
typedef struct body_state {
    const endpoint *e;
    json_t *json;
} body_state;

json_t *console_body(request *req)
{
    body_state *b = req->state;
    return b ? b->json : NULL;
}

static void free_body(request *req)
{
    body_state *b = req->state;
    json_decref(b->json);
}

static void finish_body(request *req)
{
    body_state *b = req->state;
    if (req->body_stopped)
        console_reply_error(req, 413, "the request is larger than %d bytes", CONSOLE_BODY_MAX);
    else if (!req->body.data || !(b->json = json_loadb(req->body.data, req->body.len, 0, NULL)) ||
             !json_is_object(b->json))
        console_reply_error(req, 400, "the request must be a JSON object");
    else
        call(req, b->e);
}

static void call_with_body(request *req, const endpoint *e)
{
    body_state *b = arena_alloc(&req->mem, sizeof(*b));
    if (!b) {
        console_reply_error(req, 500, "out of memory");
        return;
    }
    memset(b, 0, sizeof(*b));
    b->e = e;
    req->state = b;
    req->on_cleanup = free_body;
    request_read_body(req, CONSOLE_BODY_MAX, finish_body);
}

void console_api(request *req, const char *path)
{
    int known = 0;
    if (!strcmp(path, "session") && request_is(req, "POST")) {
        console_sign_in(req);
        return;
    }
    for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
        if (strcmp(endpoints[i].path, path))
            continue;
        known = 1;
        if (request_is(req, endpoints[i].method)) {
            if (request_is(req, "POST"))
                call_with_body(req, &endpoints[i]);
            else
                call(req, &endpoints[i]);
            return;
        }
    }
    if (known)
        console_reply_error(req, 405, "method %s is not supported by /console/api/%s", req->method,
                            path);
    else
        console_reply_error(req, 404, "no such console endpoint: /console/api/%s", path);
}

const char *console_repo_or_reply(request *req, index_db *ix, const console_viewer *v,
                                  const char *key)
{
    const char *name = request_query(req, key);
    int64_t id;
    if (!name || reference_check_name(name) < 0) {
        console_reply_error(req, 400, "%s must be a repository name", key);
        return NULL;
    }
    if (!(console_actions(v, name) & ACTION_PULL)) {
        console_reply_error(req, 404, "no repository %s that you may see%s", name,
                            v->user ? "" : " (sign in to see more)");
        return NULL;
    }
    int err = index_repo_id(&id, ix, name);
    if (err == REG_ENOTFOUND)
        console_reply_error(req, 404, "no repository %s that you may see", name);
    else if (err < 0)
        console_reply_error(req, 500, "the index cannot be read: %s", index_errmsg(ix));
    return err == REG_OK ? name : NULL;
}

int64_t console_query_int(request *req, const char *key, int64_t fallback, int64_t max)
{
    const char *text = request_query(req, key);
    char *end = NULL;
    long long v = text ? strtoll(text, &end, 10) : 0;
    if (!text || !*text || *end || v < 1)
        return fallback;
    return v > max ? max : v;
}
