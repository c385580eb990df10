/* http.h - the HTTP layer over libmicrohttpd: the request object handlers work on, body
 * streaming callbacks, response helpers, and the per-thread index connection. */
#ifndef OCIREG_HTTP_H
#define OCIREG_HTTP_H

#include "server/http/arena.h"
#include "server/http/config.h"
#include "server/http/tls.h"
#include "storage/base/buf.h"
#include "storage/base/random.h"
#include "storage/store.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

typedef struct request request;

#define REQUEST_ID_LEN RANDOM_UUID_LEN /* a UUID in its 8-4-4-4-12 text form */
/* TLS reloads whose old daemons may still be finishing connections at once; a reload beyond
 * waits for a slot (see server_reload_tls). */
#define SERVER_RETIRED_MAX 8

/* Handlers that need the request body set these in their first call. on_body gets each piece
 * (return < 0 to ignore the rest: the handler must then have recorded why); on_done runs once
 * the body is complete and must send a response; on_cleanup runs when the request ends, sent
 * or not (release sessions, close files). */
typedef int (*body_fn)(request *req, const char *data, size_t len);
typedef void (*done_fn)(request *req);
typedef void (*cleanup_fn)(request *req);

typedef enum {
    RT_NONE,
    RT_BASE,
    RT_CATALOG,
    RT_BLOB,
    RT_UPLOAD_START,
    RT_UPLOAD,
    RT_MANIFEST,
    RT_TAGS,
    RT_REFERRERS,
    RT_HEALTH,
    RT_READY,
    RT_TOKEN,
    RT_ADMIN_GC,
    RT_METRICS,
    RT_ECR,
    RT_CONSOLE,
} route_kind;

typedef struct server server;

struct request {
    struct MHD_Connection *conn;
    server *srv;
    const char *method;
    const char *url;
    arena mem;
    route_kind route;
    const char *name;      /* repository, validated */
    const char *arg;       /* digest, reference or upload id: still client text */
    const char *principal; /* authenticated user, NULL when anonymous */
    /* The verified token, NULL when auth is off. It lives in a per-thread cache, so it is only
     * valid while the handler's first call runs (the router clears it afterwards). */
    const struct token_claims *claims;
    const struct policy *basic_policy; /* with an ECR login password; same lifetime */
    const char *auth_decision;         /* "allowed" / "denied", for the access log */
    const char *extra_scope;           /* also asked for in a 401 challenge (a mount's source) */
    body_fn on_body;
    done_fn on_done;
    cleanup_fn on_cleanup;
    void *state;
    buf body; /* the body request_read_body collects; freed when the request ends */
    int dispatched;
    int body_stopped;
    int defer_replies;             /* set while routing a request with a small body */
    struct MHD_Response *deferred; /* its early answer, sent once the body is read */
    unsigned deferred_status;
    int sent;
    unsigned status;
    uint64_t bytes_in;
    uint64_t bytes_out;
    struct timespec started;
    char id[REQUEST_ID_LEN + 1]; /* a UUID unique to the request: the access log's request_id, ECR's
                                  * x-amzn-RequestId */
};

typedef struct conn_track conn_track;

