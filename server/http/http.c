/* http.c - libmicrohttpd glue (see http.h): creates the request object on the first call,
 * routes it, streams the body to the handler, and logs and frees it when MHD is done. */
#include "server/http/http.h"
#include "server/http/client.h"
#include "server/http/errors.h"
#include "server/http/linger.h"
#include "server/http/listener.h"
#include "server/http/log.h"
#include "server/http/metrics.h"
#include "storage/base/digest.h"
#include "storage/base/random.h"
#include "storage/base/reg_error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define API_VERSION_HEADER "Docker-Distribution-API-Version"
/* Clients a burst may queue before the accept thread takes them. */
#define LISTEN_BACKLOG 4096
/* Connections libmicrohttpd takes beyond --max-connections, to answer them 503 rather than
 * close them unanswered. */
#define OVER_LIMIT_ROOM 64u

static pthread_key_t index_key;
static pthread_once_t index_key_once = PTHREAD_ONCE_INIT;

static void close_thread_index(void *ix)
{
    index_close(ix);
}

static void make_index_key(void)
{
    pthread_key_create(&index_key, close_thread_index);
}

index_db *index_or_reply(request *req)
{
    index_db *ix = request_index(req);
    if (!ix)
        reply_error(req, 503, "UNAVAILABLE", "the registry index cannot be opened");
    return ix;
}

index_db *request_index(request *req)
{
    pthread_once(&index_key_once, make_index_key);
    index_db *ix = pthread_getspecific(index_key);
    if (!ix) {
        if (index_open(&ix, req->srv->st->db_path) < 0) {
            log_msg(LOG_ERROR, "cannot open the index %s: %s", req->srv->st->db_label,
                    index_errmsg(NULL));
            return NULL;
        }
        index_writer_attach(req->srv->writer, ix);
        pthread_setspecific(index_key, ix);
    }
    return ix;
}

int request_is(const request *req, const char *method)
{
    return strcmp(req->method, method) == 0;
}

const char *request_header(request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *request_query(request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

int64_t request_content_length(request *req)
{
    const char *v = request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    char *end = NULL;
    if (!v || !*v)
        return -1;
    long long n = strtoll(v, &end, 10);
    return (*end || n < 0) ? -1 : (int64_t)n;
}

struct MHD_Response *response_empty(void)
{
    return MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
}

struct MHD_Response *response_from_fd(int fd, uint64_t offset, uint64_t length)
{
    return MHD_create_response_from_fd_at_offset64(length, fd, offset);
}

static ssize_t no_body_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* For HEAD: MHD announces `length` but never reads a body. */
struct MHD_Response *response_sized_nobody(uint64_t length)
{
    return MHD_create_response_from_callback(length, 4096, no_body_reader, NULL, NULL);
}

struct MHD_Response *response_from_malloc(void *data, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!r)
        free(data);
    return r;
}

struct MHD_Response *response_from_copy(const void *data, size_t len)
{
    return MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
}

void response_header(struct MHD_Response *r, const char *name, const char *value)
{
    if (r && value)
        MHD_add_response_header(r, name, value);
}

void request_send(request *req, unsigned status, struct MHD_Response *r)
{
    if (req->sent) {
        if (r)
            MHD_destroy_response(r);
        return;
    }
    req->sent = 1;
    if (!r) {
        log_msg(LOG_ERROR, "out of memory building a response");
        status = 500;
        r = response_empty();
        if (!r)
            return;
    }
    MHD_add_response_header(r, API_VERSION_HEADER, "registry/2.0");
    if (__atomic_load_n(&req->srv->draining, __ATOMIC_RELAXED))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    req->status = status;
    if (req->defer_replies) {
        req->deferred = r;
        req->deferred_status = status;
        return;
    }
    if (MHD_queue_response(req->conn, status, r) != MHD_YES)
        log_msg(LOG_ERROR, "could not queue a %u response for %s %s", status, req->method,
                req->url);
    MHD_destroy_response(r);
}

void request_skip_body(request *req)
{
    req->defer_replies = 0;
}

static int append_to_body(request *req, const char *data, size_t len)
{
    return buf_append(&req->body, data, len);
}

void request_read_body(request *req, size_t max, done_fn done)
{
    buf_init(&req->body, max);
    req->on_body = append_to_body;
    req->on_done = done;
}

struct MHD_Response *response_json(request *req, json_t *body, const char *content_type)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return NULL;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return NULL;
    }
    req->bytes_out = strlen(text);
    response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                    content_type ? content_type : "application/json; charset=utf-8");
    return r;
}

