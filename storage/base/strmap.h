/* strmap.h - a string-keyed hash map of int64 values (open addressing), for the sets of
 * digests and (repository, digest) pairs that export and import track. Keys are copied. */
#ifndef OCIREG_STRMAP_H
#define OCIREG_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct strmap {
    char **keys; /* owned; NULL for an empty slot */
    int64_t *values;
    size_t cap, count;
} strmap;

void strmap_init(strmap *m);
void strmap_free(strmap *m);

/* Add key with value; REG_ECONFLICT (the map unchanged) when the key is there already. */
int strmap_put(strmap *m, const char *key, int64_t value);
/* REG_OK with *value_out (may be NULL), or REG_ENOTFOUND. */
int strmap_get(int64_t *value_out, const strmap *m, const char *key);

#endif
