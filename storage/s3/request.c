/* request.c - one S3 request, retried with backoff: curl's options and callbacks for each
 * attempt (downloads resume), what is worth another attempt, and the error text of the rest.
 *
 * libcurl signs these requests (CURLOPT_AWS_SIGV4). What curl 7.88's signer needs from us: the
 * x-amz-content-sha256 header (it does not add it, and RGW then refuses the signature); a
 * query already in canonical form (sorted, UriEncoded, "uploads=" rather than "uploads"),
 * because curl signs the query as written; bodies through the read callback, because with
 * POSTFIELDS curl signs a Content-Type of its own; and no empty "Name:" header to suppress one
 * of curl's, because curl signs that too. Where it signs wrongly, sign.c does instead. */
#include "storage/s3/s3_internal.h"
#include "storage/base/datetime.h"
#include "storage/base/header_line.h"
#include "storage/base/reg_error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define BACKOFF_BASE_MS    100
#define BACKOFF_CAP_MS     5000
#define CONNECT_TIMEOUT_MS 10000L
#define SLOW_TIMEOUT_MS    3600000L /* CopyObject, CompleteMultipartUpload, DeleteObjects */
#define LOW_SPEED_BYTES    1024L    /* a transfer slower than this ... */
#define LOW_SPEED_SECONDS  30L      /* ... for this long is dropped (and retried) */
#define GET_MAX_REQUESTS   100      /* one s3_get, resumes included */

static size_t on_read(char *dst, size_t size, size_t nitems, void *user)
{
    s3_req *r = user;
    size_t n = size * nitems, left = r->body_len - r->body_pos;
    if (n > left)
        n = left;
    memcpy(dst, (const char *)r->body + r->body_pos, n);
    r->body_pos += n;
    return n;
}

static int on_seek(void *user, curl_off_t offset, int origin)
{
    s3_req *r = user;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->body_len)
        return CURL_SEEKFUNC_FAIL;
    r->body_pos = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* "bytes START-END/TOTAL", TOTAL possibly "*". */
UNITTEST int parse_content_range(uint64_t *start, uint64_t *total, const char *v, size_t len)
{
    uint64_t end;
    if (len < 6 || strncasecmp(v, "bytes ", 6) != 0)
        return REG_EINVALID;
    const char *p = v + 6, *stop = v + len;
    const char *dash = memchr(p, '-', (size_t)(stop - p));
    const char *slash = dash ? memchr(dash, '/', (size_t)(stop - dash)) : NULL;
    if (!slash || parse_u64(start, p, (size_t)(dash - p)) < 0 ||
        parse_u64(&end, dash + 1, (size_t)(slash - dash - 1)) < 0 || end < *start)
        return REG_EINVALID;
    if (stop - slash == 2 && slash[1] == '*') {
        *total = UINT64_MAX;
        return REG_OK;
    }
    if (parse_u64(total, slash + 1, (size_t)(stop - slash - 1)) < 0 || end >= *total)
        return REG_EINVALID;
    return REG_OK;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *user)
{
    s3_req *r = user;
    size_t len = size * nitems, vlen;
    const char *v;
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue, say): forget what an earlier one said. */
        r->etag[0] = r->request_id[0] = '\0';
        r->etag_cut = r->has_range = 0;
        r->content_length = UINT64_MAX;
        r->last_modified = -1;
    } else if (header_line_value(line, len, "Content-Length", &v, &vlen)) {
        if (parse_u64(&r->content_length, v, vlen) < 0)
            r->content_length = UINT64_MAX;
    } else if (header_line_value(line, len, "Last-Modified", &v, &vlen)) {
        char date[64];
        if (vlen < sizeof(date)) {
            memcpy(date, v, vlen);
            date[vlen] = '\0';
            time_t t = curl_getdate(date, NULL);
            r->last_modified = t == (time_t)-1 ? -1 : (int64_t)t;
        }
    } else if (header_line_value(line, len, "ETag", &v, &vlen)) {
        r->etag_cut = vlen >= sizeof(r->etag) || !is_clean_text(v, vlen);
        if (!r->etag_cut) {
            memcpy(r->etag, v, vlen);
            r->etag[vlen] = '\0';
        }
    } else if (header_line_value(line, len, "x-amz-request-id", &v, &vlen)) {
        if (vlen < sizeof(r->request_id) && is_clean_text(v, vlen)) {
            memcpy(r->request_id, v, vlen);
            r->request_id[vlen] = '\0';
        }
    } else if (header_line_value(line, len, "Content-Range", &v, &vlen)) {
        r->has_range = parse_content_range(&r->range_start, &r->range_total, v, vlen) == REG_OK;
    }
    return len;
}

