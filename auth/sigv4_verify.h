/* sigv4_verify.h - checks a SigV4-signed request on the server side, for clients such as
 * `aws ecr`: re-sign with the stored secret, compare, and bound the request's age. */
#ifndef OCIREG_SIGV4_VERIFY_H
#define OCIREG_SIGV4_VERIFY_H

#include "storage/base/sigv4.h"

/* Verify: the signature matches (constant-time), amz_date parses, is within max_skew seconds
 * of now, and its day equals the credential's date. REG_OK (setting no message) or
 * REG_EDENIED with a short reason in reg_error_last() (never containing the secret). The
 * caller checks the access key, region and service it expects. */
/* The checks that need no body, made before one is read: amz_date as sigv4_verify checks it,
 * SignedHeaders names every header in `required` (lower case, NULL-terminated) and every
 * x-amz-* header among the request's `headers`, so that a captured signature cannot be replayed
 * with another X-Amz-Target. REG_OK, or REG_EDENIED naming what is missing. */
int sigv4_verify_headers(const sigv4_credential *cred, const sigv4_header *headers, size_t n,
                         const char *const *required, const char *amz_date, time_t now,
                         int max_skew);

int sigv4_verify(const sigv4_request *req, const sigv4_credential *cred, const char *amz_date,
                 const char *secret, time_t now, int max_skew);

#endif
