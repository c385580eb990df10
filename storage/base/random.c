/* random.c - random bytes from getrandom(2) (see random.h). */
#include "storage/base/random.h"
#include "storage/base/digest.h"
#include "storage/base/reg_error.h"

#include <errno.h>
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

int random_hex(char *out, size_t n)
{
    unsigned char raw[32];
    if (n > sizeof(raw) || random_bytes(raw, n) < 0)
        return REG_ERROR;
    hex_encode(out, raw, n);
    return REG_OK;
}