void reply_json(request *req, unsigned status, json_t *body, const char *content_type)
{
    request_send(req, status, response_json(req, body, content_type));
}

struct conn_track {
    conn_track *prev, *next;
    int fd;
    int in_request; /* __atomic: a request has reached the handler and not finished */
    int over_limit; /* opened beyond --max-connections: its request gets a 503 */
    time_t since;   /* __atomic: connection start or end of its last request */
    int shut;
    unsigned requests;   /* __atomic: requests that reached on_access */
    int64_t body_since;  /* __atomic: monotonic ms its request body began, 0 when none is due */
    uint64_t body_bytes; /* __atomic: bytes of that body so far */
};

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* As Apache's mod_reqtimeout (body=TIMEOUT,MinRate=RATE): every byte resets libmicrohttpd's
 * idle timer, so a body trickling a byte every few seconds would hold its connection (and an
 * upload session) forever. The body gets --body-timeout, plus a second for every
 * --body-min-rate bytes it brought. */
static int body_too_slow(const config *cfg, const conn_track *t, int64_t now)
{
    int64_t since = __atomic_load_n(&t->body_since, __ATOMIC_RELAXED);
    uint64_t bytes = __atomic_load_n(&t->body_bytes, __ATOMIC_RELAXED);
    if (since == 0)
        return 0;
    int64_t allowed = (int64_t)cfg->body_timeout * 1000;
    if (cfg->body_min_rate > 0)
        allowed += (int64_t)(bytes / (uint64_t)cfg->body_min_rate) * 1000;
    return now - since > allowed;
}

/* What a client gets whose first bytes were no HTTP request (libmicrohttpd closes without an
 * answer when the request line has no space): most often a TLS ClientHello, which Go clients
 * (docker) send first and then fall back to plain HTTP on seeing an HTTP answer. */
#define NOT_HTTP_REPLY                                                                             \
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"                      \
    "Connection: close\r\nContent-Length: 42\r\n\r\n"                                              \
    "400 Bad Request: this is not HTTP (TLS?)\r\n"

/* libmicrohttpd closes the socket right after this notification, unread input or not: a
 * duplicate keeps it open for the lingering close, so that the answer already sent survives.
 * A connection that never brought a request to on_access gets NOT_HTTP_REPLY if nothing was
 * sent on it (plain HTTP only: on the TLS port the bytes would be no TLS record). */
static void close_gracefully(server *srv, struct MHD_Connection *conn, const conn_track *t)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int plain = !srv->tls;
    if (ci)
        linger_close(srv->linger, dup(ci->connect_fd),
                     plain && t && !t->requests ? NOT_HTTP_REPLY : NULL);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    server *srv = cls;
    conn_track *t = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        int now_open = __atomic_add_fetch(&srv->open_conns, 1, __ATOMIC_RELAXED);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(t = calloc(1, sizeof(*t))))
            return;
        t->fd = ci->connect_fd;
        t->over_limit = now_open > srv->cfg.max_connections;
        t->since = time(NULL);
        pthread_mutex_lock(&srv->conn_lock);
        t->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = t;
        srv->conns = t;
        pthread_mutex_unlock(&srv->conn_lock);
        *socket_context = t;
        return;
    }
    __atomic_sub_fetch(&srv->open_conns, 1, __ATOMIC_RELAXED);
    close_gracefully(srv, conn, t);
    if (t) {
        /* Called before libmicrohttpd closes the socket: the reaper never sees a stale fd. */
        pthread_mutex_lock(&srv->conn_lock);
        if (t->prev)
            t->prev->next = t->next;
        else
            srv->conns = t->next;
        if (t->next)
            t->next->prev = t->prev;
        pthread_mutex_unlock(&srv->conn_lock);
        free(t);
        *socket_context = NULL;
    }
}

