/* token_endpoint.c - the Docker token protocol's token server: GET /token (Basic credentials
 * or anonymous, scope= query parameters) and POST /token (OAuth2 password and refresh_token
 * grants, form-encoded). Issues ES256 JWTs carrying granted ∩ requested access. */
#include "auth/login.h"
#include "auth/policy.h"
#include "auth/token.h"
#include "server/http/auth.h"
#include "server/http/client.h"
#include "server/http/errors.h"
#include "server/oci/handlers.h"
#include "server/http/log.h"
#include "storage/base/buf.h"
#include "storage/base/reg_error.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SCOPES       16
#define FORM_MAX         16384
#define REFRESH_TTL      (30 * 24 * 3600)
#define REFRESH_AUDIENCE TOKEN_SERVICE ":refresh"

typedef struct token_request {
    const char *scopes[MAX_SCOPES];
    size_t nscopes;
} token_request;

/* Split a space-separated scope list into the request's scopes (ignoring overflow). */
static void add_scopes(request *req, token_request *t, const char *value)
{
    char *copy = arena_strdup(&req->mem, value);
    for (char *save = NULL, *s = copy ? strtok_r(copy, " ", &save) : NULL; s;
         s = strtok_r(NULL, " ", &save))
        if (t->nscopes < MAX_SCOPES)
            t->scopes[t->nscopes++] = s;
}

typedef struct scope_collector {
    request *req;
    token_request *t;
} scope_collector;

static enum MHD_Result collect_scope(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    scope_collector *c = cls;
    if (!strcmp(key, "scope") && value)
        add_scopes(c->req, c->t, value);
    return MHD_YES;
}

static void reply_oauth_error(request *req, unsigned status, const char *error, const char *msg)
{
    reply_json(req, status, json_pack("{s:s, s:s}", "error", error, "error_description", msg),
               NULL);
}

static void reply_login_refused(request *req, const char *message)
{
    struct MHD_Response *r = error_response(req, "UNAUTHORIZED", NULL, "%s", message);
    response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"ocireg\"");
    request_send(req, 401, r);
}

/* User "AWS" with an ECR login password: a signature and generation check, no password hash.
 * On success *user_io becomes the user it was issued to. */
static int ecr_login_or_reply(request *req, index_db *ix, const char **user_io, const char *pass,
                              int64_t *gen_out)
{
    user_record rec;
    const char *sub = ecr_login_subject(req, pass);
    if (sub && index_user_get(&rec, ix, sub) == REG_OK) {
        *user_io = sub;
        *gen_out = rec.generation;
        return REG_OK;
    }
    log_msg(LOG_INFO, "auth: ECR login password refused: %s",
            sub ? "no such user" : reg_error_last("invalid token"));
    reply_login_refused(req, "invalid or expired ECR login password");
    return REG_EDENIED;
}

/* Check a user's password under the failed-login throttle (auth/login.h); on success
 * *gen_out is the user's generation. Replies itself on failure. */
static int credentials_or_reply(request *req, index_db *ix, const char **user_io, const char *pass,
                                int64_t *gen_out)
{
    const char *user = *user_io;
    char addr[64];
    int wait = 0;
    if (!strcmp(user, "AWS"))
        return ecr_login_or_reply(req, ix, user_io, pass, gen_out);
    request_client_address(addr, sizeof(addr), req);
    int err = login_check(gen_out, &wait, ix, user, pass, addr, time(NULL));
    if (err == REG_OK)
        return REG_OK;
    if (err == REG_EBUSY) {
        log_msg(LOG_WARN, "auth: login throttled user=%.64s client=%s", user, addr);
        struct MHD_Response *r = error_response(req, "TOOMANYREQUESTS", NULL, "%s",
                                                reg_error_last("too many failed logins"));
        response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, arena_printf(&req->mem, "%d", wait));
        request_send(req, 429, r);
    } else if (err == REG_EDENIED) {
        log_msg(LOG_INFO, "auth: login failed user=%.64s client=%s", user, addr);
        reply_login_refused(req, "invalid username or password");
    } else {
        reply_internal(req, err, "login");
    }
    return err;
}

