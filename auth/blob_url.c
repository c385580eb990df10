/* blob_url.c - signing and checking blob download URLs (see blob_url.h). */
#include "auth/blob_url.h"
#include "auth/secretbox.h"
#include "storage/base/digest.h"
#include "storage/base/reg_error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGNATURE_HEX      64
#define EXPIRES_DIGITS_MAX 19
/* The master key also seals secrets: URLs are signed with a key derived from it. */
#define KEY_LABEL "ocireg blob download URL v1"

static int signature_hex(char out[SIGNATURE_HEX + 1], const unsigned char *master_key,
                         const char *repo, const char *digest, long long expires)
{
    unsigned char key[32], mac[32];
    char *text = NULL;
    int err = REG_ERROR;
    if (asprintf(&text, "GET\n%s\n%s\n%lld", repo, digest, expires) < 0)
        return reg_error_set(REG_ERROR, "out of memory");
    if (hmac_sha256(key, master_key, SECRETBOX_KEY_LEN, KEY_LABEL, strlen(KEY_LABEL)) == REG_OK &&
        hmac_sha256(mac, key, sizeof(key), text, strlen(text)) == REG_OK) {
        hex_encode(out, mac, sizeof(mac));
        err = REG_OK;
    }
    OPENSSL_cleanse(key, sizeof(key));
    free(text);
    return err;
}

int blob_url_query(char **out, const unsigned char *master_key, const char *repo,
                   const char *digest, time_t expires)
{
    char sig[SIGNATURE_HEX + 1];
    int err = signature_hex(sig, master_key, repo, digest, (long long)expires);
    if (err < 0)
        return err;
    if (asprintf(out, "%s=%lld&%s=%s", BLOB_URL_EXPIRES_PARAM, (long long)expires,
                 BLOB_URL_SIGNATURE_PARAM, sig) < 0)
        return reg_error_set(REG_ERROR, "out of memory");
    return REG_OK;
}

/* Plain decimal digits only: no sign, no spaces, no leading zeros, so one expiry has one text. */
static int parse_expires(long long *out, const char *text)
{
    size_t n = text ? strlen(text) : 0;
    if (n == 0 || n > EXPIRES_DIGITS_MAX || strspn(text, "0123456789") != n ||
        (text[0] == '0' && n > 1))
        return reg_error_set(REG_EDENIED, "the URL's expiry is not a time");
    *out = strtoll(text, NULL, 10);
    return REG_OK;
}

int blob_url_check(const unsigned char *master_key, const char *repo, const char *digest,
                   const char *expires_text, const char *signature, time_t now)
{
    char expected[SIGNATURE_HEX + 1];
    long long expires = 0;
    int err = parse_expires(&expires, expires_text);
    if (err < 0)
        return err;
    if (!signature || strlen(signature) != SIGNATURE_HEX)
        return reg_error_set(REG_EDENIED, "the URL's signature is malformed");
    if ((err = signature_hex(expected, master_key, repo, digest, expires)) < 0)
        return err;
    if (CRYPTO_memcmp(expected, signature, SIGNATURE_HEX) != 0)
        return reg_error_set(REG_EDENIED, "the URL's signature does not match");
    if (expires < (long long)now)
        return reg_error_set(REG_EDENIED, "the URL expired");
    return REG_OK;
}
