/* router.c - path and method routing (see router.h). Paths look like
 * /v2/<name>/{blobs/<digest>, blobs/uploads/[<id>], manifests/<ref>, tags/list,
 * referrers/<digest>}, where <name> may itself have several segments. */
#include "server/router.h"
#include "auth/blob_url.h"
#include "auth/scope.h"
#include "server/http/auth.h"
#include "server/console/console.h"
#include "server/ecr/ecr.h"
#include "server/http/errors.h"
#include "server/oci/handlers.h"
#include "server/http/metrics.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"

#include <string.h>
#include <time.h>

static int ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* `rest` is the path after "/v2/". Splits off the endpoint part from the right. */
static route_kind split_route(char *rest, char **arg_out)
{
    size_t len = strlen(rest);
    char *slash;
    *arg_out = NULL;
    if (ends_with(rest, len, "/tags/list")) {
        rest[len - strlen("/tags/list")] = '\0';
        return RT_TAGS;
    }
    if (ends_with(rest, len, "/blobs/uploads/") || ends_with(rest, len, "/blobs/uploads")) {
        rest[len - strlen(ends_with(rest, len, "/") ? "/blobs/uploads/" : "/blobs/uploads")] = '\0';
        return RT_UPLOAD_START;
    }
    if (!(slash = strrchr(rest, '/')))
        return RT_NONE;
    *slash = '\0';
    *arg_out = slash + 1;
    char *kind = strrchr(rest, '/');
    if (!kind)
        return RT_NONE;
    *kind++ = '\0';
    if (!strcmp(kind, "manifests"))
        return RT_MANIFEST;
    if (!strcmp(kind, "blobs"))
        return RT_BLOB;
    if (!strcmp(kind, "referrers"))
        return RT_REFERRERS;
    if (!strcmp(kind, "uploads") && ends_with(rest, strlen(rest), "/blobs")) {
        rest[strlen(rest) - strlen("/blobs")] = '\0';
        return RT_UPLOAD;
    }
    return RT_NONE;
}

int router_parse(route_kind *route_out, char **name_out, char **arg_out, arena *mem,
                 const char *path)
{
    *name_out = *arg_out = NULL;
    if (!strcmp(path, "/v2/") || !strcmp(path, "/v2")) {
        *route_out = RT_BASE;
        return REG_OK;
    }
    if (!strcmp(path, "/v2/_catalog")) {
        *route_out = RT_CATALOG;
        return REG_OK;
    }
    if (!strcmp(path, "/healthz") || !strcmp(path, "/readyz")) {
        *route_out = path[1] == 'h' ? RT_HEALTH : RT_READY;
        return REG_OK;
    }
    if (!strcmp(path, "/token")) {
        *route_out = RT_TOKEN;
        return REG_OK;
    }
    if (!strcmp(path, "/")) {
        *route_out = RT_ECR;
        return REG_OK;
    }
    if (!strcmp(path, "/metrics")) {
        *route_out = RT_METRICS;
        return REG_OK;
    }
    if (!strcmp(path, "/console") || !strncmp(path, "/console/", 9)) {
        *route_out = RT_CONSOLE;
        return REG_OK;
    }
    if (!strcmp(path, "/admin/gc")) {
        *route_out = RT_ADMIN_GC;
        return REG_OK;
    }
    if (strncmp(path, "/v2/", 4) != 0) {
        *route_out = RT_NONE;
        return REG_OK;
    }
    char *rest = arena_strdup(mem, path + 4);
    if (!rest)
        return REG_ERROR;
    *route_out = split_route(rest, arg_out);
    if (*route_out == RT_NONE)
        return REG_OK;
    *name_out = rest;
    return reference_check_name(rest) < 0 ? REG_EINVALID : REG_OK;
}

/* What each endpoint needs: `need` actions on the repository (or the catalog), and the
 * actions its 401 challenge asks for. PUBLIC endpoints need no token at all. */
#define PUBLIC    0x100
#define ANY_TOKEN 0

typedef struct method_route {
    route_kind route;
    const char *method;
    void (*handler)(request *req);
    unsigned need;
    const char *challenge;
} method_route;

#define PULL   ACTION_PULL, "pull"
#define PUSH   ACTION_PUSH, "pull,push"
#define DELETE ACTION_DELETE, "delete"