/* Hand the wanted part of a download's body to the callback; 0 (abort) when the callback
 * says stop, the body jumped past what is wanted, or everything wanted has arrived. */
UNITTEST size_t deliver(s3_req *r, const char *data, size_t n)
{
    download *d = r->dl;
    if (!d->positioned) {
        d->pos = r->status == 206 && r->has_range ? r->range_start : 0;
        d->positioned = 1;
        if (r->status == 206 && !r->has_range) {
            d->gap = 1;
            return 0;
        }
        if (!d->etag[0] && r->etag[0])
            memcpy(d->etag, r->etag, sizeof(d->etag));
        /* for servers that ignore If-Match */
        if (r->etag[0] && strcmp(d->etag, r->etag) != 0) {
            d->changed = 1;
            return 0;
        }
    }
    if (d->done)
        return 0;
    uint64_t pos = d->pos;
    d->pos += n;
    if (pos > d->next) {
        d->gap = 1;
        return 0;
    }
    if (pos + n <= d->next)
        return n;
    size_t skip = (size_t)(d->next - pos), take = n - skip;
    if (d->end != UINT64_MAX && take > d->end - d->next)
        take = (size_t)(d->end - d->next);
    if (take > 0) {
        int rc = d->cb(d->ctx, data + skip, take);
        if (rc != 0) {
            d->cb_err = rc;
            return 0;
        }
        d->next += take;
    }
    if (d->next == d->end) {
        d->done = 1;
        return skip + take == n ? n : 0;
    }
    return n;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *user)
{
    DYNLIB_CURL_LOCAL(curl_easy_getinfo);
    s3_req *r = user;
    size_t n = size * nmemb;
    if (r->status == 0)
        curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->dl && (r->status == 200 || r->status == 206))
        return deliver(r, data, n);
    /* Keep what fits; an error answer is only read for its Code, a cut document fails later. */
    size_t room = r->response.max - r->response.len;
    if (buf_append(&r->response, data, n < room ? n : room) < 0)
        return 0;
    return n;
}

static int is_retryable_curl(CURLcode e)
{
    switch (e) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

static int is_retryable_answer(long status, const char *code)
{
    static const char *const codes[] = {"SlowDown",      "RequestTimeout",
                                        "InternalError", "ServiceUnavailable",
                                        "Throttling",    "ThrottlingException"};
    if (status == 429 || (status >= 500 && status != 501))
        return 1;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (!strcmp(code, codes[i]))
            return 1;
    return 0;
}

static _Thread_local unsigned jitter_seed;

static void backoff(int attempt)
{
    long delay = BACKOFF_BASE_MS;
    for (int i = 0; i < attempt && delay < BACKOFF_CAP_MS; i++)
        delay *= 2;
    if (delay > BACKOFF_CAP_MS)
        delay = BACKOFF_CAP_MS;
    if (jitter_seed == 0)
        jitter_seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)&jitter_seed;
    long ms = delay / 2 + rand_r(&jitter_seed) % (delay / 2 + 1);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int build_path(buf *out, const s3_client *c, const char *key)
{
    int err = put_str(out, c->bucket_path);
    if (err == REG_OK && key) {
        err = buf_append(out, "/", 1);
        if (err == REG_OK)
            err = put_encoded(out, c->cfg.prefix, strlen(c->cfg.prefix), 1);
        if (err == REG_OK)
            err = put_encoded(out, key, strlen(key), 1);
    } else if (err == REG_OK && !c->bucket_path[0]) {
        err = buf_append(out, "/", 1);
    }
    return err;
}

int build_url(buf *out, const s3_client *c, const char *path, const char *query)
{
    int err = put_str(out, c->base);
    if (err == REG_OK)
        err = put_str(out, path);
    if (err == REG_OK && query) {
        err = buf_append(out, "?", 1);
        if (err == REG_OK)
            err = put_str(out, query);
    }
    return err;
}

/* TIMEOUT_SLOW: give up when nothing moved either way for LOW_SPEED_SECONDS * 4. */
static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    s3_req *r = user;
    time_t now = time(NULL);
    if (dlnow + ulnow != r->last_bytes || r->last_progress == 0) {
        r->last_bytes = dlnow + ulnow;
        r->last_progress = now;
        return 0;
    }
    return now - r->last_progress > LOW_SPEED_SECONDS * 4 ? 1 : 0;
}

