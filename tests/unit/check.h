/* check.h - the few assertion macros the C unit tests share: each failure names the
 * expression, the file and line, and what was expected; main returns the failure count. */
#ifndef OCIREG_TEST_CHECK_H
#define OCIREG_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            check_failures++;                                                                     \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);              \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fputc('\n', stderr);                                                                  \
        }                                                                                         \
    } while (0)

#define CHECK_INT(actual, expected)                                                               \
    CHECK((long long)(actual) == (long long)(expected), "expected %lld, got %lld",              \
          (long long)(expected), (long long)(actual))

#define CHECK_STR(actual, expected)                                                               \
    CHECK(strcmp((actual), (expected)) == 0, "expected \"%s\", got \"%s\"", (expected), (actual))

#define RUN(test)                                                                                 \
    do {                                                                                          \
        int before = check_failures;                                                              \
        test();                                                                                   \
        printf("%s %s\n", check_failures == before ? "ok  " : "FAIL", #test);                   \
    } while (0)

#endif
