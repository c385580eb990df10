/* remote_auth.c - Docker token auth for the client: a token fetched from a challenge's realm
 * (JSON `token` or `access_token`, `expires_in`), and the per-scope cache that keeps it. */
#include "storage/remote/remote_internal.h"
#include "storage/base/reg_error.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define TOKEN_TTL_DEFAULT_S 60    /* the spec's default when expires_in is absent */
#define TOKEN_TTL_MAX_S     86400 /* an upstream's word is bounded */
#define TOKEN_SLACK_S       5     /* refetch this long before the token runs out */

int64_t remote_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static token_entry *find(remote *r, const char *scope)
{
    for (size_t i = 0; i < REMOTE_TOKEN_CACHE; i++)
        if (r->tokens[i].scope && strcmp(r->tokens[i].scope, scope) == 0)
            return &r->tokens[i];
    return NULL;
}

static void entry_clear(token_entry *e)
{
    free(e->scope);
    free(e->token);
    memset(e, 0, sizeof(*e));
}

char *remote_token_get(remote *r, const char *scope)
{
    char *out = NULL;
    pthread_mutex_lock(&r->lock);
    token_entry *e = find(r, scope ? scope : "");
    if (e && e->expires_ms > remote_now_ms())
        out = strdup(e->token);
    pthread_mutex_unlock(&r->lock);
    return out;
}

void remote_token_drop(remote *r, const char *scope)
{
    pthread_mutex_lock(&r->lock);
    token_entry *e = find(r, scope ? scope : "");
    if (e)
        entry_clear(e);
    pthread_mutex_unlock(&r->lock);
}

/* Into the scope's slot, a free one, or the one that runs out first. */
void remote_token_put(remote *r, const char *scope, const char *token, int64_t ttl_ms)
{
    scope = scope ? scope : "";
    char *s = strdup(scope), *t = strdup(token);
    pthread_mutex_lock(&r->lock);
    token_entry *e = find(r, scope);
    for (size_t i = 0; !e && i < REMOTE_TOKEN_CACHE; i++)
        if (!r->tokens[i].scope)
            e = &r->tokens[i];
    if (!e) {
        e = &r->tokens[0];
        for (size_t i = 1; i < REMOTE_TOKEN_CACHE; i++)
            if (r->tokens[i].expires_ms < e->expires_ms)
                e = &r->tokens[i];
    }
    entry_clear(e);
    if (s && t) {
        e->scope = s;
        e->token = t;
        e->expires_ms = remote_now_ms() + ttl_ms;
        s = t = NULL;
    }
    pthread_mutex_unlock(&r->lock);
    free(s);
    free(t);
}

/* realm?service=..&scope=.. (the realm may have a query of its own). */
static int token_url(buf *u, const remote_challenge *ch, const char *scope)
{
    int err = buf_append(u, ch->realm, strlen(ch->realm));
    char sep = strchr(ch->realm, '?') ? '&' : '?';
    if (!err && ch->service[0] && !(err = buf_append(u, &sep, 1)) &&
        !(err = buf_append(u, "service=", 8)))
        err = remote_url_encode(u, ch->service), sep = '&';
    if (!err && scope && scope[0] && !(err = buf_append(u, &sep, 1)) &&
        !(err = buf_append(u, "scope=", 6)))
        err = remote_url_encode(u, scope);
    return err;
}

static int token_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > REMOTE_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
            return 0;
    return 1;
}

/* The token and its lifetime from the endpoint's JSON. */
static int parse_token(char **out, int64_t *ttl_ms, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    json_t *tok = root ? json_object_get(root, "token") : NULL;
    if (!json_is_string(tok) || !json_string_length(tok))
        tok = root ? json_object_get(root, "access_token") : NULL;
    json_t *exp = root ? json_object_get(root, "expires_in") : NULL;
    int err = REG_OK;
    if (!json_is_string(tok) || !token_ok(json_string_value(tok))) {
        err = reg_error_set(REG_ERROR, "the token endpoint's answer has no usable token");
    } else {
        double s = json_is_number(exp) ? json_number_value(exp) : TOKEN_TTL_DEFAULT_S;
        if (!(s > 0))
            s = TOKEN_TTL_DEFAULT_S;
        if (s > TOKEN_TTL_MAX_S)
            s = TOKEN_TTL_MAX_S;
        s = s > 2 * TOKEN_SLACK_S ? s - TOKEN_SLACK_S : s / 2;
        *ttl_ms = (int64_t)(s * 1000);
        if (!(*out = strdup(json_string_value(tok))))
            err = reg_error_set(REG_ERROR, "out of memory");
    }
    json_decref(root);
    return err;
}

/* Credentials go to the realm only over https, or over http when the endpoint itself is http. */
static int realm_allowed(const remote *r, const remote_challenge *ch)
{
    if (!remote_url_is_http(ch->realm))
        return 0;
    return !r->username || strncasecmp(ch->realm, "https://", 8) == 0 ||
           strncasecmp(r->base, "http://", 7) == 0;
}

int remote_token_fetch(char **out, remote *r, const remote_challenge *ch, const char *scope)
{
    remote_request req = {.method = "GET", .max_body = REMOTE_TOKEN_BODY_MAX};
    remote_auth auth = {.bearer = NULL, .basic = r->username != NULL};
    remote_xfer x;
    buf url;
    int64_t ttl_ms = 0;
    int err;
    *out = NULL;
    if (!realm_allowed(r, ch))
        return reg_error_set(REG_EDENIED, "the token realm is not an http(s) URL we may send "
                                          "credentials to");
    buf_init(&url, 4 * REMOTE_PARAM_MAX);
    if ((err = token_url(&url, ch, ch->scope[0] ? ch->scope : scope)) < 0) {
        buf_free(&url);
        return reg_error_set(err, "token request URL too long");
    }
    remote_xfer_init(&x, &req, "GET", url.data, auth);
    if ((err = remote_xfer_run(r, &x)) < 0)
        err = reg_error_wrap(err, "token request");
    else if (x.status == 401 || x.status == 403)
        err = reg_error_set(REG_EDENIED, "the token endpoint refused %s (HTTP %ld)",
                            r->username ? "the credentials" : "anonymous access", x.status);
    else if (x.status != 200)
        err = reg_error_set(REG_ERROR, "the token endpoint answered HTTP %ld", x.status);
    else if ((err = parse_token(out, &ttl_ms, x.body.data ? x.body.data : "", x.body.len)) == 0)
        remote_token_put(r, scope, *out, ttl_ms);
    remote_xfer_free(&x);
    buf_free(&url);
    return err;
}
