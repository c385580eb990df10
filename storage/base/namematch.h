/* namematch.h - matching names: '*' (and '?') wildcard patterns, and checks that a name holds
 * only letters, digits and a few allowed characters. For grants, IAM policies, lifecycle rules,
 * user and host names. */
#ifndef OCIREG_NAMEMATCH_H
#define OCIREG_NAMEMATCH_H

#include <stddef.h>

/* Flags of namematch_wildcard. */
#define NAMEMATCH_ANY_ONE 1u /* '?' matches any one character (else it is literal) */
#define NAMEMATCH_NOCASE  2u /* ASCII letters match either case */

/* Whether text matches pattern, anchored at both ends: '*' matches any run of characters.
 * Iterative: on a mismatch it retries from the last '*' one character further on, so the
 * work is at most len(pattern) * len(text). */
int namematch_wildcard(const char *pattern, const char *text, unsigned flags);

/* Whether s[0..n) is not empty and each of its characters an ASCII letter, digit or one of
 * `extra`. */
int namematch_chars(const char *s, size_t n, const char *extra);

#endif
