/* sigv4_verify.c - the server's check of a SigV4-signed request (see sigv4_verify.h). */
#include "auth/sigv4_verify.h"
#include "storage/base/reg_error.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define AMZ_PREFIX "x-amz-"

static int check_date(const sigv4_credential *cred, const char *amz_date, time_t now, int max_skew)
{
    int64_t t;
    if (!cred || sigv4_parse_amz_date(&t, amz_date) < 0)
        return reg_error_set(REG_EDENIED, "request date is malformed");
    if (strncmp(amz_date, cred->date, 8) != 0)
        return reg_error_set(REG_EDENIED, "request date is outside the credential's day");
    int64_t skew = (int64_t)now - (int64_t)t;
    if (skew > max_skew || skew < -(int64_t)max_skew)
        return reg_error_set(REG_EDENIED, "request time is too far from the server's");
    return REG_OK;
}

/* Whether the ';'-separated lower-case list names `name` (compared without case). */
static int is_signed(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ";");
        if (n == len && strncasecmp(p, name, n) == 0)
            return 1;
        p += n + (p[n] == ';');
    }
    return 0;
}

int sigv4_verify_headers(const sigv4_credential *cred, const sigv4_header *headers, size_t n,
                         const char *const *required, const char *amz_date, time_t now,
                         int max_skew)
{
    int err = check_date(cred, amz_date, now, max_skew);
    if (err < 0)
        return err;
    for (size_t i = 0; required && required[i]; i++)
        if (!is_signed(cred->signed_headers, required[i]))
            return reg_error_set(REG_EDENIED, "SignedHeaders lacks %s", required[i]);
    for (size_t i = 0; i < n; i++)
        if (strncasecmp(headers[i].name, AMZ_PREFIX, strlen(AMZ_PREFIX)) == 0 &&
            !is_signed(cred->signed_headers, headers[i].name))
            return reg_error_set(REG_EDENIED, "header %.64s is not signed", headers[i].name);
    return REG_OK;
}

int sigv4_verify(const sigv4_request *req, const sigv4_credential *cred, const char *amz_date,
                 const char *secret, time_t now, int max_skew)
{
    char expected[65];
    int err = check_date(cred, amz_date, now, max_skew);
    if (err < 0)
        return err;
    if (strnlen(cred->signature, 65) != 64 || strspn(cred->signature, "0123456789abcdef") != 64)
        return reg_error_set(REG_EDENIED, "signature is malformed");
    if (sigv4_sign(expected, req, cred, amz_date, secret) < 0)
        return reg_error_set(REG_EDENIED, "request is malformed or lacks a signed header");
    if (CRYPTO_memcmp(expected, cred->signature, 64) != 0)
        return reg_error_set(REG_EDENIED, "signature does not match");
    return REG_OK;
}
