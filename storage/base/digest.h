/* digest.h - content digests ("sha256:<hex>", "sha512:<hex>"): parsing, validation and
 * streaming computation with OpenSSL's SHA-256/SHA-512. */
#ifndef OCIREG_DIGEST_H
#define OCIREG_DIGEST_H

#include <stddef.h>
#include <stdint.h>

typedef enum { DIGEST_SHA256 = 0, DIGEST_SHA512 = 1 } digest_alg;

#define DIGEST_MAX 136 /* "sha512:" + 128 hex + NUL */

typedef struct digest {
    digest_alg alg;
    char str[DIGEST_MAX]; /* canonical text, e.g. "sha256:ab12..." */
} digest;

/* Parse and validate client text. REG_EINVALID for anything that is not a well-formed digest
 * of a supported algorithm (lower-case hex of the algorithm's exact length). */
int digest_parse(digest *out, const char *text);

/* Points into d->str after the colon. */
const char *digest_hex(const digest *d);
const char *digest_alg_name(digest_alg alg);

/* The value of one hex digit (either case), or -1. */
int hex_value(char c);
/* Lower-case hex of len bytes into out (2 * len + 1 bytes). */
void hex_encode(char *out, const unsigned char *in, size_t len);
/* HMAC-SHA256 of data (len bytes) under key into out (32 bytes): REG_OK or REG_ERROR with the
 * message set. */
int hmac_sha256(unsigned char out[32], const void *key, size_t key_len, const void *data,
                size_t len);
/* The digest whose raw hash is md (n bytes) in algorithm alg. */
void digest_from_bytes(digest *out, digest_alg alg, const unsigned char *md, unsigned n);

typedef struct digester digester;

int digester_new(digester **out, digest_alg alg);
int digester_update(digester *h, const void *data, size_t len);
/* Finish a copy of the running state, so the digester can keep going afterwards. */
int digester_peek(digest *out, const digester *h);
void digester_free(digester *h);

int digest_buffer(digest *out, digest_alg alg, const void *data, size_t len);
/* Hash the first `size` bytes of an open file with pread (the offset is left alone). */
int digest_file(digest *out, digest_alg alg, int fd, uint64_t size);

#endif
