/* console_session.c - console viewers, sessions, sign-in and CSRF (see console_session.h). */
#include "server/console/console_session.h"
#include "auth/login.h"
#include "auth/policy.h"
#include "auth/scope.h"
#include "server/console/console_reply.h"
#include "server/http/auth.h"
#include "server/http/client.h"
#include "server/http/log.h"
#include "storage/base/buf.h"
#include "storage/base/digest.h"
#include "storage/base/random.h"
#include "storage/base/reg_error.h"
#include "storage/index/index_console.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CSRF_LABEL "ocireg console csrf"

/* The session cookie when it has the form of one, else NULL. */
static const char *session_cookie(request *req)
{
    const char *c = MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, CONSOLE_COOKIE);
    if (!c || strlen(c) != CONSOLE_COOKIE_HEX ||
        strspn(c, "0123456789abcdef") != CONSOLE_COOKIE_HEX)
        return NULL;
    return c;
}

/* The row that stands for a cookie: its SHA-256, so the index never holds a usable cookie. */
static int session_id_of(char out[CONSOLE_COOKIE_HEX + 1], const char *cookie)
{
    digest d;
    int err = digest_buffer(&d, DIGEST_SHA256, cookie, strlen(cookie));
    if (err == REG_OK)
        snprintf(out, CONSOLE_COOKIE_HEX + 1, "%s", digest_hex(&d));
    return err;
}

/* HMAC-SHA256 of a fixed label under `key`: a session's token under its cookie (which the page
 * cannot read: it is HttpOnly), an anonymous visitor's under the registry's master key. */
static int csrf_of(char out[CONSOLE_CSRF_HEX + 1], const void *key, size_t key_len)
{
    unsigned char mac[CONSOLE_CSRF_HEX / 2];
    int err = hmac_sha256(mac, key, key_len, CSRF_LABEL, strlen(CSRF_LABEL));
    if (err < 0)
        return err;
    hex_encode(out, mac, sizeof(mac));
    return REG_OK;
}

static int load_session(console_viewer *out, request *req, index_db *ix, const char *cookie)
{
    char user[USER_NAME_MAX + 1];
    int64_t expires = 0;
    int err = session_id_of(out->session_id, cookie);
    if (err == REG_OK)
        err = index_session_get(user, &expires, ix, out->session_id, (int64_t)time(NULL));
    if (err == REG_ENOTFOUND) {
        out->session_id[0] = '\0';
        out->session_ended = 1;
        return REG_OK;
    }
    if (err < 0 || csrf_of(out->csrf, cookie, strlen(cookie)) < 0)
        return REG_ERROR;
    out->user = arena_strdup(&req->mem, user);
    out->expires_at = expires;
    return out->user ? REG_OK : REG_ERROR;
}

int console_viewer_load(console_viewer *out, request *req, index_db *ix)
{
    const char *cookie = session_cookie(req);
    memset(out, 0, sizeof(*out));
    out->auth_on = auth_enabled(req->srv);
    out->session_ended =
        cookie == NULL && MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, CONSOLE_COOKIE);
    if (cookie && load_session(out, req, ix, cookie) < 0)
        return REG_ERROR;
    if (!out->user && csrf_of(out->csrf, req->srv->master_key, sizeof(req->srv->master_key)) < 0)
        return REG_ERROR;
    req->principal = out->user;
    if (out->auth_on && policy_load_for(&out->policy, ix, out->user, req->srv->cfg.registry_id) < 0)
        return REG_ERROR;
    return REG_OK;
}

void console_viewer_free(console_viewer *v)
{
    policy_free(v->policy);
    v->policy = NULL;
}

unsigned console_actions(const console_viewer *v, const char *repo)
{
    return v->auth_on ? policy_actions(v->policy, repo) : ACTION_ALL;
}

int console_permits(const console_viewer *v, const char *repo, const char *action, unsigned need)
{
    return !v->auth_on || policy_permits(v->policy, repo, action, need);
}

int console_is_admin(const console_viewer *v)
{
    return (console_actions(v, "*") & ACTION_ADMIN) != 0;
}

