/* sigv4.h - AWS Signature Version 4 (AWS4-HMAC-SHA256): the canonical request, the signature
 * and the Authorization header, shared by the S3 client (signing) and auth's verifier. */
#ifndef OCIREG_SIGV4_H
#define OCIREG_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SIGV4_MAX_HEADERS       64
#define SIGV4_MAX_AUTHORIZATION 4096 /* bytes of the Authorization header value */
#define SIGV4_MAX_PATH          4096
#define SIGV4_MAX_QUERY         8192
#define SIGV4_MAX_QUERY_PARAMS  256
#define SIGV4_MAX_HEADER_VALUE  8192
#define SIGV4_MAX_SECRET        256
#define SIGV4_MAX_CANONICAL     65536 /* bytes of the whole canonical request */

typedef struct sigv4_header {
    const char *name;
    const char *value;
} sigv4_header;

typedef struct sigv4_request {
    const char *method;          /* "GET", "POST" */
    const char *path;            /* the request path as sent (percent-encoded as on the wire) */
    const char *query;           /* raw query string without '?', or NULL */
    const sigv4_header *headers; /* every request header as received (names in any case; a name
                                    may repeat) */
    size_t nheaders;
    const char *payload_sha256; /* lower-case hex SHA-256 of the body */
} sigv4_request;

typedef struct sigv4_credential {
    char access_key[129];
    char date[9]; /* YYYYMMDD */
    char region[64];
    char service[64];
    char signed_headers[1024]; /* as in the header: "content-type;host;x-amz-date" */
    char signature[65];        /* lower-case hex */
} sigv4_credential;

/* AWS's UriEncode of `len` bytes: each byte outside A-Z a-z 0-9 - . _ ~ as upper-case %XX,
 * '/' kept when keep_slash (paths). Writes at most 3 * len bytes, no NUL; returns how many. */
size_t sigv4_uri_encode(char *out, const char *in, size_t len, int keep_slash);

/* Parse "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...". REG_EINVALID
 * when malformed (missing parts, bad lengths, other algorithm). SignedHeaders must be lower
 * case, sorted and without duplicates, as every SDK sends it; the signature may be in either
 * case and is stored in lower case. */
int sigv4_parse_authorization(sigv4_credential *out, const char *header);

/* The canonical request (malloc'd, caller frees) of `req` signing the headers named in
 * `signed_headers`. The path is normalised (dot segments, duplicate slashes) and its wire form
 * URI-encoded once more, which is AWS's "encode twice" for every service but S3; the query is
 * decoded and re-encoded. REG_EINVALID when malformed, REG_ETOOLARGE over a SIGV4_MAX_* bound.
 * Exposed so tests and mismatch diagnostics can see what was signed. */
int sigv4_canonical_request(char **out, const sigv4_request *req, const char *signed_headers);

/* x-amz-date ("YYYYMMDDTHHMMSSZ", ISO 8601 basic form) -> seconds since the epoch; REG_EINVALID
 * for any other form or an impossible date. */
int sigv4_parse_amz_date(int64_t *out, const char *amz_date);

/* The expected signature (hex) of `req` for the credential's scope, at amz_date
 * ("YYYYMMDDTHHMMSSZ"), with `secret`. Only the headers named in signed_headers are signed;
 * REG_EINVALID when a signed header is missing or host is not among them. */
int sigv4_sign(char *out_hex /* 65 bytes */, const sigv4_request *req, const sigv4_credential *cred,
               const char *amz_date, const char *secret);

/* The last steps of sigv4_sign, for a client that builds its own canonical request `creq`
 * (S3 encodes paths once; presigned URLs sign the query): the hex signature for the
 * credential's scope (date, region, service) at amz_date, with `secret`. */
int sigv4_sign_canonical(char *out_hex /* 65 bytes */, const char *creq, const char *amz_date,
                         const sigv4_credential *cred, const char *secret);

#endif
