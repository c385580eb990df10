/* sha256_sink.h - a body callback for the client checks (s3_check, remote_probe): it counts
 * the streamed bytes and hashes them with SHA-256 (md set up by the caller). */
#ifndef OCIREG_TEST_SHA256_SINK_H
#define OCIREG_TEST_SHA256_SINK_H

#include "storage/base/reg_error.h"

#include <openssl/evp.h>
#include <stdint.h>

typedef struct sha256_sink {
    EVP_MD_CTX *md;
    uint64_t bytes;
} sha256_sink;

static int to_sha256_sink(void *ctx, const void *data, size_t len)
{
    sha256_sink *d = ctx;
    d->bytes += len;
    return EVP_DigestUpdate(d->md, data, len) == 1 ? 0 : REG_ERROR;
}

#endif
