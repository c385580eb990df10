/* s3_internal.h - what the files of storage/s3/ share, for them and the tests only: the client
 * and one request, the XML reader, the text helpers, and the signer. s3.h is the public API. */
#ifndef OCIREG_S3_INTERNAL_H
#define OCIREG_S3_INTERNAL_H

#include "storage/s3/s3.h"
#include "storage/base/buf.h"
#include "storage/base/dynlib_calls.h"
#include "storage/base/sigv4.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A helper that only one file uses but the unit tests and the fuzz target call (as curl's
 * UNITTEST): static in the library, external in s3_unittest, the build of the same files
 * with OCIREG_UNITTEST that tests/ links instead. */
#ifdef OCIREG_UNITTEST
#define UNITTEST
#else
#define UNITTEST static
#endif

#define EMPTY_SHA256  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define XML_MAX_ERROR (64u << 10) /* bytes of an error answer kept for its Code */
#define XML_MAX_SMALL (1u << 20)  /* create, complete and delete answers */
#define XML_MAX_LIST  (16u << 20) /* one ListObjectsV2 page */
#define XML_MAX_BODY  (8u << 20)  /* DeleteObjects (1000 escaped keys) and Complete bodies */
#define MAX_TOKEN     4096        /* bytes of a continuation token */
#define MAX_PREFIX    512
#define MAX_SECRET    SIGV4_MAX_SECRET
#define POOL_MAX_IDLE 64 /* idle curl handles kept for reuse */

/* ---- bytes and text (text.c) ---- */

int sha256_hex(char out[65], const void *data, size_t len);
int md5_base64(char out[25], const void *data, size_t len);
/* AWS's UriEncode onto b, which is also S3's canonical form (S3 paths are not encoded twice). */
int put_encoded(buf *b, const char *s, size_t len, int keep_slash);
int put_str(buf *b, const char *s);
/* Text that S3 keeps in an XML 1.0 document and a URL path: no control characters. */
int is_clean_text(const char *s, size_t len);
/* Text content for an XML body we send. */
int put_xml_escaped(buf *b, const char *s);
/* Digits only, no sign, no overflow. */
int parse_u64(uint64_t *out, const char *s, size_t len);

/* ---- XML: just enough for S3's answers, which are treated as hostile (xml.c) ---- */

/* The text between <name> and </name>; `end` is just past the closing tag (or the empty
 * element), so that a loop can look for the next one. */
typedef struct xml_span {
    const char *text;
    size_t len;
    const char *end;
} xml_span;

/* The first element `name` in doc[0, len): <name>, <name attr="...">, or the empty <name/>.
 * Elements of one name do not nest in S3's answers, so the first closing tag ends it. 1 when
 * found, 0 when not (or when it is not closed). */
int xml_element(xml_span *out, const char *doc, size_t len, const char *name);

/* Unescape element text into out (NUL-terminated, at most cap - 1 bytes): the five named
 * entities and character references. REG_EINVALID for markup, an unknown or broken entity or
 * a NUL; REG_ETOOLARGE when it does not fit. */
int xml_text(char *out, size_t cap, const char *s, size_t len);

/* Element `name` of doc as unescaped text; "" when absent. */
int xml_field(char *out, size_t cap, const char *doc, size_t len, const char *name);

/* The <Code> and <Message> of an error document, best effort: what cannot be read stays "". */
typedef struct s3_error_doc {
    char code[64];
    char message[256];
} s3_error_doc;

void parse_error_doc(s3_error_doc *out, const char *doc, size_t len);

/* One ListObjectsV2 page: each <Contents> goes to cb (its key without `strip`, which every
 * key must start with); truncated and next_token say whether and where to go on. Keys must
 * ascend strictly from last_key (kept across pages; "" to start), so that a server that
 * repeats itself cannot keep a listing going forever. */
typedef struct list_page {
    const char *strip;
    s3_list_cb cb;
    void *ctx;
    char last_key[S3_MAX_KEY + 1];
    size_t keys; /* on this page */
    int stopped; /* the callback's non-zero answer */
    int truncated;
    char next_token[MAX_TOKEN + 1];
} list_page;

/* REG_OK, or REG_ERROR with the reason set (reg_error_last). */
int list_page_parse(list_page *pg, const char *doc, size_t len);

/* ---- configuration checks the client repeats (config.c) ---- */

/* "http(s)://host[:port]" with an optional trailing '/', rewritten without it and without
 * the scheme's default port, which is how clients write the Host header a signature covers. */
int normalize_endpoint(char **out, const char *url);
/* Path style also takes RGW's relaxed names; a host name needs DNS's lower case. */
int check_bucket(const char *b, int path_style);
/* Whether `value` is one that the s3:// text parameter `name` accepts (NULL is not). */
int config_text_ok(const char *name, const char *value);

/* ---- the client (client.c) ---- */

struct s3_client {
    s3_config cfg;     /* a deep copy */
    char *base;        /* scheme://authority of requests (bucket.host when virtual-hosted) */
    char *host;        /* the authority alone: the Host header */
    char *bucket_path; /* "/bucket" (path style) or "" */
    char sigv4[128];   /* "aws:amz:REGION:s3" */
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock;
    CURL *idle[POOL_MAX_IDLE];
    size_t nidle;
};

