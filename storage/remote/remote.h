/* remote.h - a client for other registries and HTTP receivers (pull-through upstreams,
 * replication destinations, webhooks) over libcurl loaded on demand. */
#ifndef OCIREG_REMOTE_H
#define OCIREG_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#define REMOTE_CONNECT_TIMEOUT_MS 10000L
#define REMOTE_STALL_TIMEOUT_MS   30000L
#define REMOTE_MAX_BODY_DEFAULT   (4u << 20)  /* bodies kept in memory, when max_body is 0 */
#define REMOTE_MAX_HEADER_BYTES   (64u << 10) /* all header lines of one answer */
#define REMOTE_MAX_REDIRECTS      5           /* GET and HEAD only */

typedef struct remote_endpoint {
    const char *url; /* base URL "https://host[:port]" or "http://..."; no trailing '/' needed */
    const char *username;    /* NULL: anonymous (anonymous Bearer tokens are still fetched) */
    const char *password;    /* plaintext here; sealed at rest by the caller's layer */
    const char *ca_file;     /* NULL: the system's CAs */
    long connect_timeout_ms; /* 0: default REMOTE_CONNECT_TIMEOUT_MS (10 s) */
    long stall_timeout_ms;   /* no byte for this long cuts the transfer; 0: default
                                REMOTE_STALL_TIMEOUT_MS (30 s) */
    long total_timeout_ms;   /* 0: none (big blobs); callers bound small requests */
} remote_endpoint;

typedef struct remote
    remote; /* one endpoint: copied settings, a token cache per scope, curl handles; thread-safe */
int remote_open(remote **out, const remote_endpoint *ep);
void remote_close(remote *r); /* NULL ok */

typedef struct remote_request {
    const char *method;         /* "GET" "HEAD" "PUT" "POST" "PATCH" "DELETE" */
    const char *path;           /* appended to the base URL ("/v2/library/alpine/manifests/3.19"),
                                   or an absolute http(s) URL (an upload Location) */
    const char *scope;          /* Docker token scope asked for on a Bearer challenge,
                                   e.g. "repository:library/alpine:pull"; NULL: none */
    const char *const *headers; /* NULL-terminated "Name: value" list, or NULL */
    const void *body;
    size_t body_len; /* a body in memory, or: */
    long (*read_body)(void *ctx, char *buf,
                      size_t n); /* streamed body: bytes, 0 at end, <0 error */
    void *read_ctx;
    int64_t read_size;                                     /* its size (-1: chunked) */
    int (*on_data)(void *ctx, const void *data, size_t n); /* streamed response body (2xx only);
                                                              non-zero aborts the transfer */
    void *data_ctx;
    uint64_t max_body; /* a response body larger than this is cut off: REG_ETOOLARGE;
                          0: REMOTE_MAX_BODY_DEFAULT (4 MiB) for bodies kept in memory */
} remote_request;

typedef struct remote_response {
    long status;                 /* HTTP status of the final answer (after auth retries) */
    char *content_type;          /* malloc'd or NULL */
    char *docker_content_digest; /* malloc'd or NULL */
    char *location;              /* malloc'd or NULL (absolute URL, resolved against the request) */
    int64_t content_length;      /* -1 unknown */
    unsigned char *body;
    size_t body_len;   /* when on_data was NULL: the body, malloc'd, bounded */
    char *retry_after; /* malloc'd or NULL */
} remote_response;

/* Sends one request. Auth is handled inside: on 401 with `WWW-Authenticate: Bearer realm=..,
 * service=..,scope=..` it gets a token from the realm (Basic with the endpoint's credentials if
 * any, anonymous otherwise), caches it per scope until expiry, and retries once; on a Basic
 * challenge it retries with Basic. Returns 0 with out->status set for any HTTP answer (the caller
 * decides what a 404 or 429 means); a negative REG_E* code with reg_error_set() text for transport
 * failures (refused connection, TLS error, timeout, stall: REG_ERROR), a body over max_body
 * (REG_ETOOLARGE), or an aborting on_data (its code). Never logs or puts the password or tokens in
 * an error text.
 *
 * When no token can be had, the 401 is the answer and reg_error_last() says why. Credentials and
 * tokens go only to the base URL's origin (scheme, host, port): not to an absolute path
 * elsewhere, nor along a redirect to another origin. A streamed request body (read_body) cannot
 * be sent twice: when a 401 comes after curl began reading it, that 401 is the answer (get a
 * token first, e.g. with the upload's POST). Non-2xx answers' bodies are kept in memory (bounded
 * as above) even when on_data is set. The stall timeout counts in whole seconds (rounded up). */
int remote_send(remote_response *out, remote *r, const remote_request *req);
void remote_response_free(remote_response *resp); /* frees the fields, not the struct */

#endif
