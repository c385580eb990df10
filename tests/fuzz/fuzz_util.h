/* fuzz_util.h - helpers the libFuzzer targets share: NUL-terminated copies of the input,
 * splitting it into lines, and a check that stops the run when an invariant breaks. */
#ifndef OCIREG_FUZZ_UTIL_H
#define OCIREG_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant the code under test promises; a broken one is reported like a crash. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The bytes as a malloc'd C string (an embedded NUL ends it early, as it would on the wire). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Split `text` in place at each '\n' into at most `max` lines; returns how many. */
static inline size_t fuzz_lines(char **lines, size_t max, char *text)
{
    size_t n = 0;
    while (n < max) {
        lines[n++] = text;
        char *nl = strchr(text, '\n');
        if (!nl)
            break;
        *nl = '\0';
        text = nl + 1;
    }
    return n;
}

#endif
