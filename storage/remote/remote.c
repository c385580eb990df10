/* remote.c - the client of remote.h: an endpoint's copied settings and handle pool, and one
 * request sent: auth retried once on a challenge, GET/HEAD redirects followed. */
#include "storage/remote/remote_internal.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init(void)
{
    if (dynlib_load_curl() == REG_OK)
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int load_curl(void)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_result == CURLE_OK)
        return REG_OK;
    if (dynlib_load_curl() == REG_OK)
        reg_error_set(REG_ERROR, "curl_global_init failed");
    return reg_error_wrap(REG_ERROR, "remote registries need libcurl");
}

/* An http(s) base URL without user info (credentials go in their own fields). */
static int check_base(const char *url)
{
    char *user = NULL;
    CURLU *u = remote_url_is_http(url) ? curl_url() : NULL;
    int ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER;
    curl_free(user);
    if (u)
        curl_url_cleanup(u);
    return ok ? REG_OK
              : reg_error_set(REG_EINVALID, "remote URL must be http(s)://host[:port] "
                                            "without credentials in it");
}

static char *dup_or_null(const char *s, int *failed)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *failed = 1;
    return d;
}

int remote_open(remote **out, const remote_endpoint *ep)
{
    int err, failed = 0;
    *out = NULL;
    if ((err = load_curl()) < 0 || (err = check_base(ep->url)) < 0)
        return err;
    remote *r = calloc(1, sizeof(*r));
    if (!r)
        return reg_error_set(REG_ERROR, "out of memory");
    pthread_mutex_init(&r->lock, NULL);
    r->base = dup_or_null(ep->url, &failed);
    r->username = dup_or_null(ep->username, &failed);
    r->password = dup_or_null(ep->password, &failed);
    r->ca_file = dup_or_null(ep->ca_file, &failed);
    if (failed) {
        remote_close(r);
        return reg_error_set(REG_ERROR, "out of memory");
    }
    for (size_t n = strlen(r->base); n > 0 && r->base[n - 1] == '/'; n--)
        r->base[n - 1] = '\0';
    r->connect_timeout_ms =
        ep->connect_timeout_ms > 0 ? ep->connect_timeout_ms : REMOTE_CONNECT_TIMEOUT_MS;
    r->stall_timeout_ms = ep->stall_timeout_ms > 0 ? ep->stall_timeout_ms : REMOTE_STALL_TIMEOUT_MS;
    r->total_timeout_ms = ep->total_timeout_ms > 0 ? ep->total_timeout_ms : 0;
    *out = r;
    return REG_OK;
}

void remote_close(remote *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nidle; i++)
        curl_easy_cleanup(r->idle[i]);
    for (size_t i = 0; i < REMOTE_TOKEN_CACHE; i++) {
        free(r->tokens[i].scope);
        free(r->tokens[i].token);
    }
    if (r->password)
        explicit_bzero(r->password, strlen(r->password));
    pthread_mutex_destroy(&r->lock);
    free(r->base);
    free(r->username);
    free(r->password);
    free(r->ca_file);
    free(r);
}

CURL *remote_handle_take(remote *r)
{
    CURL *h = NULL;
    pthread_mutex_lock(&r->lock);
    if (r->nidle > 0)
        h = r->idle[--r->nidle];
    pthread_mutex_unlock(&r->lock);
    return h ? h : curl_easy_init();
}