static struct curl_slist *add_header(struct curl_slist *list, int *failed, const char *line)
{
    struct curl_slist *more = curl_slist_append(list, line);
    if (!more) {
        *failed = 1;
        return list;
    }
    return more;
}

/* The attempt's header lines, signed here when the client signs itself (sign.c); NULL with
 * errbuf saying so when memory ran out. */
static struct curl_slist *request_headers(s3_client *c, s3_req *r, const char *path,
                                          const char *payload_sha256, char *errbuf)
{
    struct curl_slist *headers = NULL;
    char sha_line[96], match_line[S3_ETAG_MAX + 16];
    const char *lines[SIGN_MAX_HEADERS];
    size_t n = 0;
    int failed = 0;
    snprintf(sha_line, sizeof(sha_line), "x-amz-content-sha256: %s", payload_sha256);
    lines[n++] = sha_line;
    for (size_t i = 0; i < sizeof(r->headers) / sizeof(r->headers[0]) && r->headers[i]; i++)
        lines[n++] = r->headers[i];
    if (r->dl && r->dl->etag[0]) {
        snprintf(match_line, sizeof(match_line), "If-Match: %s", r->dl->etag);
        lines[n++] = match_line;
    }
    for (size_t i = 0; i < n; i++)
        headers = add_header(headers, &failed, lines[i]);
    if (r->self_sign) {
        char amz_date[17], date_line[32];
        buf auth;
        buf_init(&auth, 2048);
        amz_date_of(amz_date, time(NULL));
        snprintf(date_line, sizeof(date_line), "x-amz-date: %s", amz_date);
        headers = add_header(headers, &failed, date_line);
        if (sign_request(&auth, c, r->method, path, r->query, lines, n, payload_sha256, amz_date) <
            0)
            failed = 1;
        else
            headers = add_header(headers, &failed, auth.data);
        buf_free(&auth);
    }
    if (!failed)
        return headers;
    curl_slist_free_all(headers);
    snprintf(errbuf, CURL_ERROR_SIZE, "out of memory");
    return NULL;
}

/* Forget what an earlier attempt received. */
static void reset_answer(s3_req *r, char *errbuf)
{
    r->body_pos = 0;
    r->status = 0;
    r->response.len = 0;
    if (r->response.data)
        r->response.data[0] = '\0';
    r->etag[0] = r->request_id[0] = '\0';
    r->etag_cut = r->has_range = 0;
    r->content_length = UINT64_MAX;
    r->last_modified = -1;
    errbuf[0] = '\0';
}

/* How long the attempt may take, by the request's kind. */
static void set_timeouts(CURL *h, const s3_client *c, s3_req *r)
{
    DYNLIB_CURL_LOCAL(curl_easy_setopt);
    long connect_ms =
        c->cfg.timeout_ms < CONNECT_TIMEOUT_MS ? c->cfg.timeout_ms : CONNECT_TIMEOUT_MS;
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    if (r->timeout == TIMEOUT_STREAM) {
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_SECONDS);
    } else if (r->timeout == TIMEOUT_SLOW) {
        r->last_progress = 0;
        r->last_bytes = 0;
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, SLOW_TIMEOUT_MS);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
    } else {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->cfg.timeout_ms);
    }
}

