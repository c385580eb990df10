/* check.h - the few assertion macros the C unit tests share: each failure names the
 * expression, the file and line, and what was expected; main returns the failure count. */
#ifndef OCIREG_TEST_CHECK_H
#define OCIREG_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_INT(actual, expected)                                                                \
    CHECK((long long)(actual) == (long long)(expected), "expected %lld, got %lld",                 \
          (long long)(expected), (long long)(actual))

#define CHECK_STR(actual, expected)                                                                \
    CHECK(strcmp((actual), (expected)) == 0, "expected \"%s\", got \"%s\"", (expected), (actual))

/* A new empty folder /tmp/ocireg-<what>-XXXXXX for one test, its path in out (n bytes);
 * 0, or -1 when it cannot be made. */
static inline int check_tempdir(char *out, size_t n, const char *what)
{
    int len = snprintf(out, n, "/tmp/ocireg-%s-XXXXXX", what);
    return len > 0 && (size_t)len < n && mkdtemp(out) ? 0 : -1;
}

/* Remove a test's folder and everything in it. */
#define CHECK_RMDIR(dir)                                                                           \
    do {                                                                                           \
        char rm_cmd_[256];                                                                         \
        snprintf(rm_cmd_, sizeof(rm_cmd_), "rm -rf '%s'", (dir));                                  \
        CHECK_INT(system(rm_cmd_), 0);                                                             \
    } while (0)

#define RUN(test)                                                                                  \
    do {                                                                                           \
        int before = check_failures;                                                               \
        test();                                                                                    \
        printf("%s %s\n", check_failures == before ? "ok  " : "FAIL", #test);                      \
    } while (0)

#endif