struct server {
    config cfg;
    store *st;
    index_writer *writer;            /* every request's index connection is attached to it */
    struct keyring *keys;            /* loaded on first use: see server_keys() */
    pthread_mutex_t keys_lock;       /* guards loading keys */
    int auth_on;                     /* read and written with __atomic builtins */
    unsigned char master_key[32];    /* decrypts access-key secrets and upstream passwords */
    struct pullthrough *pullthrough; /* the pull-through cache's fills (storage/pullthrough.h) */
    int tls;                         /* HTTPS (decided at start: a reload cannot switch it) */
    tls_pair tls_files;              /* what the current daemon serves */
    pthread_mutex_t conn_lock;       /* guards conns */
    conn_track *conns;               /* open connections, for the header deadline */
    int open_conns;                  /* __atomic: connections libmicrohttpd holds */
    struct MHD_Daemon *daemon;       /* takes the new connections */
    /* Daemons replaced by a TLS reload: they finish their connections and are stopped once
     * they have none (server_tick). */
    struct retired_daemon {
        struct MHD_Daemon *daemon;
        tls_pair tls_files;
    } retired[SERVER_RETIRED_MAX];
    int draining;              /* __atomic: stopping: every answer closes its connection */
    int activated_fd;          /* > 0: the listening socket systemd passed (socket activation) */
    struct listener *listener; /* the listening socket and its accept thread */
    struct linger_set *linger; /* closes ended connections gracefully */
    /* Routes a request to its handler: the route table above this layer (server/router.c)
     * registers itself here, so the HTTP glue knows no handler. */
    void (*dispatch)(request *req);
};

/* Listen (on srv->activated_fd when set, else on cfg.listen) and start serving. */
int server_start(server *srv);
/* Stop: steer new connections to a newer server on the port (--reuse-port) and close the
 * listening socket, then let the requests in flight finish for up to drain_seconds, closing
 * idle keep-alive connections and every connection once its answer is sent. */
void server_stop(server *srv, int drain_seconds);
/* Serve new connections with the certificate and key files as they are now (a renewal),
 * through a new daemon; the old one keeps its connections until they end. 1 when the new
 * files are served, REG_OK when they had not changed (or no TLS), or an error with the
 * reason, the old certificate still served. */
int server_reload_tls(server *srv);
/* Every second: stop the retired daemons that have no connection left. */
void server_tick(server *srv);
/* Shut down connections that have waited `limit` seconds without a complete request (a header
 * trickling in a byte at a time resets libmicrohttpd's idle timer, not this one). */
void server_reap_slow(server *srv, int limit);

int request_is(const request *req, const char *method);
const char *request_header(request *req, const char *name);
const char *request_query(request *req, const char *key);
/* Content-Length of the request, or -1 when absent or not a number. */
int64_t request_content_length(request *req);

/* The calling thread's index connection (opened on first use), or NULL. */
index_db *request_index(request *req);
/* The same, or NULL after answering 503 UNAVAILABLE. */
index_db *index_or_reply(request *req);

/* Percent-decode in place (paths, query values, form fields); returns the new length. "%00"
 * stays as it is: a NUL would cut the string short and hide what follows from validation. */
size_t http_percent_decode(char *s);

/* Client address as text (empty when unknown). */
void request_client_address(char *out, size_t n, request *req);

/* Send the answer as soon as it is made, even for a small body that would otherwise be read
 * first: for a request refused before its credentials hold, whose body the server should not
 * wait for. libmicrohttpd then closes the connection (gracefully: see linger.h). */
void request_skip_body(request *req);

/* For a body handled whole (JSON, a form, a manifest): collect it into req->body, at most max
 * bytes, then call done. A larger body stops being read and done finds req->body_stopped. */
void request_read_body(request *req, size_t max, done_fn done);

/* Responses: build, add headers, send. request_send takes ownership of the response. */
struct MHD_Response *response_empty(void);
struct MHD_Response *response_from_fd(int fd, uint64_t offset, uint64_t length);
struct MHD_Response *response_sized_nobody(uint64_t length);
struct MHD_Response *response_from_copy(const void *data, size_t len);
/* A body of malloc'd bytes, which the response takes over (freed even when this fails). */
struct MHD_Response *response_from_malloc(void *data, size_t len);
void response_header(struct MHD_Response *r, const char *name, const char *value);
void request_send(request *req, unsigned status, struct MHD_Response *r);
/* A JSON response (steals the reference; NULL content_type means application/json). */
struct MHD_Response *response_json(request *req, json_t *body, const char *content_type);
/* Send JSON (steals the reference) with the given Content-Type (NULL: application/json). */
void reply_json(request *req, unsigned status, json_t *body, const char *content_type);

#endif