/* The method, and for PUT and POST the body's callbacks. */
static void set_method(CURL *h, s3_req *r)
{
    DYNLIB_CURL_LOCAL(curl_easy_setopt);
    if (!strcmp(r->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(r->method, "PUT") || !strcmp(r->method, "POST")) {
        /* Bodies go through the read callback: with POSTFIELDS curl would add a Content-Type
         * it signs and the server would check. */
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
        curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 1L << 20);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
}

/* A download asks for what it still lacks: from its next byte to its end. */
static void set_range(CURL *h, s3_req *r, char *range, size_t range_len)
{
    DYNLIB_CURL_LOCAL(curl_easy_setopt);
    download *d = r->dl;
    if (!d)
        return;
    if (d->next > 0 || d->end != UINT64_MAX) {
        if (d->end == UINT64_MAX)
            snprintf(range, range_len, "%llu-", (unsigned long long)d->next);
        else
            snprintf(range, range_len, "%llu-%llu", (unsigned long long)d->next,
                     (unsigned long long)(d->end - 1));
        curl_easy_setopt(h, CURLOPT_RANGE, range);
    }
    d->positioned = d->gap = d->changed = d->done = 0;
}

/* One attempt: options from scratch on a pooled handle (curl_easy_reset keeps connections). */
static CURLcode attempt(s3_client *c, s3_req *r, const char *url, const char *path,
                        const char *payload_sha256, char *errbuf)
{
    DYNLIB_CURL_LOCAL(curl_easy_setopt);
    DYNLIB_CURL_LOCAL(curl_easy_getinfo);
    CURL *h = r->h;
    char range[64];
    struct curl_slist *headers = request_headers(c, r, path, payload_sha256, errbuf);
    if (!headers)
        return CURLE_OUT_OF_MEMORY;
    curl_easy_reset(h);
    reset_answer(r, errbuf);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (!r->self_sign) {
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
        curl_easy_setopt(h, CURLOPT_USERNAME, c->cfg.access_key);
        curl_easy_setopt(h, CURLOPT_PASSWORD, c->cfg.secret_key);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L << 10);
    set_timeouts(h, c, r);
    set_method(h, r);
    set_range(h, r, range, sizeof(range));
    CURLcode rc = curl_easy_perform(h);
    if (r->status == 0)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
    return rc;
}

static int answer_code(long status, const char *code)
{
    if (!strcmp(code, "NoSuchBucket"))
        return REG_ERROR;
    if (status == 404 || !strcmp(code, "NoSuchKey") || !strcmp(code, "NoSuchUpload"))
        return REG_ENOTFOUND;
    if (status == 416)
        return REG_EINVALID;
    return REG_ERROR;
}

int answer_error(const s3_client *c, const s3_req *r)
{
    s3_error_doc e;
    parse_error_doc(&e, r->response.data, r->response.len);
    return reg_error_set(
        answer_code(r->status, e.code), "%s %s%s%s: HTTP %ld %s%s%s%s%s", r->method, c->cfg.bucket,
        r->key ? "/" : "", r->key ? r->key : "", r->status, e.code[0] ? e.code : "(no error code)",
        e.message[0] ? ": " : "", e.message, r->request_id[0] ? " request " : "", r->request_id);
}

int error_in_ok(const s3_req *r, s3_error_doc *e)
{
    xml_span sp;
    if (!r->error_in_200 || r->status != 200 || !r->response.data)
        return 0;
    if (!xml_element(&sp, r->response.data, r->response.len, "Error"))
        return 0;
    parse_error_doc(e, r->response.data, r->response.len);
    return 1;
}

/* After a transfer that ended without a transport error: did the download get every byte
 * the answer promised? (A 200 carries the whole object; a 206 says its total.) */
static int download_complete(const s3_req *r)
{
    const download *d = r->dl;
    uint64_t total = UINT64_MAX;
    if (d->done)
        return 1;
    if (r->status == 206 && r->has_range)
        total = r->range_total;
    else if (r->status == 200)
        total = r->content_length;
    if (total == UINT64_MAX)
        return 1; /* curl checked the length it was told */
    uint64_t want = d->end < total ? d->end : total;
    return d->next >= want;
}

/* " (N attempts)" after the reason of the last one. */
static int attempts_failed(int requests)
{
    char why[REG_ERROR_MAX];
    snprintf(why, sizeof(why), "%s", reg_error_last(""));
    return reg_error_set(REG_ERROR, "%s (%d attempts)", why, requests);
}

/* After an attempt, a download's own failures: none is worth another attempt. */
static int download_failed(const s3_req *r)
{
    const download *d = r->dl;
    if (!d)
        return REG_OK;
    if (d->cb_err)
        return reg_error_wrap(d->cb_err, "GET %s: stopped by the reader", r->key);
    if (d->changed)
        return reg_error_set(REG_ERROR, "GET %s: the object changed during the download", r->key);
    if (d->gap)
        return reg_error_set(REG_ERROR, "GET %s: answer does not start at byte %llu", r->key,
                             (unsigned long long)d->next);
    return REG_OK;
}

/* A transport failure, as the request's reason: 1 when another attempt may help. */
static int transport_retryable(s3_client *c, s3_req *r, CURLcode rc, char *errbuf)
{
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
        rc = CURLE_OPERATION_TIMEDOUT; /* on_progress: the server went silent */
        snprintf(errbuf, CURL_ERROR_SIZE, "no answer for %ld s", LOW_SPEED_SECONDS * 4);
    }
    reg_error_set(REG_ERROR, "%s %s%s%s: %s: %s", r->method, c->cfg.bucket, r->key ? "/" : "",
                  r->key ? r->key : "", curl_easy_strerror(rc), errbuf);
    if (!is_retryable_curl(rc))
        return 0;
    r->maybe_done |= rc != CURLE_COULDNT_RESOLVE_HOST && rc != CURLE_COULDNT_CONNECT &&
                     rc != CURLE_SSL_CONNECT_ERROR;
    return 1;
}

