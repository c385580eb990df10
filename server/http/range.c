/* range.c - Range and Content-Range parsing (see range.h). */
#include "server/http/range.h"
#include "storage/base/reg_error.h"

#include <string.h>

/* Decimal digits into *out; returns the number consumed (0 on none or overflow). */
static size_t parse_u64(uint64_t *out, const char *s)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10 || i >= 19)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return i;
}

int range_parse(byte_range *out, const char *header, uint64_t size)
{
    uint64_t a = 0, b = 0;
    size_t n;
    if (strncmp(header, "bytes=", 6) != 0)
        return REG_EINVALID;
    const char *p = header + 6;
    if (*p == '-') {
        if ((n = parse_u64(&b, p + 1)) == 0 || p[1 + n] != '\0' || b == 0)
            return REG_EINVALID;
        if (size == 0)
            return REG_ENOTFOUND;
        out->length = b < size ? b : size;
        out->start = size - out->length;
        return REG_OK;
    }
    if ((n = parse_u64(&a, p)) == 0 || p[n] != '-')
        return REG_EINVALID;
    p += n + 1;
    if (*p == '\0') {
        b = UINT64_MAX;
    } else if ((n = parse_u64(&b, p)) == 0 || p[n] != '\0' || b < a) {
        return REG_EINVALID;
    }
    if (a >= size)
        return REG_ENOTFOUND;
    if (b >= size)
        b = size - 1;
    out->start = a;
    out->length = b - a + 1;
    return REG_OK;
}

int content_range_parse(byte_range *out, const char *header)
{
    uint64_t a, b;
    size_t n;
    const char *p = header;
    if ((n = parse_u64(&a, p)) == 0 || p[n] != '-')
        return REG_EINVALID;
    p += n + 1;
    if ((n = parse_u64(&b, p)) == 0 || p[n] != '\0' || b < a)
        return REG_EINVALID;
    out->start = a;
    out->length = b - a + 1;
    return REG_OK;
}
