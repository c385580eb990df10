/* random.c - random bytes from getrandom(2) (see random.h). */
#include "storage/base/random.h"
#include "storage/base/digest.h"
#include "storage/base/reg_error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

int random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return REG_ERROR;
        p += got;
        n -= (size_t)got;
    }
    return REG_OK;
}

void random_uuid_text(char out[RANDOM_UUID_LEN + 1], const unsigned char bytes[16])
{
    unsigned char b[16];
    memcpy(b, bytes, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, RANDOM_UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

int random_uuid(char out[RANDOM_UUID_LEN + 1])
{
    unsigned char b[16];
    if (random_bytes(b, sizeof(b)) < 0)
        return REG_ERROR;
    random_uuid_text(out, b);
    return REG_OK;
}

int random_hex(char *out, size_t n)
{
    unsigned char raw[32];
    if (n > sizeof(raw) || random_bytes(raw, n) < 0)
        return REG_ERROR;
    hex_encode(out, raw, n);
    return REG_OK;
}