/* Reset (its options hold a password and pointers into a finished request), connections kept. */
void remote_handle_give(remote *r, CURL *h)
{
    curl_easy_reset(h);
    pthread_mutex_lock(&r->lock);
    if (r->nidle < REMOTE_POOL_MAX) {
        r->idle[r->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&r->lock);
    if (h)
        curl_easy_cleanup(h);
}

void remote_response_free(remote_response *resp)
{
    if (!resp)
        return;
    free(resp->content_type);
    free(resp->docker_content_digest);
    free(resp->location);
    free(resp->body);
    free(resp->retry_after);
    memset(resp, 0, sizeof(*resp));
    resp->content_length = -1;
}

static int method_ok(const char *m)
{
    static const char *const known[] = {"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"};
    for (size_t i = 0; m && i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(m, known[i]))
            return 1;
    return 0;
}

static int follows_redirects(const char *method)
{
    return !strcmp(method, "GET") || !strcmp(method, "HEAD");
}

static int is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static char *request_url(const remote *r, const char *path)
{
    char *url = NULL;
    if (remote_url_is_http(path))
        return strdup(path);
    if (asprintf(&url, "%s%s%s", r->base, path[0] == '/' ? "" : "/", path) < 0)
        return NULL;
    return url;
}

/* One exchange and the redirects it leads to (GET and HEAD): credentials stay on the origin
 * of `url`. x holds the last answer, *final_url the URL it came from. */
static int send_following(remote_xfer *x, char **final_url, remote *r, const remote_request *req,
                          const char *url, remote_auth auth)
{
    char *cur = strdup(url), *next;
    int err = REG_OK;
    for (int hops = 0; cur; hops++) {
        remote_xfer_init(x, req, req->method, cur, auth);
        if ((err = remote_xfer_run(r, x)) < 0 || !follows_redirects(req->method) ||
            !is_redirect(x->status) || !x->location)
            break;
        if (hops == REMOTE_MAX_REDIRECTS) {
            err = reg_error_set(REG_ERROR, "%s: more than %d redirects", req->method,
                                REMOTE_MAX_REDIRECTS);
            break;
        }
        if (!(next = remote_url_resolve(cur, x->location)))
            break; /* a Location we do not follow: the 3xx is the answer */
        if (!remote_url_same_origin(url, next))
            auth = (remote_auth){NULL, 0};
        remote_xfer_free(x);
        free(cur);
        cur = next;
    }
    if (!cur) {
        remote_xfer_init(x, req, req->method, url, auth);
        err = reg_error_set(REG_ERROR, "out of memory");
    }
    *final_url = cur;
    return err;
}

/* After a 401: new credentials for one more try (1), or none to offer (0). */
static int answer_challenge(remote *r, const remote_request *req, const remote_xfer *x,
                            const char *url, const char *final_url, remote_auth *auth, char **token)
{
    if ((req->read_body && x->body_started) || !remote_url_same_origin(url, final_url))
        return 0;
    if (x->challenge.scheme == REMOTE_AUTH_BEARER) {
        char *fresh = NULL;
        if (*token)
            remote_token_drop(r, req->scope);
        if (remote_token_fetch(&fresh, r, &x->challenge, req->scope) < 0)
            return 0; /* the 401 stands; reg_error_last() says why */
        free(*token);
        *token = fresh;
        auth->bearer = fresh;
        return 1;
    }
    if (x->challenge.scheme == REMOTE_AUTH_BASIC && r->username && !auth->basic) {
        pthread_mutex_lock(&r->lock);
        r->basic_seen = 1;
        pthread_mutex_unlock(&r->lock);
        auth->basic = 1;
        return 1;
    }
    return 0;
}

static void take_answer(remote_response *out, remote_xfer *x, const char *final_url)
{
    out->status = x->status;
    out->content_type = x->content_type;
    out->docker_content_digest = x->digest;
    out->retry_after = x->retry_after;
    out->content_length = x->content_length;
    out->location = x->location ? remote_url_resolve(final_url, x->location) : NULL;
    free(x->location);
    x->content_type = x->digest = x->retry_after = x->location = NULL;
    if (x->body.len) {
        out->body = (unsigned char *)x->body.data;
        out->body_len = x->body.len;
        x->body.data = NULL;
        x->body.len = x->body.cap = 0;
    }
}

int remote_send(remote_response *out, remote *r, const remote_request *req)
{
    memset(out, 0, sizeof(*out));
    out->content_length = -1;
    if (!method_ok(req->method) || !req->path)
        return reg_error_set(REG_EINVALID, "remote request needs a known method and a path");
    char *url = request_url(r, req->path), *final_url = NULL;
    if (!url)
        return reg_error_set(REG_ERROR, "out of memory");
    /* An absolute URL elsewhere (an upload Location on another host) gets no credentials. */
    int on_base = remote_url_same_origin(r->base, url);
    char *token = on_base ? remote_token_get(r, req->scope) : NULL;
    pthread_mutex_lock(&r->lock);
    remote_auth auth = {token, on_base && r->basic_seen && r->username};
    pthread_mutex_unlock(&r->lock);
    remote_xfer x;
    int err;
    for (int attempt = 0;; attempt++) {
        err = send_following(&x, &final_url, r, req, url, auth);
        if (err < 0 || x.status != 401 || attempt > 0 || !on_base ||
            !answer_challenge(r, req, &x, url, final_url, &auth, &token))
            break;
        remote_xfer_free(&x);
        free(final_url);
        final_url = NULL;
    }
    if (err == REG_OK)
        take_answer(out, &x, final_url ? final_url : url);
    remote_xfer_free(&x);
    free(final_url);
    free(token);
    free(url);
    return err;
}