/* An answer: 1 when another attempt may help (its reason set), else 0 (the caller reads it). */
static int answer_retryable(s3_client *c, s3_req *r)
{
    s3_error_doc e = {{0}, {0}};
    if (r->status >= 200 && r->status < 300) {
        if (error_in_ok(r, &e)) {
            reg_error_set(REG_ERROR, "%s %s/%s: HTTP 200 with error %s: %s", r->method,
                          c->cfg.bucket, r->key ? r->key : "", e.code, e.message);
            return is_retryable_answer(0, e.code);
        }
        if (r->dl && !download_complete(r)) {
            reg_error_set(REG_ERROR, "GET %s: answer ended early at byte %llu", r->key,
                          (unsigned long long)r->dl->next);
            return 1;
        }
        return 0;
    }
    parse_error_doc(&e, r->response.data, r->response.len);
    if (!is_retryable_answer(r->status, e.code))
        return 0;
    answer_error(c, r);
    r->maybe_done |= r->status == 502 || r->status == 504; /* a proxy gave up waiting */
    return 1;
}

/* What every attempt sends alike: the URL, its path and the payload's SHA-256. */
static int prepare(buf *url, buf *path, char payload[65], s3_client *c, s3_req *r)
{
    if (build_path(path, c, r->key) < 0 || build_url(url, c, path->data, r->query) < 0)
        return reg_error_set(REG_ERROR, "%s: URL too long", r->method);
    if (!r->body_len)
        memcpy(payload, EMPTY_SHA256, 65);
    else if (sha256_hex(payload, r->body, r->body_len) < 0)
        return reg_error_set(REG_ERROR, "%s: SHA-256 failed", r->method);
    if (!(r->h = handle_take(c)))
        return reg_error_set(REG_ERROR, "%s: curl_easy_init failed", r->method);
    return REG_OK;
}

/* Attempts until one is final: REG_OK when there is an answer for the caller to read. */
static int run_attempts(s3_client *c, s3_req *r, const char *url, const char *path,
                        const char *payload)
{
    char errbuf[CURL_ERROR_SIZE];
    int err, tries = 0, requests = 0;
    for (;;) {
        uint64_t before = r->dl ? r->dl->next : 0;
        if (r->dl)
            reg_error_clear(); /* so that a reader's failure below carries only its own reason */
        CURLcode rc = attempt(c, r, url, path, payload, errbuf);
        r->requests = ++requests;
        if ((err = download_failed(r)) < 0)
            return err;
        if (rc == CURLE_WRITE_ERROR && r->dl && r->dl->done)
            rc = CURLE_OK;
        if (rc != CURLE_OK ? !transport_retryable(c, r, rc, errbuf) : !answer_retryable(c, r))
            return rc != CURLE_OK ? REG_ERROR : REG_OK;
        /* A download that moved forward starts its count of tries afresh. */
        if (r->dl && r->dl->next > before)
            tries = 0;
        if (tries >= c->cfg.max_retries || (r->dl && requests >= GET_MAX_REQUESTS))
            return attempts_failed(requests);
        backoff(tries++);
    }
}

int request_run(s3_client *c, s3_req *r)
{
    char payload[65];
    buf url, path;
    buf_init(&url, 16384);
    buf_init(&path, 8192);
    buf_init(&r->response, r->max_response ? r->max_response : XML_MAX_ERROR);
    r->h = NULL;
    int err = prepare(&url, &path, payload, c, r);
    if (err == REG_OK)
        err = run_attempts(c, r, url.data, path.data, payload);
    if (r->h)
        handle_give(c, r->h);
    r->h = NULL;
    buf_free(&url);
    buf_free(&path);
    if (err < 0)
        buf_free(&r->response);
    return err;
}

int request_finish(s3_client *c, s3_req *r, long ok_also)
{
    int err = (r->status >= 200 && r->status < 300) || (ok_also && r->status == ok_also)
                  ? REG_OK
                  : answer_error(c, r);
    buf_free(&r->response);
    return err;
}
