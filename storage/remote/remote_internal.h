/* remote_internal.h - what the files of storage/remote share: the client's state, one HTTP
 * exchange, the WWW-Authenticate parser and the token fetch. */
#ifndef OCIREG_REMOTE_INTERNAL_H
#define OCIREG_REMOTE_INTERNAL_H

#include "storage/base/buf.h"
#include "storage/base/dynlib_calls.h"
#include "storage/remote/remote.h"

#include <pthread.h>
#include <stdint.h>

#define REMOTE_POOL_MAX                                                                            \
    32                             /* idle handles (each with its connection) kept: a replication  \
                                    * destination takes 4 batches of 8 copies at once */
#define REMOTE_TOKEN_CACHE    64   /* scopes remembered per endpoint */
#define REMOTE_TOKEN_MAX      8192 /* bytes of one token */
#define REMOTE_TOKEN_BODY_MAX (64u << 10) /* the token endpoint's JSON answer */
/* curl's receive buffer for streamed bodies (its default, 16 KiB, costs a poll and a recv per
 * 16 KiB: a blob fill of 512 MiB made 65,000 system calls for it). */
#define REMOTE_STREAM_BUFFER (512u << 10)
#define REMOTE_VALUE_MAX     8192 /* one kept header value (Location may be a long URL) */

/* One parsed challenge; strings NUL-terminated, cut values refuse the whole challenge. */
#define REMOTE_CHALLENGE_MAX 8192 /* bytes of a WWW-Authenticate value that are parsed */
#define REMOTE_PARAM_MAX     2048 /* bytes of one parameter's value */
enum { REMOTE_AUTH_NONE = 0, REMOTE_AUTH_BASIC = 1, REMOTE_AUTH_BEARER = 2 };
typedef struct remote_challenge {
    int scheme;
    char realm[REMOTE_PARAM_MAX];
    char service[REMOTE_PARAM_MAX];
    char scope[REMOTE_PARAM_MAX];
} remote_challenge;

/* The best challenge of one WWW-Authenticate value (Bearer before Basic; others skipped):
 * REG_OK with out->scheme set, or REG_EINVALID (out->scheme NONE) for nothing usable. A Bearer
 * challenge needs a realm. */
int remote_challenge_parse(remote_challenge *out, const char *value, size_t len);

typedef struct token_entry {
    char *scope; /* "" for none */
    char *token;
    int64_t expires_ms; /* monotonic */
} token_entry;

struct remote {
    char *base; /* without a trailing '/' */
    char *username, *password, *ca_file;
    long connect_timeout_ms, stall_timeout_ms, total_timeout_ms;
    pthread_mutex_t lock; /* the pool, the token cache, basic_seen */
    CURL *idle[REMOTE_POOL_MAX];
    size_t nidle;
    token_entry tokens[REMOTE_TOKEN_CACHE];
    int basic_seen; /* the endpoint asked for Basic once: send it up front */
};

/* How one exchange authenticates. */
typedef struct remote_auth {
    const char *bearer; /* token, or NULL */
    int basic;          /* the endpoint's username and password */
} remote_auth;

/* One HTTP exchange, no retries, no redirects followed. */
typedef struct remote_xfer {
    const remote_request *req; /* body, headers, on_data, max_body */
    const char *method;
    const char *url;
    remote_auth auth;
    /* what came back */
    long status;
    char *content_type, *digest, *location, *retry_after;
    int64_t content_length;
    remote_challenge challenge; /* the best WWW-Authenticate seen */
    buf body;
    uint64_t body_seen;
    size_t header_bytes;
    size_t body_pos;  /* of an in-memory request body */
    int body_started; /* read_body was called */
    int err;          /* why a callback stopped the transfer */
} remote_xfer;

void remote_xfer_init(remote_xfer *x, const remote_request *req, const char *method,
                      const char *url, remote_auth auth);
void remote_xfer_free(remote_xfer *x);
/* REG_OK with x->status, or a REG_E* code with the reason set (never a credential). */
int remote_xfer_run(remote *r, remote_xfer *x);

/* The handle pool (remote.c): a handle with its connections, and back, reset. */
CURL *remote_handle_take(remote *r);
void remote_handle_give(remote *r, CURL *h);

/* Fetch a token for `scope` from the challenge's realm and cache it: *out is malloc'd. */
int remote_token_fetch(char **out, remote *r, const remote_challenge *ch, const char *scope);

/* The token cache (under r->lock): a copy of a live token, or NULL. */
char *remote_token_get(remote *r, const char *scope);
void remote_token_put(remote *r, const char *scope, const char *token, int64_t ttl_ms);
void remote_token_drop(remote *r, const char *scope);
int64_t remote_now_ms(void);

/* URLs: `ref` resolved against `base` (malloc'd, or NULL when either is not an http(s) URL);
 * whether two URLs have one origin (scheme, host, port); a URL for error texts, without its
 * query (pre-signed URLs carry signatures there), cut to a bound. */
char *remote_url_resolve(const char *base, const char *ref);
int remote_url_same_origin(const char *a, const char *b);
void remote_url_for_error(char *out, size_t size, const char *url);
int remote_url_is_http(const char *url);
/* `s` appended to b percent-encoded as a query value. */
int remote_url_encode(buf *b, const char *s);

#endif
