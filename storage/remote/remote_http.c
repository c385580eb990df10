/* remote_http.c - one HTTP exchange of the client: curl's options (timeouts, CA file, auth),
 * the request body, and what comes back, each part bounded (headers, kept values, body). */
#include "storage/remote/remote_internal.h"
#include "storage/base/header_line.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void remote_xfer_init(remote_xfer *x, const remote_request *req, const char *method,
                      const char *url, remote_auth auth)
{
    memset(x, 0, sizeof(*x));
    x->req = req;
    x->method = method;
    x->url = url;
    x->auth = auth;
    x->content_length = -1;
    buf_init(&x->body, 0);
}

static void forget_answer(remote_xfer *x)
{
    free(x->content_type);
    free(x->digest);
    free(x->location);
    free(x->retry_after);
    x->content_type = x->digest = x->location = x->retry_after = NULL;
    x->content_length = -1;
    x->status = 0;
    memset(&x->challenge, 0, sizeof(x->challenge));
}

void remote_xfer_free(remote_xfer *x)
{
    forget_answer(x);
    buf_free(&x->body);
}

static int is_clean(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return 0;
    return 1;
}

/* A header value worth keeping: short and free of control bytes; else none. */
static void keep_value(char **slot, const char *v, size_t n)
{
    free(*slot);
    *slot = NULL;
    if (n < REMOTE_VALUE_MAX && is_clean(v, n))
        *slot = strndup(v, n);
}

static int64_t parse_length(const char *v, size_t n)
{
    int64_t out = 0;
    if (n == 0 || n > 18)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        out = out * 10 + (v[i] - '0');
    }
    return out;
}

static void status_line(remote_xfer *x, const char *line, size_t len)
{
    const char *sp = memchr(line, ' ', len);
    forget_answer(x);
    if (sp && line + len - sp >= 4 && sp[1] >= '1' && sp[1] <= '5' && sp[2] >= '0' &&
        sp[2] <= '9' && sp[3] >= '0' && sp[3] <= '9')
        x->status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
}

static void www_authenticate(remote_xfer *x, const char *v, size_t n)
{
    remote_challenge ch;
    if (remote_challenge_parse(&ch, v, n) == REG_OK && ch.scheme > x->challenge.scheme)
        memcpy(&x->challenge, &ch, sizeof(ch));
}

static size_t on_header(char *line, size_t size, size_t nitems, void *user)
{
    remote_xfer *x = user;
    size_t len = size * nitems, n;
    const char *v;
    x->header_bytes += len;
    if (x->header_bytes > REMOTE_MAX_HEADER_BYTES) {
        x->err = REG_ETOOLARGE;
        return 0;
    }
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0)
        status_line(x, line, len); /* a new answer (after a 100 Continue, say) */
    else if (header_line_value(line, len, "Content-Type", &v, &n))
        keep_value(&x->content_type, v, n);
    else if (header_line_value(line, len, "Docker-Content-Digest", &v, &n))
        keep_value(&x->digest, v, n);
    else if (header_line_value(line, len, "Location", &v, &n))
        keep_value(&x->location, v, n);
    else if (header_line_value(line, len, "Retry-After", &v, &n))
        keep_value(&x->retry_after, v, n);
    else if (header_line_value(line, len, "Content-Length", &v, &n))
        x->content_length = parse_length(v, n);
    else if (header_line_value(line, len, "WWW-Authenticate", &v, &n))
        www_authenticate(x, v, n);
    return len;
}

static int streams(const remote_xfer *x)
{
    return x->req->on_data && x->status >= 200 && x->status < 300;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *user)
{
    remote_xfer *x = user;
    size_t n = size * nmemb;
    uint64_t limit = x->req->max_body;
    if (!limit && !streams(x))
        limit = REMOTE_MAX_BODY_DEFAULT;
    x->body_seen += n;
    if (limit && x->body_seen > limit) {
        x->err = REG_ETOOLARGE;
        return 0;
    }
    if (streams(x)) {
        int rc = x->req->on_data(x->req->data_ctx, data, n);
        if (rc != 0) {
            x->err = rc < 0 ? rc : REG_ERROR;
            return 0;
        }
        return n;
    }
    x->body.max = (size_t)limit;
    if (buf_append(&x->body, data, n) < 0) {
        x->err = REG_ETOOLARGE;
        return 0;
    }
    return n;
}

