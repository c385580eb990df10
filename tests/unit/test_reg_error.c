/* test_reg_error.c - the one error route: set where a failure happens, wrapped with context on
 * the way up, read where it is reported, per thread. */
#include "check.h"
#include "storage/base/reg_error.h"

#include <pthread.h>
#include <string.h>

static void test_set_returns_code_and_keeps_message(void)
{
    reg_error_clear();
    CHECK_STR(reg_error_last("none"), "none");
    CHECK_INT(reg_error_set(REG_EINVALID, "tag %s is %d chars", "x", 129), REG_EINVALID);
    CHECK_STR(reg_error_last(NULL), "tag x is 129 chars");
}

static void test_wrap_puts_context_in_front(void)
{
    reg_error_set(REG_ENOTFOUND, "blob %s missing", "sha256:ab");
    CHECK_INT(reg_error_wrap(REG_ENOTFOUND, "importing %s", "app:v1"), REG_ENOTFOUND);
    CHECK_STR(reg_error_last(NULL), "importing app:v1: blob sha256:ab missing");
    reg_error_clear();
    reg_error_wrap(REG_ERROR, "reading %s", "index.json");
    CHECK_STR(reg_error_last(NULL), "reading index.json");
}

static void test_set_may_quote_the_last_message(void)
{
    reg_error_set(REG_ERROR, "disk full");
    reg_error_set(REG_ENOSPACE, "writing %s: %s", "blob", reg_error_last(NULL));
    CHECK_STR(reg_error_last(NULL), "writing blob: disk full");
}

static void test_long_message_is_cut_not_overrun(void)
{
    char big[3 * REG_ERROR_MAX];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    reg_error_set(REG_ETOOLARGE, "%s", big);
    CHECK_INT((long long)strlen(reg_error_last(NULL)), REG_ERROR_MAX - 1);
    reg_error_wrap(REG_ETOOLARGE, "%s", big);
    CHECK_INT((long long)strlen(reg_error_last(NULL)), REG_ERROR_MAX - 1);
}

static void *other_thread(void *arg)
{
    *(const char **)arg = reg_error_last("clean");
    return NULL;
}

static void test_message_is_per_thread(void)
{
    const char *seen = NULL;
    pthread_t t;
    reg_error_set(REG_EDENIED, "mine");
    pthread_create(&t, NULL, other_thread, &seen);
    pthread_join(t, NULL);
    CHECK_STR(seen, "clean");
    CHECK_STR(reg_error_last(NULL), "mine");
}

int main(void)
{
    RUN(test_set_returns_code_and_keeps_message);
    RUN(test_wrap_puts_context_in_front);
    RUN(test_set_may_quote_the_last_message);
    RUN(test_long_message_is_cut_not_overrun);
    RUN(test_message_is_per_thread);
    return check_failures != 0;
}
