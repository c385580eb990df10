/* namematch.c - wildcard patterns and allowed characters of names (see namematch.h). */
#include "storage/base/namematch.h"

#include <string.h>

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int one_matches(char p, char t, unsigned flags)
{
    if (p == '?' && (flags & NAMEMATCH_ANY_ONE))
        return 1;
    return (flags & NAMEMATCH_NOCASE) ? lower(p) == lower(t) : p == t;
}

int namematch_wildcard(const char *pattern, const char *text, unsigned flags)
{
    const char *star = NULL, *resume = NULL;
    while (*text) {
        if (*pattern == '*') {
            star = pattern++;
            resume = text;
        } else if (*pattern && one_matches(*pattern, *text, flags)) {
            pattern++;
            text++;
        } else if (star) {
            pattern = star + 1;
            text = ++resume;
        } else {
            return 0;
        }
    }
    while (*pattern == '*')
        pattern++;
    return *pattern == '\0';
}

int namematch_chars(const char *s, size_t n, const char *extra)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c && strchr(extra, c))))
            return 0;
    }
    return n > 0;
}