/* The catalog is open to everyone (it is filtered per caller); registry administration needs
 * admin on every repository (a grant on the pattern "*"). Clients ask for pull only, so a
 * pull also gets pull-through where the caller has it (filling a pull-through cache). */
static unsigned granted_actions(const policy *p, const scope *s)
{
    unsigned want = s->actions & ACTION_PULL ? s->actions | ACTION_PULL_THROUGH : s->actions;
    if (!strcmp(s->type, "repository"))
        return want & policy_actions(p, s->name);
    if (!strcmp(s->name, "catalog"))
        return s->actions;
    return (policy_actions(p, "*") & ACTION_ADMIN) ? s->actions : 0;
}

/* granted = requested ∩ policy, per scope; every decision is logged. */
static int grant_scopes(token_claims *c, index_db *ix, const char *user, const token_request *t,
                        const char *registry_id)
{
    policy *p = NULL;
    int err = policy_load_for(&p, ix, user, registry_id);
    if (err < 0)
        return err;
    for (size_t i = 0; i < t->nscopes && c->naccess < TOKEN_MAX_ACCESS; i++) {
        scope s;
        char want[48], got[48];
        if (scope_parse(&s, t->scopes[i]) < 0)
            continue;
        unsigned granted = granted_actions(p, &s);
        actions_format(want, sizeof(want), s.actions);
        actions_format(got, sizeof(got), granted);
        log_msg(LOG_INFO, "auth: token principal=%s %s=%s requested=%s granted=%s",
                user ? user : ANONYMOUS, s.type, s.name, want, granted ? got : "none");
        if (!granted)
            continue;
        s.actions = granted;
        c->access[c->naccess++] = s;
    }
    policy_free(p);
    return REG_OK;
}

static void format_time(char *out, size_t n, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Issue an access token (and a refresh token when asked) for `user` (NULL: anonymous) of
 * generation `gen`. */
static void issue_tokens(request *req, index_db *ix, const char *user, int64_t gen,
                         const token_request *t, int want_refresh)
{
    token_claims c;
    char *access = NULL, *refresh = NULL, issued[32];
    time_t now = time(NULL);
    int ttl = req->srv->cfg.token_ttl;
    memset(&c, 0, sizeof(c));
    snprintf(c.sub, sizeof(c.sub), "%s", user ? user : "");
    snprintf(c.aud, sizeof(c.aud), "%s", TOKEN_SERVICE);
    c.iat = c.nbf = now;
    c.exp = now + ttl;
    c.gen = user ? gen : 0;
    int err = grant_scopes(&c, ix, user, t, req->srv->cfg.registry_id);
    if (err == REG_OK)
        err = token_sign(&access, server_keys(req->srv), TOKEN_ISSUER, &c);
    if (err == REG_OK && want_refresh && user) {
        token_claims r = c;
        r.naccess = 0;
        snprintf(r.aud, sizeof(r.aud), "%s", REFRESH_AUDIENCE);
        r.exp = now + REFRESH_TTL;
        err = token_sign(&refresh, server_keys(req->srv), TOKEN_ISSUER, &r);
    }
    if (err < 0) {
        reply_internal(req, err, "token issue");
    } else {
        format_time(issued, sizeof(issued), now);
        req->principal = user ? arena_strdup(&req->mem, user) : NULL;
        json_t *body = json_pack("{s:s, s:s, s:i, s:s}", "token", access, "access_token", access,
                                 "expires_in", ttl, "issued_at", issued);
        if (body && refresh)
            json_object_set_new(body, "refresh_token", json_string(refresh));
        reply_json(req, 200, body, NULL);
    }
    free(access);
    free(refresh);
}

static int service_ok_or_reply(request *req, const char *service)
{
    if (!service || !strcmp(service, TOKEN_SERVICE))
        return REG_OK;
    reply_oauth_error(req, 400, "invalid_request", "unknown service");
    return REG_EINVALID;
}

static void handle_token_get(request *req, index_db *ix, token_request *t)
{
    scope_collector sc = {req, t};
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(req->conn, &pass);
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_scope, &sc);
    const char *offline = request_query(req, "offline_token");
    const char *principal = user;
    int64_t gen = 0;
    if (service_ok_or_reply(req, request_query(req, "service")) == REG_OK &&
        (!user || credentials_or_reply(req, ix, &principal, pass ? pass : "", &gen) == REG_OK))
        issue_tokens(req, ix, principal, gen, t, offline && !strcmp(offline, "true"));
    MHD_free(user);
    MHD_free(pass);
}