static size_t on_read(char *dst, size_t size, size_t nitems, void *user)
{
    remote_xfer *x = user;
    const remote_request *req = x->req;
    size_t n = size * nitems;
    if (req->read_body) {
        x->body_started = 1;
        long got = req->read_body(req->read_ctx, dst, n);
        if (got < 0 || (size_t)got > n) {
            x->err = got < 0 && got >= REG_EMISMATCH ? (int)got : REG_ERROR;
            return CURL_READFUNC_ABORT;
        }
        return (size_t)got;
    }
    size_t left = req->body_len - x->body_pos;
    if (n > left)
        n = left;
    if (n)
        memcpy(dst, (const char *)req->body + x->body_pos, n);
    x->body_pos += n;
    return n;
}

static int on_seek(void *user, curl_off_t offset, int origin)
{
    remote_xfer *x = user;
    if (x->req->read_body || origin != SEEK_SET || offset < 0 ||
        (uint64_t)offset > x->req->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    x->body_pos = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* The request's headers plus the bearer token; a header with a line break is refused. */
static int build_headers(struct curl_slist **out, const remote_xfer *x)
{
    char *line = NULL;
    struct curl_slist *l = NULL, *next;
    for (const char *const *h = x->req->headers; h && *h; h++) {
        if (strpbrk(*h, "\r\n") || !(next = curl_slist_append(l, *h)))
            goto fail;
        l = next;
    }
    if (x->auth.bearer) {
        if (asprintf(&line, "Authorization: Bearer %s", x->auth.bearer) < 0)
            goto fail;
        next = curl_slist_append(l, line);
        free(line);
        if (!next)
            goto fail;
        l = next;
    }
    *out = l;
    return REG_OK;
fail:
    curl_slist_free_all(l);
    return reg_error_set(REG_EINVALID, "invalid request header for %s", x->method);
}

static int has_body(const remote_xfer *x)
{
    const char *m = x->method;
    return x->req->body || x->req->read_body || !strcmp(m, "PUT") || !strcmp(m, "POST") ||
           !strcmp(m, "PATCH");
}

static void set_method(CURL *h, remote_xfer *x)
{
    DYNLIB_CURL_LOCAL(curl_easy_setopt);
    if (!strcmp(x->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        return;
    }
    if (!strcmp(x->method, "GET")) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        return;
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, x->method);
    if (!has_body(x))
        return;
    curl_off_t size =
        x->req->read_body ? (curl_off_t)x->req->read_size : (curl_off_t)x->req->body_len;
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, x);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, x);
    if (size >= 0)
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, size);
}

static void set_options(CURL *h, remote *r, remote_xfer *x, struct curl_slist *hdrs, char *errbuf)
{
    DYNLIB_CURL_LOCAL(curl_easy_setopt);
    long stall_s = (r->stall_timeout_ms + 999) / 1000;
    curl_easy_setopt(h, CURLOPT_URL, x->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, stall_s > 0 ? stall_s : 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->total_timeout_ms);
    if (r->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, r->ca_file);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    if (x->req->on_data)
        curl_easy_setopt(h, CURLOPT_BUFFERSIZE, (long)REMOTE_STREAM_BUFFER);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (x->auth.basic && r->username) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, r->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, r->password ? r->password : "");
    }
    set_method(h, x);
}

/* The failure's text: method, URL without its query, and curl's reason (which names hosts and
 * ports, never credentials: they are not in our URLs). */
static int transfer_error(remote_xfer *x, CURLcode rc, const char *errbuf)
{
    char url[256];
    remote_url_for_error(url, sizeof(url), x->url);
    if (x->err == REG_ETOOLARGE)
        return reg_error_set(
            REG_ETOOLARGE, "the answer to %s %s is too large (over %s)", x->method, url,
            x->header_bytes > REMOTE_MAX_HEADER_BYTES ? "the header bound" : "max_body");
    if (x->err)
        return reg_error_wrap(x->err, "%s %s", x->method, url);
    return reg_error_set(REG_ERROR, "%s %s failed: %s", x->method, url,
                         errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

int remote_xfer_run(remote *r, remote_xfer *x)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    int err;
    if ((err = build_headers(&hdrs, x)) < 0)
        return err;
    CURL *h = remote_handle_take(r);
    if (!h) {
        curl_slist_free_all(hdrs);
        return reg_error_set(REG_ERROR, "curl_easy_init failed");
    }
    set_options(h, r, x, hdrs, errbuf);
    CURLcode rc = curl_easy_perform(h);
    err = rc == CURLE_OK && !x->err && x->status ? REG_OK : transfer_error(x, rc, errbuf);
    remote_handle_give(r, h);
    curl_slist_free_all(hdrs);
    return err;
}
