/* buf.h - growable arrays with a hard maximum: a byte buffer (appending past its maximum fails
 * with REG_ETOOLARGE and leaves it as it was) and a list of copied strings (strlist). */
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

/* A growable list of malloc'd strings; {0} is an empty list. */
typedef struct strlist {
    char **items;
    size_t n, cap;
} strlist;

/* Append a copy of s ("" for NULL): REG_OK, REG_ETOOLARGE when the list holds max_items
 * already (the caller says what the limit is), REG_ERROR with the message set when out of
 * memory. */
int strlist_add(strlist *l, const char *s, size_t max_items);
/* strlist_add without a limit, in the shape of a name callback: list is a strlist. */
int strlist_collect(void *list, const char *s);
/* Free the strings and the array, leaving an empty list. */
void strlist_free(strlist *l);

#endif