/* application/x-www-form-urlencoded: look up one field, decoded into the arena. */
static const char *form_value(request *req, const buf *form, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = form->data; p && *p;) {
        size_t len = strcspn(p, "&");
        if (len > klen && p[klen] == '=' && !strncmp(p, key, klen)) {
            char *out = arena_strndup(&req->mem, p + klen + 1, len - klen - 1);
            for (char *c = out; c && *c; c++)
                if (*c == '+')
                    *c = ' ';
            if (out)
                http_percent_decode(out);
            return out;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return NULL;
}

/* The user a refresh token was issued to (and its generation), if the token is valid and the
 * user still exists with the generation it was issued under. */
static const char *refresh_subject(request *req, const char *jwt, int64_t *gen_out)
{
    token_claims c;
    if (token_verify(&c, server_keys(req->srv), jwt, TOKEN_ISSUER, REFRESH_AUDIENCE, time(NULL)) <
        0)
        return NULL;
    if (!c.sub[0] || auth_generation_current(req, c.sub, c.gen) < 0)
        return NULL;
    *gen_out = c.gen;
    return arena_strdup(&req->mem, c.sub);
}

static void finish_token_post(request *req)
{
    token_request *t = req->state;
    index_db *ix = index_or_reply(req);
    if (!ix)
        return;
    if (req->body_stopped) {
        reply_oauth_error(req, 413, "invalid_request", "form too large");
        return;
    }
    const buf *form = &req->body;
    const char *grant = form_value(req, form, "grant_type");
    const char *scope_list = form_value(req, form, "scope");
    const char *access_type = form_value(req, form, "access_type");
    int offline = access_type && !strcmp(access_type, "offline");
    if (service_ok_or_reply(req, form_value(req, form, "service")) < 0)
        return;
    if (scope_list)
        add_scopes(req, t, scope_list);
    if (grant && !strcmp(grant, "password")) {
        const char *user = form_value(req, form, "username");
        const char *pass = form_value(req, form, "password");
        if (!user || !pass) {
            reply_oauth_error(req, 400, "invalid_request", "username and password are required");
            return;
        }
        int64_t gen = 0;
        if (credentials_or_reply(req, ix, &user, pass, &gen) == REG_OK)
            issue_tokens(req, ix, user, gen, t, offline);
        return;
    }
    if (grant && !strcmp(grant, "refresh_token")) {
        const char *rt = form_value(req, form, "refresh_token");
        int64_t gen = 0;
        const char *user = rt ? refresh_subject(req, rt, &gen) : NULL;
        if (!user) {
            log_msg(LOG_INFO, "auth: refresh token refused: %s",
                    reg_error_last("invalid or expired"));
            reply_oauth_error(req, 401, "invalid_grant", "refresh token is invalid or expired");
            return;
        }
        issue_tokens(req, ix, user, gen, t, 1);
        return;
    }
    reply_oauth_error(req, 400, "unsupported_grant_type",
                      "grant_type must be password or refresh_token");
}

void handle_token(request *req)
{
    token_request *t = arena_alloc(&req->mem, sizeof(*t));
    index_db *ix;
    if (!t) {
        reply_error(req, 500, "UNKNOWN", "out of memory");
        return;
    }
    memset(t, 0, sizeof(*t));
    if (request_is(req, "GET")) {
        if ((ix = index_or_reply(req)) != NULL)
            handle_token_get(req, ix, t);
        return;
    }
    req->state = t;
    request_read_body(req, FORM_MAX, finish_token_post);
}
