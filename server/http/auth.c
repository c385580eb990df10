/* auth.c - bearer token checks and challenges (see auth.h). */
#include "server/http/auth.h"
#include "auth/base64url.h"
#include "auth/policy.h"
#include "auth/token.h"
#include "server/http/client.h"
#include "server/http/errors.h"
#include "server/http/log.h"
#include "storage/base/namematch.h"
#include "storage/base/reg_error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_SLOTS          32
#define POLICY_CACHE_SECONDS 5

typedef struct cached_token {
    char *jwt;
    token_claims claims;
} cached_token;

typedef struct token_cache {
    cached_token slots[CACHE_SLOTS];
    unsigned next;
    policy *policy; /* the grants of policy_user, loaded at policy_at */
    char policy_user[USER_NAME_MAX + 1];
    time_t policy_at;
} token_cache;

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void free_cache(void *p)
{
    token_cache *c = p;
    for (int i = 0; i < CACHE_SLOTS; i++)
        free(c->slots[i].jwt);
    policy_free(c->policy);
    free(c);
}

static void make_cache_key(void)
{
    pthread_key_create(&cache_key, free_cache);
}

static token_cache *thread_cache(void)
{
    pthread_once(&cache_once, make_cache_key);
    token_cache *c = pthread_getspecific(cache_key);
    if (!c && (c = calloc(1, sizeof(*c))) != NULL)
        pthread_setspecific(cache_key, c);
    return c;
}

keyring *server_keys(server *srv)
{
    keyring *kr = __atomic_load_n(&srv->keys, __ATOMIC_ACQUIRE);
    if (kr)
        return kr;
    pthread_mutex_lock(&srv->keys_lock);
    if (!srv->keys) {
        if (keyring_load(&kr, srv->cfg.data_dir) == REG_OK)
            __atomic_store_n(&srv->keys, kr, __ATOMIC_RELEASE);
        else
            log_msg(LOG_ERROR, "cannot load or create the token signing key in %s/keys",
                    srv->cfg.data_dir);
    }
    kr = srv->keys;
    pthread_mutex_unlock(&srv->keys_lock);
    return kr;
}

int auth_enabled(const server *srv)
{
    return __atomic_load_n(&srv->auth_on, __ATOMIC_RELAXED);
}

void auth_set_enabled(server *srv, int on)
{
    __atomic_store_n(&srv->auth_on, on, __ATOMIC_RELAXED);
}

/* Verify through the cache: a token seen before on this thread costs a string compare. NULL
 * with the reason in reg_error_last() when the token is refused. */
static const token_claims *verify_cached(request *req, const char *jwt, const char *audience)
{
    token_cache *c = thread_cache();
    time_t now = time(NULL);
    token_claims claims;
    for (int i = 0; c && i < CACHE_SLOTS; i++) {
        cached_token *t = &c->slots[i];
        if (t->jwt && strcmp(t->jwt, jwt) == 0 && strcmp(t->claims.aud, audience) == 0) {
            if (t->claims.exp + TOKEN_CLOCK_SKEW >= now && t->claims.nbf - TOKEN_CLOCK_SKEW <= now)
                return &t->claims;
            reg_error_set(REG_EDENIED, "token has expired");
            return NULL;
        }
    }
    if (token_verify(&claims, server_keys(req->srv), jwt, TOKEN_ISSUER, audience, now) < 0)
        return NULL;
    if (!c) {
        token_claims *copy = arena_alloc(&req->mem, sizeof(*copy));
        if (!copy)
            return reg_error_set(REG_ERROR, "out of memory"), NULL;
        *copy = claims;
        return copy;
    }
    cached_token *t = &c->slots[c->next++ % CACHE_SLOTS];
    free(t->jwt);
    t->jwt = strdup(jwt);
    t->claims = claims;
    if (!t->jwt)
        return reg_error_set(REG_ERROR, "out of memory"), NULL;
    return &t->claims;
}

static int host_is_sane(const char *h)
{
    size_t n = strlen(h);
    return n <= 255 && namematch_chars(h, n, ".-:[]");
}

const char *request_base_url(request *req)
{
    const config *cfg = &req->srv->cfg;
    const char *scheme = cfg->tls_cert[0] ? "https" : "http";
    const char *host = request_header(req, MHD_HTTP_HEADER_HOST);
    if (cfg->external_url[0])
        return cfg->external_url;
    if (request_from_trusted_proxy(req)) {
        const char *proto = request_header(req, "X-Forwarded-Proto");
        const char *fwd_host = request_header(req, "X-Forwarded-Host");
        if (proto && (!strcmp(proto, "https") || !strcmp(proto, "http")))
            scheme = proto;
        if (fwd_host && host_is_sane(fwd_host))
            host = fwd_host;
    }
    if (!host || !host_is_sane(host))
        host = cfg->listen;
    return arena_printf(&req->mem, "%s://%s", scheme, host);
}

static void reply_challenge(request *req, const char *type, const char *name, const char *actions,
                            const char *error, const char *why)
{
    const char *base = request_base_url(req);
    const char *header =
        name ? arena_printf(&req->mem,
                            "Bearer realm=\"%s/token\",service=\"%s\",scope=\"%s:%s:%s%s%s\"%s%s%s",
                            base, TOKEN_SERVICE, type, name, actions, req->extra_scope ? " " : "",
                            req->extra_scope ? req->extra_scope : "", error ? ",error=\"" : "",
                            error ? error : "", error ? "\"" : "")
             : arena_printf(&req->mem, "Bearer realm=\"%s/token\",service=\"%s\"", base,
                            TOKEN_SERVICE);
    int insufficient = error && !strcmp(error, "insufficient_scope");
    struct MHD_Response *r =
        insufficient ? error_response(req, "DENIED", NULL,
                                      "requested access to the resource is "
                                      "denied")
                     : error_response(req, "UNAUTHORIZED", NULL, "authentication required%s%s",
                                      why ? ": " : "", why ? why : "");
    response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, header);
    req->auth_decision = "denied";
    log_msg(LOG_INFO, "auth: denied principal=%s action=%s %s=%s reason=%s",
            req->principal ? req->principal : ANONYMOUS_PRINCIPAL, actions ? actions : "login",
            type ? type : "-", name ? name : "-",
            why     ? why
            : error ? error
                    : "no token");
    request_send(req, 401, r);
}