/* The request comes from a page of this registry, as far as the browser tells. */
static int same_origin_or_reply(request *req)
{
    const char *origin = request_header(req, "Origin");
    const char *site = request_header(req, "Sec-Fetch-Site");
    const char *base = request_base_url(req);
    if ((origin && (!base || strcasecmp(origin, base))) ||
        (site && strcmp(site, "same-origin") && strcmp(site, "none"))) {
        log_msg(LOG_WARN, "console: cross-origin %s %s refused (Origin %.100s)", req->method,
                req->url, origin ? origin : "-");
        console_reply_error(req, 403, "refused: the request did not come from this console");
        return REG_EDENIED;
    }
    return REG_OK;
}

int console_change_or_reply(request *req, const console_viewer *v)
{
    if (same_origin_or_reply(req) < 0)
        return REG_EDENIED;
    const char *token = request_header(req, CONSOLE_CSRF_HEADER);
    if (v->session_ended) {
        console_reply_error(req, 401, "your session has ended: sign in again");
        return REG_EDENIED;
    }
    if (!token || strlen(token) != CONSOLE_CSRF_HEX ||
        CRYPTO_memcmp(token, v->csrf, CONSOLE_CSRF_HEX) != 0) {
        console_reply_error(req, 403,
                            "refused: the request carries no valid CSRF token (reload the page)");
        return REG_EDENIED;
    }
    return REG_OK;
}

/* "host[:port]" that clients pull from: the base URL without its scheme. */
static const char *registry_host(request *req)
{
    const char *base = request_base_url(req);
    const char *sep = base ? strstr(base, "://") : NULL;
    return sep ? sep + 3 : "";
}

json_t *console_session_json(request *req, const console_viewer *v)
{
    json_t *out = json_pack("{s:b, s:o, s:s, s:b, s:b, s:s, s:s}", "authEnabled", v->auth_on,
                            "user", v->user ? json_string(v->user) : json_null(), "csrfToken",
                            v->csrf, "admin", console_is_admin(v), "sessionEnded", v->session_ended,
                            "registry", registry_host(req), "version", OCIREG_VERSION);
    if (out && v->expires_at)
        json_object_set_new(out, "expiresAt", json_integer(v->expires_at));
    return out;
}

/* The cookie, Secure when clients reach us over HTTPS; an empty value with Max-Age 0 clears
 * it. */
static void set_cookie(request *req, struct MHD_Response *r, const char *value, int max_age)
{
    const char *base = request_base_url(req);
    int secure = base && !strncmp(base, "https://", 8);
    response_header(r, MHD_HTTP_HEADER_SET_COOKIE,
                    arena_printf(&req->mem,
                                 "%s=%s; Path=/console/; Max-Age=%d; HttpOnly; "
                                 "SameSite=Strict%s",
                                 CONSOLE_COOKIE, value, max_age, secure ? "; Secure" : ""));
}

static void reply_with_cookie(request *req, json_t *body, const char *cookie, int max_age)
{
    struct MHD_Response *r = response_json(req, body, NULL);
    response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    set_cookie(req, r, cookie, max_age);
    console_send(req, 200, r);
}

/* A sign-in over a live session replaces it: the old cookie stops working at once. */
static void end_previous_session(request *req, index_db *ix)
{
    char id[CONSOLE_COOKIE_HEX + 1];
    const char *old = session_cookie(req);
    if (old && session_id_of(id, old) == REG_OK && index_session_delete(ix, id) < 0)
        log_msg(LOG_WARN, "console: the previous session cannot be ended: %s",
                reg_error_last(index_errmsg(ix)));
}

