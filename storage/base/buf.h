/* buf.h - a growable byte buffer with a hard maximum chosen at creation.
 * Appending past the maximum fails with REG_ETOOLARGE and leaves the buffer as it was. */
#ifndef OCIREG_BUF_H
#define OCIREG_BUF_H

#include <stddef.h>

typedef struct buf {
    char *data; /* NUL-terminated for convenience; owned */
    size_t len;
    size_t cap;
    size_t max;
} buf;

void buf_init(buf *b, size_t max);
int buf_append(buf *b, const void *data, size_t len);
void buf_free(buf *b);

/* Make room in a growable array for one more item: when count has reached *cap, realloc
 * *items (items of `size` bytes) to twice the capacity (16 to start). REG_ETOOLARGE past
 * max_items. The array stays the caller's. */
int buf_grow_array(void **items, size_t *cap, size_t count, size_t size, size_t max_items);

#endif
