/* buf.c - bounded growable byte buffer (see buf.h). */
#include "storage/buf.h"
#include "storage/reg_error.h"

#include <stdlib.h>
#include <string.h>

void buf_init(buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

int buf_append(buf *b, const void *data, size_t len)
{
    if (len > b->max - b->len)
        return REG_ETOOLARGE;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p)
            return REG_ERROR;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return REG_OK;
}

void buf_free(buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}
