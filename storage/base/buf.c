/* buf.c - bounded growable byte buffer and string list (see buf.h). */
#include "storage/base/buf.h"
#include "storage/base/reg_error.h"

#include <stdint.h>
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

int buf_grow_array(void **items, size_t *cap, size_t count, size_t size, size_t max_items)
{
    if (count < *cap)
        return REG_OK;
    if (count >= max_items)
        return REG_ETOOLARGE;
    size_t bigger = *cap ? *cap * 2 : 16;
    if (bigger > max_items)
        bigger = max_items;
    void *p = realloc(*items, bigger * size);
    if (!p)
        return REG_ERROR;
    *items = p;
    *cap = bigger;
    return REG_OK;
}

int strlist_add(strlist *l, const char *s, size_t max_items)
{
    int err = buf_grow_array((void **)&l->items, &l->cap, l->n, sizeof(*l->items), max_items);
    if (err == REG_ETOOLARGE)
        return err;
    if (err < 0 || !(l->items[l->n] = strdup(s ? s : "")))
        return reg_error_set(REG_ERROR, "out of memory");
    l->n++;
    return REG_OK;
}

int strlist_collect(void *list, const char *s)
{
    return strlist_add(list, s, SIZE_MAX);
}

void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof(*l));
}
