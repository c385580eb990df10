/* arena.h - request-scoped memory: allocations live until the request completes and are
 * released together, so handlers do not free() what they take from it. */
#ifndef OCIREG_ARENA_H
#define OCIREG_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block;

typedef struct arena {
    arena_block *head;
    char inline_buf[1024]; /* most requests never call malloc */
    size_t inline_used;
} arena;

void arena_init(arena *a);
void *arena_alloc(arena *a, size_t n); /* NULL when out of memory */
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void arena_free(arena *a);

#endif