/* A curl handle for one request; its open connections come along from the last user. */
CURL *handle_take(s3_client *c);
void handle_give(s3_client *c, CURL *h);
/* Keys are relative to cfg.prefix, must not be empty, and must fit S3's limit with it. */
int check_key(const s3_client *c, const char *key);
/* The header asking for SSE-S3 on an object being written (PutObject, CopyObject,
 * CreateMultipartUpload), or NULL with sse=0: last in an s3_req's header list. */
#define SSE_HEADER    "x-amz-server-side-encryption: AES256"
#define sse_header(c) ((c)->cfg.sse ? SSE_HEADER : NULL)

/* ---- signing what curl 7.88 cannot (sign.c) ---- */

#define SIGN_MAX_HEADERS 8

/* The hex signature of a canonical request made at amz_date ("YYYYMMDDTHHMMSSZ"). */
int sign_canonical(char sig[65], const s3_client *c, const char *creq, const char *amz_date);
void amz_date_of(char out[17], time_t t);

/* The Authorization header line of header authentication, for the request with the given
 * extra header lines ("Name: value"), host and x-amz-date (which the caller sends) signed. */
int sign_request(buf *auth, const s3_client *c, const char *method, const char *path,
                 const char *query, const char *const *lines, size_t n, const char *payload_sha256,
                 const char *amz_date);

/* ---- one request, with retries (request.c) ---- */

enum timeout_class {
    TIMEOUT_SMALL,  /* cfg.timeout_ms for the whole request */
    TIMEOUT_SLOW,   /* the server works long before it answers: only silence fails */
    TIMEOUT_STREAM, /* bodies of any size: only too slow a transfer fails */
};

/* Where a download stands, across the requests of one s3_get. Offsets are absolute. */
typedef struct download {
    s3_data_cb cb;
    void *ctx;
    uint64_t next;          /* the next byte the caller wants */
    uint64_t end;           /* one past the last byte wanted; UINT64_MAX: to the end */
    uint64_t pos;           /* offset of the next byte of this response's body */
    int positioned;         /* pos is set for this response */
    int cb_err;             /* the callback's non-zero result */
    int gap;                /* the response started past `next` */
    int changed;            /* the response is of another version of the object */
    int done;               /* all wanted bytes arrived; the rest of the body is dropped */
    char etag[S3_ETAG_MAX]; /* of the first answer with a body: later ones must match it */
} download;

typedef struct s3_req {
    const char *method;
    const char *key;   /* relative to cfg.prefix; NULL: the bucket itself */
    const char *query; /* canonical: sorted, UriEncoded, "name=" for flags; or NULL */
    const void *body;
    size_t body_len;
    const char *headers[3]; /* more request headers ("Name: value"), NULL after the last */
    enum timeout_class timeout;
    size_t max_response; /* bytes of the answer's body kept */
    int error_in_200;    /* a 200 answer may still be an <Error> document */
    int self_sign;       /* sign here, not with curl (see sign_request) */
    download *dl;
    int requests;   /* attempts made */
    int maybe_done; /* an attempt failed after the server may have carried it out */
    /* per attempt */
    CURL *h;
    time_t last_progress; /* TIMEOUT_SLOW: when bytes last moved */
    curl_off_t last_bytes;
    size_t body_pos;
    buf response;
    long status;
    char etag[S3_ETAG_MAX];
    int etag_cut;
    char request_id[64];
    int has_range;                     /* a 206's Content-Range was read */
    uint64_t range_start, range_total; /* range_total UINT64_MAX: unknown ("*") */
    uint64_t content_length;           /* UINT64_MAX: not sent */
    int64_t last_modified;             /* -1: not sent */
} s3_req;

/* The UriEncoded path of a key (NULL: the bucket), which is also its canonical form. */
int build_path(buf *out, const s3_client *c, const char *key);
int build_url(buf *out, const s3_client *c, const char *path, const char *query);

/* Run r until it gets an answer that is not worth retrying: REG_OK then, with r->status and
 * r->response to look at (any status). Transport failures and retryable answers are retried
 * up to cfg.max_retries times; a download resumes after its last delivered byte. On failure
 * the reason is set and r->response is freed. */
int request_run(s3_client *c, s3_req *r);

/* The outcome of a request whose only success is a 2xx (or one of `ok_also`, 0 for none);
 * frees r->response. */
int request_finish(s3_client *c, s3_req *r, long ok_also);

/* The error of an answer that is not a success, with the reason set. */
int answer_error(const s3_client *c, const s3_req *r);

/* The <Error> of a 200 answer that may carry one (error_in_200: CompleteMultipartUpload,
 * CopyObject, UploadPartCopy); 0 for any other status. */
int error_in_ok(const s3_req *r, s3_error_doc *e);

#ifdef OCIREG_UNITTEST
/* request.c */
int parse_content_range(uint64_t *start, uint64_t *total, const char *v, size_t len);
size_t deliver(s3_req *r, const char *data, size_t n);
/* objects.c: the size above which s3_copy goes part by part, and the smallest part */
extern uint64_t copy_single_max;
extern uint64_t copy_part_min;
/* multipart.c */
int multipart_etag(char out[S3_ETAG_MAX], const s3_part *parts, size_t n);
/* presign.c */
int presign_at(char **url_out, const s3_client *c, const char *key, int expires, time_t now);
#endif

#endif
