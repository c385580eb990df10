/* digest.c - digest parsing and streaming SHA-256/SHA-512 (see digest.h). The low-level
 * SHA256_CTX/SHA512_CTX (deprecated in OpenSSL 3, the same SHA-NI/AVX2 code as EVP) are used
 * because EVP's first use loads OpenSSL's provider machinery: about 2 MiB more resident
 * memory for a server that, without auth, needs nothing else from it. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "storage/base/digest.h"
#include "storage/base/reg_error.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

struct digester {
    digest_alg alg;
    union {
        SHA256_CTX sha256;
        SHA512_CTX sha512;
    } ctx;
};

static const struct {
    const char *name;
    size_t hex_len;
} algs[] = {{"sha256", 64}, {"sha512", 128}};

const char *digest_alg_name(digest_alg alg)
{
    return algs[alg].name;
}

const char *digest_hex(const digest *d)
{
    return d->str + strlen(algs[d->alg].name) + 1;
}

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}

int digest_parse(digest *out, const char *text)
{
    const char *colon = text ? strchr(text, ':') : NULL;
    if (!colon)
        return REG_EINVALID;
    size_t alg_len = (size_t)(colon - text);
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        if (strlen(algs[i].name) != alg_len || memcmp(text, algs[i].name, alg_len) != 0)
            continue;
        const char *hex = colon + 1;
        if (strlen(hex) != algs[i].hex_len || !is_lower_hex(hex, algs[i].hex_len))
            return REG_EINVALID;
        out->alg = (digest_alg)i;
        memcpy(out->str, text, alg_len + 1 + algs[i].hex_len + 1);
        return REG_OK;
    }
    return REG_EINVALID;
}

static int digester_init(digester *h, digest_alg alg)
{
    h->alg = alg;
    int ok = alg == DIGEST_SHA512 ? SHA512_Init(&h->ctx.sha512) : SHA256_Init(&h->ctx.sha256);
    return ok ? REG_OK : REG_ERROR;
}

int digester_new(digester **out, digest_alg alg)
{
    digester *h = malloc(sizeof(*h));
    if (!h || digester_init(h, alg) < 0) {
        free(h);
        return REG_ERROR;
    }
    *out = h;
    return REG_OK;
}

int digester_update(digester *h, const void *data, size_t len)
{
    int ok = h->alg == DIGEST_SHA512 ? SHA512_Update(&h->ctx.sha512, data, len)
                                     : SHA256_Update(&h->ctx.sha256, data, len);
    return ok ? REG_OK : REG_ERROR;
}

int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void hex_encode(char *out, const unsigned char *in, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

void digest_from_bytes(digest *out, digest_alg alg, const unsigned char *md, unsigned n)
{
    size_t pos = (size_t)snprintf(out->str, sizeof(out->str), "%s:", algs[alg].name);
    hex_encode(out->str + pos, md, n);
    out->alg = alg;
}

int digester_peek(digest *out, const digester *h)
{
    unsigned char md[SHA512_DIGEST_LENGTH];
    digester copy = *h;
    int ok = h->alg == DIGEST_SHA512 ? SHA512_Final(md, &copy.ctx.sha512)
                                     : SHA256_Final(md, &copy.ctx.sha256);
    if (!ok)
        return REG_ERROR;
    digest_from_bytes(out, h->alg, md,
                      h->alg == DIGEST_SHA512 ? SHA512_DIGEST_LENGTH : SHA256_DIGEST_LENGTH);
    return REG_OK;
}

void digester_free(digester *h)
{
    free(h);
}

int digest_buffer(digest *out, digest_alg alg, const void *data, size_t len)
{
    digester h;
    if (digester_init(&h, alg) < 0 || digester_update(&h, data, len) < 0)
        return REG_ERROR;
    return digester_peek(out, &h);
}

int digest_file(digest *out, digest_alg alg, int fd, uint64_t size)
{
    enum { CHUNK = 1 << 20 };
    digester *h = NULL;
    char *chunk = malloc(CHUNK);
    uint64_t pos = 0;
    int err = REG_ERROR;
    if (!chunk || digester_new(&h, alg) < 0)
        goto done;
    while (pos < size) {
        size_t want = size - pos < CHUNK ? (size_t)(size - pos) : CHUNK;
        ssize_t n = pread(fd, chunk, want, (off_t)pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || digester_update(h, chunk, (size_t)n) < 0)
            goto done;
        pos += (uint64_t)n;
    }
    err = digester_peek(out, h);
done:
    digester_free(h);
    free(chunk);
    return err;
}

int hmac_sha256(unsigned char out[32], const void *key, size_t key_len, const void *data,
                size_t len)
{
    unsigned int n = 0;
    if (!HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n) || n != 32)
        return reg_error_set(REG_ERROR, "HMAC-SHA256 failed");
    return REG_OK;
}