static conn_track *track_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void server_reap_slow(server *srv, int limit)
{
    time_t now = time(NULL);
    int64_t now_ms = monotonic_ms();
    pthread_mutex_lock(&srv->conn_lock);
    for (conn_track *t = srv->conns; t; t = t->next) {
        if (t->shut)
            continue;
        if (body_too_slow(&srv->cfg, t, now_ms)) {
            log_msg(LOG_INFO,
                    "closing a connection whose request body is too slow (%llu bytes; "
                    "--body-timeout %d, --body-min-rate %d)",
                    (unsigned long long)__atomic_load_n(&t->body_bytes, __ATOMIC_RELAXED),
                    srv->cfg.body_timeout, srv->cfg.body_min_rate);
        } else if (__atomic_load_n(&t->in_request, __ATOMIC_RELAXED) ||
                   now - __atomic_load_n(&t->since, __ATOMIC_RELAXED) < limit) {
            continue;
        }
        shutdown(t->fd, SHUT_RDWR);
        t->shut = 1;
    }
    pthread_mutex_unlock(&srv->conn_lock);
}

/* While stopping: shut the keep-alive connections that wait between requests (every
 * answer sent from now on closes its connection anyway). A connection that has had no
 * request yet is left alone: its client has just connected and is sending one. A client that
 * sends its next request on a kept-alive connection in the same instant sees it closed
 * unanswered, which HTTP lets it retry (RFC 9112 9.3.1). */
static void server_close_idle(server *srv)
{
    pthread_mutex_lock(&srv->conn_lock);
    for (conn_track *t = srv->conns; t; t = t->next) {
        if (t->shut || __atomic_load_n(&t->in_request, __ATOMIC_RELAXED) ||
            !__atomic_load_n(&t->requests, __ATOMIC_RELAXED))
            continue;
        shutdown(t->fd, SHUT_RDWR);
        t->shut = 1;
    }
    pthread_mutex_unlock(&srv->conn_lock);
}

/* The body clock of the connection's request: started when a request with a body is routed,
 * stopped when its body is complete or the request ends. */
static void body_clock(struct MHD_Connection *conn, int running)
{
    conn_track *t = track_of(conn);
    if (!t)
        return;
    __atomic_store_n(&t->body_bytes, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&t->body_since, running ? monotonic_ms() : 0, __ATOMIC_RELAXED);
}

static void body_progress(struct MHD_Connection *conn, size_t bytes)
{
    conn_track *t = track_of(conn);
    if (t)
        __atomic_add_fetch(&t->body_bytes, bytes, __ATOMIC_RELAXED);
}

/* Request ids are UUIDs without a system call per request: a random base drawn once per
 * process, its last 6 bytes XORed with a request counter (distinct for 2^48 requests). */
static unsigned char request_id_base[16];
static pthread_once_t request_id_once = PTHREAD_ONCE_INIT;
static uint64_t request_count;

static void request_id_init(void)
{
    if (random_bytes(request_id_base, sizeof(request_id_base)) < 0)
        memset(request_id_base, 0, sizeof(request_id_base));
}

static void request_id_make(char out[REQUEST_ID_LEN + 1])
{
    unsigned char b[16];
    pthread_once(&request_id_once, request_id_init);
    memcpy(b, request_id_base, sizeof(b));
    uint64_t n = __atomic_add_fetch(&request_count, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 6; i++)
        b[15 - i] ^= (unsigned char)(n >> (8 * i));
    random_uuid_text(out, b);
}

static request *request_new(server *srv, struct MHD_Connection *conn, const char *url,
                            const char *method)
{
    request *req = calloc(1, sizeof(*req));
    if (!req)
        return NULL;
    arena_init(&req->mem);
    req->conn = conn;
    req->srv = srv;
    req->method = method;
    req->url = url;
    clock_gettime(CLOCK_MONOTONIC, &req->started);
    request_id_make(req->id);
    return req;
}

typedef struct length_check {
    const char *first;
    int conflict;
} length_check;

static enum MHD_Result check_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    length_check *c = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0 || !value)
        return MHD_YES;
    if (c->first && strcmp(c->first, value) != 0)
        c->conflict = 1;
    c->first = value;
    return MHD_YES;
}

/* Differing Content-Length headers make the body's end ambiguous (request smuggling):
 * refuse such a request outright, before anything of its body is read. */
static int conflicting_lengths(request *req)
{
    length_check c = {NULL, 0};
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, check_length, &c);
    return c.conflict;
}

typedef struct coding_check {
    int headers;      /* Transfer-Encoding headers seen */
    int only_chunked; /* and each was exactly "chunked" */
} coding_check;

static enum MHD_Result check_coding(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    coding_check *c = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) != 0)
        return MHD_YES;
    size_t len = value ? strlen(value) : 0;
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    c->headers++;
    c->only_chunked = c->only_chunked && len == 7 && strncasecmp(value, "chunked", 7) == 0;
    return MHD_YES;
}

