/* sigv4_verify.c - the server's check of a SigV4-signed request (see sigv4_verify.h). */
#include "auth/sigv4_verify.h"
#include "storage/base/reg_error.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <string.h>

int sigv4_verify(const sigv4_request *req, const sigv4_credential *cred, const char *amz_date,
                 const char *secret, time_t now, int max_skew)
{
    char expected[65];
    int64_t t;
    if (!cred || sigv4_parse_amz_date(&t, amz_date) < 0)
        return reg_error_set(REG_EDENIED, "request date is malformed");
    if (strncmp(amz_date, cred->date, 8) != 0)
        return reg_error_set(REG_EDENIED, "request date is outside the credential's day");
    int64_t skew = (int64_t)now - (int64_t)t;
    if (skew > max_skew || skew < -(int64_t)max_skew)
        return reg_error_set(REG_EDENIED, "request time is too far from the server's");
    if (strnlen(cred->signature, 65) != 64 || strspn(cred->signature, "0123456789abcdef") != 64)
        return reg_error_set(REG_EDENIED, "signature is malformed");
    if (sigv4_sign(expected, req, cred, amz_date, secret) < 0)
        return reg_error_set(REG_EDENIED, "request is malformed or lacks a signed header");
    if (CRYPTO_memcmp(expected, cred->signature, 64) != 0)
        return reg_error_set(REG_EDENIED, "signature does not match");
    return REG_OK;
}