/* Open a session for `user` and answer with its cookie and the viewer it makes. */
static void open_session(request *req, index_db *ix, const char *user, int64_t generation)
{
    char cookie[CONSOLE_COOKIE_HEX + 1];
    console_viewer v = {.auth_on = 1};
    time_t now = time(NULL);
    int ttl = req->srv->cfg.console_session_ttl;
    end_previous_session(req, ix);
    int err = random_hex(cookie, CONSOLE_COOKIE_HEX / 2);
    if (err == REG_OK)
        err = session_id_of(v.session_id, cookie);
    if (err == REG_OK)
        err = index_session_put(ix, v.session_id, user, generation, now, now + ttl);
    if (err == REG_OK)
        err = csrf_of(v.csrf, cookie, strlen(cookie));
    if (err == REG_OK)
        err = policy_load_for(&v.policy, ix, user, req->srv->cfg.registry_id);
    if (err < 0) {
        console_reply_error(req, 500, "the session cannot be opened: %s",
                            reg_error_last(index_errmsg(ix)));
        return;
    }
    v.user = user;
    v.expires_at = now + ttl;
    req->principal = arena_strdup(&req->mem, user); /* `user` goes with the request body */
    log_msg(LOG_INFO, "console: signed in user=%.64s", user);
    reply_with_cookie(req, console_session_json(req, &v), cookie, ttl);
    console_viewer_free(&v);
}

static void refuse_login(request *req, int err, int wait, const char *user)
{
    char addr[64];
    request_client_address(addr, sizeof(addr), req);
    if (err == REG_EBUSY) {
        log_msg(LOG_WARN, "auth: console login throttled user=%.64s client=%s", user, addr);
        struct MHD_Response *r = response_json(
            req, json_pack("{s:s}", "message", reg_error_last("too many failed sign-ins")), NULL);
        response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, arena_printf(&req->mem, "%d", wait));
        console_send(req, 429, r);
    } else if (err == REG_EDENIED) {
        log_msg(LOG_INFO, "auth: console login failed user=%.64s client=%s", user, addr);
        console_reply_error(req, 401, "invalid username or password");
    } else {
        console_reply_error(req, 500, "sign-in failed: %s", reg_error_last("internal error"));
    }
}

static void finish_sign_in(request *req)
{
    const buf *body = &req->body;
    const char *user = NULL, *password = NULL;
    json_t *in = NULL;
    int64_t generation = 0;
    int wait = 0;
    char addr[64];
    index_db *ix = request_index(req);
    if (req->body_stopped) {
        console_reply_error(req, 413, "the sign-in request is too large");
        return;
    }
    if (!body->data || !(in = json_loadb(body->data, body->len, 0, NULL)) ||
        json_unpack(in, "{s:s, s:s}", "username", &user, "password", &password) < 0 || !user[0]) {
        json_decref(in);
        console_reply_error(req, 400, "a user name and a password are needed");
        return;
    }
    if (!ix) {
        json_decref(in);
        console_reply_error(req, 503, "the index is not available");
        return;
    }
    request_client_address(addr, sizeof(addr), req);
    int err = login_check(&generation, &wait, ix, user, password, addr, time(NULL));
    if (err == REG_OK)
        open_session(req, ix, user, generation);
    else
        refuse_login(req, err, wait, user);
    json_decref(in);
}

void console_sign_in(request *req)
{
    const char *type = request_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (same_origin_or_reply(req) < 0)
        return;
    if (!auth_enabled(req->srv)) {
        console_reply_error(req, 400,
                            "this registry has no users: the console is open without "
                            "signing in");
        return;
    }
    /* A JSON body cannot be sent across origins without a CORS preflight we never grant. */
    if (!type || strncasecmp(type, "application/json", strlen("application/json")) != 0) {
        console_reply_error(req, 415, "sign-in takes application/json");
        return;
    }
    request_read_body(req, CONSOLE_SIGN_IN_MAX, finish_sign_in);
}

void console_sign_out(request *req, const console_viewer *v, index_db *ix)
{
    /* a session that has ended already only needs its cookie cleared */
    if (v->session_ended ? same_origin_or_reply(req) < 0 : console_change_or_reply(req, v) < 0)
        return;
    if (v->session_id[0] && index_session_delete(ix, v->session_id) < 0) {
        console_reply_error(req, 500, "the session cannot be ended: %s",
                            reg_error_last(index_errmsg(ix)));
        return;
    }
    if (v->user)
        log_msg(LOG_INFO, "console: signed out user=%.64s", v->user);
    reply_with_cookie(req, json_pack("{s:b}", "signedOut", 1), "", 0);
}
