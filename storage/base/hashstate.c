/* hashstate.c - resumable SHA-256/SHA-512 (see hashstate.h). OpenSSL's EVP contexts cannot be
 * exported, so this uses the low-level SHA256_CTX/SHA512_CTX (deprecated in OpenSSL 3, still
 * the same SHA-NI/AVX2 code), whose plain structs can be copied. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "storage/base/hashstate.h"
#include "storage/base/reg_error.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_VERSION 1

struct hashstate {
    SHA256_CTX sha256;
    SHA512_CTX sha512;
};

_Static_assert(1 + sizeof(SHA256_CTX) + sizeof(SHA512_CTX) <= HASHSTATE_BYTES,
               "HASHSTATE_BYTES too small");

int hashstate_new(hashstate **out)
{
    hashstate *h = calloc(1, sizeof(*h));
    if (!h || !SHA256_Init(&h->sha256) || !SHA512_Init(&h->sha512)) {
        free(h);
        return REG_ERROR;
    }
    *out = h;
    return REG_OK;
}

void hashstate_free(hashstate *h)
{
    free(h);
}

void hashstate_update(hashstate *h, const void *data, size_t len)
{
    SHA256_Update(&h->sha256, data, len);
    SHA512_Update(&h->sha512, data, len);
}

int hashstate_digest(digest *out, const hashstate *h, digest_alg alg)
{
    unsigned char md[SHA512_DIGEST_LENGTH];
    unsigned n;
    if (alg == DIGEST_SHA256) {
        SHA256_CTX c = h->sha256;
        SHA256_Final(md, &c);
        n = SHA256_DIGEST_LENGTH;
    } else {
        SHA512_CTX c = h->sha512;
        SHA512_Final(md, &c);
        n = SHA512_DIGEST_LENGTH;
    }
    digest_from_bytes(out, alg, md, n);
    return REG_OK;
}

size_t hashstate_save(const hashstate *h, unsigned char *buf)
{
    buf[0] = STATE_VERSION;
    memcpy(buf + 1, &h->sha256, sizeof(h->sha256));
    memcpy(buf + 1 + sizeof(h->sha256), &h->sha512, sizeof(h->sha512));
    return 1 + sizeof(h->sha256) + sizeof(h->sha512);
}

int hashstate_load(hashstate *h, const unsigned char *buf, size_t len)
{
    if (len != 1 + sizeof(h->sha256) + sizeof(h->sha512) || buf[0] != STATE_VERSION)
        return REG_EINVALID;
    memcpy(&h->sha256, buf + 1, sizeof(h->sha256));
    memcpy(&h->sha512, buf + 1 + sizeof(h->sha256), sizeof(h->sha512));
    /* A state from elsewhere must at least be internally consistent. */
    if (h->sha256.num >= SHA256_CBLOCK || h->sha512.num >= SHA512_CBLOCK)
        return REG_EINVALID;
    return REG_OK;
}