/* libmicrohttpd decodes "chunked" alone; any other transfer coding ("gzip, chunked", a second
 * header) would reach the handler with its framing taken for content. RFC 9112 6.1: a server
 * answers a transfer coding it does not understand 501. With Content-Length as well the body's
 * end is ambiguous (request smuggling): 400. Replies itself; REG_OK when the framing is plain. */
static int framing_or_reply(request *req)
{
    coding_check c = {0, 1};
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, check_coding, &c);
    if (c.headers == 0)
        return REG_OK;
    if (c.headers > 1 || !c.only_chunked) {
        req->dispatched = 1;
        reply_error(req, 501, "UNSUPPORTED",
                    "Transfer-Encoding \"%s\" is not supported: only a single \"chunked\"",
                    request_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING));
        return REG_EINVALID;
    }
    if (request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
        req->dispatched = 1;
        reply_error(req, 400, "UNSUPPORTED",
                    "Transfer-Encoding and Content-Length together are ambiguous");
        return REG_EINVALID;
    }
    return REG_OK;
}

/* 503 for a connection opened beyond --max-connections; libmicrohttpd closes it after. */
static void refuse_over_limit(request *req)
{
    struct MHD_Response *r = error_response(
        req, "UNAVAILABLE", NULL, "too many connections (--max-connections %d); retry later",
        req->srv->cfg.max_connections);
    response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    req->dispatched = 1;
    request_send(req, 503, r);
}

static int has_body(request *req)
{
    return request_content_length(req) > 0 ||
           request_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

/* Answering before a body is read makes MHD close the connection, and some clients (containerd
 * streaming a manifest) then lose the answer. A small body is read and dropped first. */
#define DEFER_BODY_MAX (4 << 20)

static void dispatch(request *req)
{
    int64_t len = request_content_length(req);
    req->dispatched = 1;
    req->defer_replies = len > 0 && len <= DEFER_BODY_MAX;
    req->srv->dispatch(req);
    req->defer_replies = 0;
    if (!req->sent && !req->on_done)
        reply_error(req, 500, "UNKNOWN", "handler sent no response");
}

/* MHD calls this once with the headers, once per body piece, and once at the end. A request
 * with a body is routed at the first call, so that a bad request is refused before its body
 * is read (MHD then closes the connection). One without a body is routed at the last call:
 * answering at the first would make MHD drop keep-alive. */
static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *data,
                                 size_t *data_size, void **con_cls)
{
    request *req = *con_cls;
    if (!req) {
        if (!(req = request_new(cls, conn, url, method)))
            return MHD_NO;
        *con_cls = req;
        conn_track *t = track_of(conn);
        if (t) {
            __atomic_store_n(&t->in_request, 1, __ATOMIC_RELAXED);
            __atomic_add_fetch(&t->requests, 1, __ATOMIC_RELAXED);
        }
        if (t && t->over_limit) {
            refuse_over_limit(req);
        } else if (conflicting_lengths(req)) {
            req->dispatched = 1;
            reply_error(req, 400, "UNSUPPORTED", "conflicting Content-Length headers");
        } else if (framing_or_reply(req) < 0) {
            return MHD_YES;
        } else if (has_body(req)) {
            body_clock(conn, 1);
            dispatch(req);
        }
        return MHD_YES;
    }
    if (*data_size > 0) {
        req->bytes_in += *data_size;
        body_progress(conn, *data_size);
        if (!req->sent && !req->body_stopped && req->on_body &&
            req->on_body(req, data, *data_size) < 0)
            req->body_stopped = 1;
        *data_size = 0;
        return MHD_YES;
    }
    body_clock(conn, 0);
    if (req->deferred) {
        struct MHD_Response *r = req->deferred;
        req->deferred = NULL;
        if (MHD_queue_response(req->conn, req->deferred_status, r) != MHD_YES)
            log_msg(LOG_ERROR, "could not queue a %u response", req->deferred_status);
        MHD_destroy_response(r);
        return MHD_YES;
    }
    if (!req->dispatched)
        dispatch(req);
    if (!req->sent && req->on_done)
        req->on_done(req);
    if (!req->sent)
        reply_error(req, 500, "UNKNOWN", "handler sent no response");
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    server *srv = cls;
    request *req = *con_cls;
    conn_track *t = track_of(conn);
    if (t) {
        __atomic_store_n(&t->since, time(NULL), __ATOMIC_RELAXED);
        __atomic_store_n(&t->in_request, 0, __ATOMIC_RELAXED);
    }
    body_clock(conn, 0);
    if (!req)
        return;
    if (req->on_cleanup)
        req->on_cleanup(req);
    buf_free(&req->body);
    if (req->deferred)
        MHD_destroy_response(req->deferred);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    unsigned status = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? req->status : 499;
    double seconds = (double)(now.tv_sec - req->started.tv_sec) +
                     (double)(now.tv_nsec - req->started.tv_nsec) / 1e9;
    metrics_record(req, status, seconds);
    if (srv->cfg.access_log) {
        char client[INET6_ADDRSTRLEN];
        request_client_address(client, sizeof(client), req);
        access_entry e = {
            .client = client,
            .request_id = req->id,
            .principal = req->principal,
            .auth = req->auth_decision,
            .method = req->method,
            .path = req->url,
            .status = status,
            .bytes_in = req->bytes_in,
            .bytes_out = req->bytes_out,
            .duration_ms = seconds * 1e3,
        };
        log_access(&e);
    }
    arena_free(&req->mem);
    free(req);
    *con_cls = NULL;
}