static const method_route table[] = {
    {RT_BASE, "GET", handle_base, ANY_TOKEN, NULL},
    {RT_BASE, "HEAD", handle_base, ANY_TOKEN, NULL},
    {RT_HEALTH, "GET", handle_health, PUBLIC, NULL},
    {RT_READY, "GET", handle_ready, PUBLIC, NULL},
    {RT_TOKEN, "GET", handle_token, PUBLIC, NULL},
    {RT_TOKEN, "POST", handle_token, PUBLIC, NULL},
    {RT_METRICS, "GET", handle_metrics, PUBLIC, NULL},
    {RT_ECR, "POST", handle_ecr, PUBLIC, NULL},         /* signed with SigV4 instead */
    {RT_ECR, "GET", handle_console_root, PUBLIC, NULL}, /* a browser goes to the console */
    /* The console authorizes by itself: a session cookie, CSRF tokens, the same policy. */
    {RT_CONSOLE, "GET", handle_console, PUBLIC, NULL},
    {RT_CONSOLE, "HEAD", handle_console, PUBLIC, NULL},
    {RT_CONSOLE, "POST", handle_console, PUBLIC, NULL},
    {RT_CONSOLE, "DELETE", handle_console, PUBLIC, NULL},
    {RT_ADMIN_GC, "POST", handle_admin_gc, ACTION_ADMIN, "*"},
    {RT_CATALOG, "GET", handle_catalog, ACTION_PULL, "*"},
    {RT_BLOB, "GET", handle_blob_get, PULL},
    {RT_BLOB, "HEAD", handle_blob_get, PULL},
    {RT_BLOB, "DELETE", handle_blob_delete, DELETE},
    {RT_UPLOAD_START, "POST", handle_upload_start, PUSH},
    {RT_UPLOAD, "PATCH", handle_upload_patch, PUSH},
    {RT_UPLOAD, "PUT", handle_upload_put, PUSH},
    {RT_UPLOAD, "GET", handle_upload_status, PUSH},
    {RT_UPLOAD, "DELETE", handle_upload_cancel, PUSH},
    {RT_MANIFEST, "GET", handle_manifest_get, PULL},
    {RT_MANIFEST, "HEAD", handle_manifest_get, PULL},
    {RT_MANIFEST, "PUT", handle_manifest_put, PUSH},
    {RT_MANIFEST, "DELETE", handle_manifest_delete, DELETE},
    {RT_TAGS, "GET", handle_tags_list, PULL},
    {RT_REFERRERS, "GET", handle_referrers, PULL},
};

/* A signed download URL (ECR GetDownloadUrlForLayer) stands in for a token for the GET of
 * its one blob. One that does not check out is refused, with or without auth: it is never
 * quietly served as if it had not been signed. */
static int signed_url_or_reply(request *req, const method_route *m)
{
    const char *expires = request_query(req, BLOB_URL_EXPIRES_PARAM);
    const char *signature = request_query(req, BLOB_URL_SIGNATURE_PARAM);
    int err = m->route == RT_BLOB && !strcmp(m->method, "GET")
                  ? blob_url_check(req->srv->master_key, req->name, req->arg, expires, signature,
                                   time(NULL))
                  : reg_error_set(REG_EDENIED, "a signed URL grants only the GET of its blob");
    if (err == REG_OK) {
        req->auth_decision = "allowed";
        return REG_OK;
    }
    req->auth_decision = "denied";
    reply_error(req, 403, "DENIED", "%s", reg_error_last("the signed URL is refused"));
    return err;
}

static int authorize_route(request *req, const method_route *m)
{
    if (m->need == PUBLIC)
        return REG_OK;
    if (request_query(req, BLOB_URL_EXPIRES_PARAM) || request_query(req, BLOB_URL_SIGNATURE_PARAM))
        return signed_url_or_reply(req, m);
    if (m->route == RT_BASE)
        return authorize_or_reply(req, NULL, NULL, 0, NULL);
    if (m->route == RT_CATALOG)
        return authorize_or_reply(req, "registry", "catalog", m->need, m->challenge);
    if (m->route == RT_ADMIN_GC)
        return authorize_or_reply(req, "registry", "admin", m->need, m->challenge);
    /* A cross-repository mount also needs pull on its source: ask for both at once, so a
     * client that follows challenges gets a token that makes the mount work. */
    const char *from = m->route == RT_UPLOAD_START ? request_query(req, "from") : NULL;
    if (from && request_query(req, "mount") && reference_check_name(from) == REG_OK)
        req->extra_scope = arena_printf(&req->mem, "repository:%s:pull", from);
    return authorize_or_reply(req, "repository", req->name, m->need, m->challenge);
}

void router_dispatch(request *req)
{
    char *name, *arg;
    route_kind route;
    int err = router_parse(&route, &name, &arg, &req->mem, req->url);
    if (err == REG_ERROR) {
        reply_error(req, 500, "UNKNOWN", "out of memory");
        return;
    }
    if (route == RT_NONE) {
        reply_error(req, 404, "UNSUPPORTED", "no such endpoint: %s", req->url);
        return;
    }
    if (err == REG_EINVALID) {
        reply_error(req, 400, "NAME_INVALID",
                    "invalid repository name: lower-case alphanumeric path components "
                    "separated by '/', '.', '_', '__' or '-', at most 255 characters");
        return;
    }
    req->route = route;
    req->name = name;
    req->arg = arg;
    int route_known = 0;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].route != route)
            continue;
        route_known = 1;
        if (request_is(req, table[i].method)) {
            if (authorize_route(req, &table[i]) == REG_OK)
                table[i].handler(req);
            req->claims = NULL;
            req->basic_policy = NULL;
            return;
        }
    }
    reply_error(req, route_known ? 405 : 404, "UNSUPPORTED", "method %s is not supported here",
                req->method);
}
