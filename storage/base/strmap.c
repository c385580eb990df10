/* strmap.c - string-keyed open-addressing hash map (see strmap.h). */
#include "storage/base/strmap.h"
#include "storage/base/reg_error.h"

#include <stdlib.h>
#include <string.h>

void strmap_init(strmap *m)
{
    memset(m, 0, sizeof(*m));
}

void strmap_free(strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof(*m));
}

static size_t hash(const char *key)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 1099511628211ull;
    return (size_t)h;
}

/* The slot holding key, or the empty slot where it would go. cap is a power of two. */
static size_t find(const strmap *m, const char *key)
{
    size_t i = hash(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int grow(strmap *m)
{
    strmap bigger = {.cap = m->cap ? m->cap * 2 : 64};
    bigger.keys = calloc(bigger.cap, sizeof(*bigger.keys));
    bigger.values = calloc(bigger.cap, sizeof(*bigger.values));
    if (!bigger.keys || !bigger.values) {
        free(bigger.keys); /* holds no key yet: strmap_free would walk a NULL array */
        free(bigger.values);
        return REG_ERROR;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = find(&bigger, m->keys[i]);
        bigger.keys[j] = m->keys[i];
        bigger.values[j] = m->values[i];
    }
    bigger.count = m->count;
    free(m->keys);
    free(m->values);
    *m = bigger;
    return REG_OK;
}

int strmap_put(strmap *m, const char *key, int64_t value)
{
    if ((m->count + 1) * 2 > m->cap && grow(m) < 0)
        return REG_ERROR;
    size_t i = find(m, key);
    if (m->keys[i])
        return REG_ECONFLICT;
    if (!(m->keys[i] = strdup(key)))
        return REG_ERROR;
    m->values[i] = value;
    m->count++;
    return REG_OK;
}

int strmap_get(int64_t *value_out, const strmap *m, const char *key)
{
    if (!m->cap)
        return REG_ENOTFOUND;
    size_t i = find(m, key);
    if (!m->keys[i])
        return REG_ENOTFOUND;
    if (value_out)
        *value_out = m->values[i];
    return REG_OK;
}