/* Resolve "HOST:PORT" ("[v6]:PORT" too) into a socket address. */
static int resolve_listen(struct sockaddr_storage *out, const char *listen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (!colon || (size_t)(colon - listen) >= sizeof(host))
        return REG_EINVALID;
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (getaddrinfo(hl ? host : NULL, colon + 1, &hints, &res) != 0 || !res)
        return REG_EINVALID;
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return REG_OK;
}

size_t http_percent_decode(char *s)
{
    char *out = s;
    for (const char *in = s; *in; in++) {
        int hi, lo;
        if (*in == '%' && (hi = hex_value(in[1])) >= 0 && (lo = hex_value(in[2])) >= 0 &&
            (hi | lo) != 0) {
            *out++ = (char)(hi * 16 + lo);
            in += 2;
        } else {
            *out++ = *in;
        }
    }
    *out = '\0';
    return (size_t)(out - s);
}

static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    return http_percent_decode(s);
}

/* A thread waiting for a durable commit holds up its other connections, and writers that wait
 * together share one commit (index_writer.c): enough threads for concurrent pushes to group,
 * more than the cores (8 clients pushing small images on 2 cores: 4 threads 734 images/s,
 * 8 threads 943, manifest GETs unchanged; docs/ARCHITECTURE.md). */
#define THREADS_PER_CORE 4
#define THREADS_MIN      8

static unsigned thread_count(const config *cfg)
{
    if (cfg->threads > 0)
        return (unsigned)cfg->threads;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long n = cores > 0 ? cores * THREADS_PER_CORE : THREADS_MIN;
    return (unsigned)(n > THREADS_MIN ? n : THREADS_MIN);
}

/* A daemon of the thread pool, fed by the listener; with TLS, serving `files`. */
static struct MHD_Daemon *start_daemon(server *srv, const tls_pair *files)
{
    const config *cfg = &srv->cfg;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
    /* In poll mode turbo only stops libmicrohttpd shutting the write side of a socket it
     * closes, which would come before close_gracefully() can still send an answer. */
    flags |= srv->tls ? MHD_USE_TLS : MHD_USE_TURBO;
    struct MHD_OptionItem tls_options[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, files->cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, files->key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    return MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, srv, MHD_OPTION_THREAD_POOL_SIZE, thread_count(cfg),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections + OVER_LIMIT_ROOM,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_UNESCAPE_CALLBACK,
        unescape, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_ARRAY,
        srv->tls ? tls_options : tls_options + 2, MHD_OPTION_END);
}

static int open_listener(server *srv)
{
    struct sockaddr_storage addr;
    const config *cfg = &srv->cfg;
    if (srv->activated_fd > 0) {
        if (listener_adopt(&srv->listener, srv->activated_fd) < 0) {
            log_msg(LOG_ERROR, "cannot serve on the socket systemd passed");
            return REG_ERROR;
        }
        log_msg(LOG_INFO, "serving on the socket systemd passed (--listen %s not used)",
                cfg->listen);
        return REG_OK;
    }
    if (resolve_listen(&addr, cfg->listen) < 0) {
        log_msg(LOG_ERROR, "cannot resolve listen address %s", cfg->listen);
        return REG_EINVALID;
    }
    if (listener_open(&srv->listener, &addr, LISTEN_BACKLOG, cfg->reuse_port) < 0) {
        log_msg(LOG_ERROR, "cannot listen on %s: %s", cfg->listen, strerror(errno));
        return REG_ERROR;
    }
    return REG_OK;
}