int auth_generation_current(request *req, const char *user, int64_t gen)
{
    int64_t current = 0;
    index_db *ix = request_index(req);
    int err = ix ? index_user_generation(&current, ix, user) : REG_ERROR;
    if (err == REG_ENOTFOUND)
        return reg_error_set(REG_EDENIED, "user %s no longer exists", user);
    if (err < 0)
        return reg_error_set(REG_EDENIED, "the user %s cannot be looked up", user);
    if (current != gen)
        return reg_error_set(REG_EDENIED, "issued before the password of %s changed", user);
    return REG_OK;
}

const char *ecr_login_subject(request *req, const char *password)
{
    const token_claims *c = verify_cached(req, password, ECR_LOGIN_AUDIENCE);
    if (c && !c->sub[0])
        return reg_error_set(REG_EDENIED, "token names no user"), NULL;
    if (!c || auth_generation_current(req, c->sub, c->gen) < 0)
        return NULL;
    return arena_strdup(&req->mem, c->sub);
}

/* The user's grants, cached per thread for a few seconds (ECR login passwords carry no access
 * claim: the policy is looked up, never a password hash). */
static const policy *thread_policy(request *req, const char *user)
{
    token_cache *c = thread_cache();
    time_t now = time(NULL);
    index_db *ix;
    if (!c)
        return NULL;
    if (c->policy && !strcmp(c->policy_user, user) && now - c->policy_at < POLICY_CACHE_SECONDS)
        return c->policy;
    if (!(ix = request_index(req)))
        return NULL;
    policy_free(c->policy);
    c->policy = NULL;
    if (policy_load_for(&c->policy, ix, user, req->srv->cfg.registry_id) < 0)
        return NULL;
    snprintf(c->policy_user, sizeof(c->policy_user), "%s", user);
    c->policy_at = now;
    return c->policy;
}

static unsigned policy_grants(const policy *p, const char *type, const char *name)
{
    if (!type)
        return 0;
    if (!strcmp(type, "repository"))
        return policy_actions(p, name);
    if (!strcmp(name, "catalog"))
        return ACTION_ALL;
    return (policy_actions(p, "*") & ACTION_ADMIN) ? ACTION_ALL : 0;
}

/* Authorization: Basic AWS:<login password from GetAuthorizationToken>. */
static int authorize_basic(request *req, const char *b64, const char *type, const char *name,
                           unsigned need, const char *challenge_actions)
{
    size_t n = 0;
    unsigned char *raw = base64_decode(b64, strnlen(b64, TOKEN_MAX_BYTES), &n);
    char *text = raw ? arena_strndup(&req->mem, (char *)raw, n) : NULL;
    free(raw);
    const char *user = NULL;
    const policy *p = NULL;
    if (!text || strncmp(text, "AWS:", 4) != 0)
        reg_error_set(REG_EDENIED,
                      "only ECR login passwords (user AWS) are accepted as Basic credentials");
    else if ((user = ecr_login_subject(req, text + 4)) && !(p = thread_policy(req, user)))
        reg_error_set(REG_EDENIED, "the access policy of user %s cannot be loaded", user);
    if (!p) {
        reply_challenge(req, type, name, challenge_actions, "invalid_token",
                        reg_error_last("invalid credentials"));
        return REG_EDENIED;
    }
    req->principal = user;
    req->basic_policy = p;
    if (need && (policy_grants(p, type, name) & need) != need) {
        reply_challenge(req, type, name, challenge_actions, "insufficient_scope", NULL);
        return REG_EDENIED;
    }
    req->auth_decision = "allowed";
    return REG_OK;
}

int authorize_or_reply(request *req, const char *type, const char *name, unsigned need,
                       const char *challenge_actions)
{
    if (!auth_enabled(req->srv))
        return REG_OK;
    const char *authz = request_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
    if (authz && !strncasecmp(authz, "Basic ", 6))
        return authorize_basic(req, authz + 6, type, name, need, challenge_actions);
    if (!authz || strncasecmp(authz, "Bearer ", 7) != 0) {
        reply_challenge(req, type, name, challenge_actions, NULL, NULL);
        return REG_EDENIED;
    }
    const token_claims *claims = verify_cached(req, authz + 7, TOKEN_SERVICE);
    if (!claims) {
        reply_challenge(req, type, name, challenge_actions, "invalid_token",
                        reg_error_last("invalid token"));
        return REG_EDENIED;
    }
    req->claims = claims;
    req->principal = claims->sub[0] ? arena_strdup(&req->mem, claims->sub) : NULL;
    if (need && (token_allows(claims, type, name) & need) != need) {
        reply_challenge(req, type, name, challenge_actions, "insufficient_scope", NULL);
        return REG_EDENIED;
    }
    req->auth_decision = "allowed";
    return REG_OK;
}

int auth_allows(const request *req, const char *name, unsigned need)
{
    if (req->basic_policy)
        return (policy_actions(req->basic_policy, name) & need) == need;
    if (!req->claims)
        return !auth_enabled(req->srv);
    return (token_allows(req->claims, "repository", name) & need) == need;
}