int server_start(server *srv)
{
    const config *cfg = &srv->cfg;
    pthread_mutex_init(&srv->conn_lock, NULL);
    srv->tls = cfg->tls_cert[0] || cfg->tls_key[0];
    /* Before listening: a server that will not start must not take connections (with
     * --reuse-port, from the server it was meant to replace). */
    if (srv->tls && tls_pair_load(&srv->tls_files, cfg->tls_cert, cfg->tls_key) < 0) {
        log_msg(LOG_ERROR, "TLS: %s", reg_error_last("cannot load the certificate"));
        return REG_EINVALID;
    }
    if (linger_start(&srv->linger) < 0) {
        log_msg(LOG_ERROR, "cannot start the lingering-close thread");
        return REG_ERROR;
    }
    int err = open_listener(srv);
    if (err < 0)
        return err;
    srv->daemon = start_daemon(srv, &srv->tls_files);
    if (!srv->daemon || listener_start(srv->listener, srv->daemon) < 0) {
        log_msg(LOG_ERROR, "cannot start the HTTP server on %s", cfg->listen);
        return REG_ERROR;
    }
    return REG_OK;
}

static unsigned daemon_connections(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info ? info->num_connections : 0;
}

int server_reload_tls(server *srv)
{
    tls_pair files;
    int slot = 0;
    if (!srv->tls || !srv->daemon)
        return REG_OK;
    if (tls_pair_load(&files, srv->cfg.tls_cert, srv->cfg.tls_key) < 0)
        return reg_error_wrap(REG_EINVALID, "the new certificate is not used");
    if (tls_pair_same(&files, &srv->tls_files)) {
        tls_pair_free(&files);
        return REG_OK;
    }
    while (slot < SERVER_RETIRED_MAX && srv->retired[slot].daemon)
        slot++;
    if (slot == SERVER_RETIRED_MAX) {
        tls_pair_free(&files);
        return reg_error_set(REG_EBUSY,
                             "%d earlier reloads still finish their connections; "
                             "try again later",
                             SERVER_RETIRED_MAX);
    }
    struct MHD_Daemon *d = start_daemon(srv, &files);
    if (!d) {
        tls_pair_free(&files);
        return reg_error_set(REG_ERROR, "the TLS library refused the new certificate");
    }
    listener_set_daemon(srv->listener, d);
    srv->retired[slot].daemon = srv->daemon;
    srv->retired[slot].tls_files = srv->tls_files;
    srv->daemon = d;
    srv->tls_files = files;
    return 1;
}

static void stop_retired(server *srv, int slot)
{
    MHD_stop_daemon(srv->retired[slot].daemon);
    srv->retired[slot].daemon = NULL;
    tls_pair_free(&srv->retired[slot].tls_files);
}

void server_tick(server *srv)
{
    for (int i = 0; i < SERVER_RETIRED_MAX; i++)
        if (srv->retired[i].daemon && daemon_connections(srv->retired[i].daemon) == 0)
            stop_retired(srv, i);
}

/* Connections of every daemon, the retired ones too. */
static unsigned open_connections(server *srv)
{
    unsigned n = srv->daemon ? daemon_connections(srv->daemon) : 0;
    for (int i = 0; i < SERVER_RETIRED_MAX; i++)
        if (srv->retired[i].daemon)
            n += daemon_connections(srv->retired[i].daemon);
    return n;
}

void server_stop(server *srv, int drain_seconds)
{
    __atomic_store_n(&srv->draining, 1, __ATOMIC_RELAXED);
    listener_drain(srv->listener);
    listener_close(srv->listener); /* no new connections */
    srv->listener = NULL;
    for (int waited = 0; waited < drain_seconds * 20 && open_connections(srv) > 0; waited++) {
        server_close_idle(srv);
        usleep(50000);
    }
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
    for (int i = 0; i < SERVER_RETIRED_MAX; i++)
        if (srv->retired[i].daemon)
            stop_retired(srv, i);
    linger_stop(srv->linger); /* after the daemons: their last connections linger first */
    srv->linger = NULL;
    tls_pair_free(&srv->tls_files);
}
