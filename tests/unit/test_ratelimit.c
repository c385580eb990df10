/* test_ratelimit.c - the failed-login table: counters that other keys cannot reset, a bounded
 * table that never forgets a failure when full, and the login rules over it. */
#include "auth/ratelimit.h"
#include "check.h"

#include <stdio.h>
#include <string.h>

static const time_t T0 = 1000000;

static void fail_n(ratelimit_table *t, const char *key, int n, int limit, time_t now)
{
    for (int i = 0; i < n; i++)
        ratelimit_table_fail(t, key, strlen(key), limit, now);
}

static ratelimit_count get(ratelimit_table *t, const char *key, time_t now)
{
    return ratelimit_table_get(t, key, strlen(key), now);
}

static void test_limit_blocks_for_the_block_time(void)
{
    ratelimit_table *t = ratelimit_table_new(64);
    fail_n(t, "k", 9, 10, T0);
    CHECK_INT(get(t, "k", T0).failures, 9);
    CHECK_INT(get(t, "k", T0).wait, 0);
    fail_n(t, "k", 1, 10, T0);
    CHECK_INT(get(t, "k", T0).wait, RATELIMIT_BLOCK);
    CHECK_INT(get(t, "k", T0 + RATELIMIT_BLOCK).wait, 0);
    CHECK_INT(get(t, "other", T0).failures, 0);
    CHECK_INT(get(t, "k", T0 + RATELIMIT_WINDOW + 1).failures, 0);
    ratelimit_table_free(t);
}

/* One set of RATELIMIT_WAYS counters: hundreds of other keys, before and after, must not take
 * the live counter of a key. */
static void test_other_keys_never_reset_a_live_key(void)
{
    ratelimit_table *t = ratelimit_table_new(1);
    char key[32];
    fail_n(t, "victim", 9, 10, T0);
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "other%d", i);
        fail_n(t, key, 1, 1000, T0 + 1);
    }
    CHECK_INT(get(t, "victim", T0 + 2).failures, 9);
    fail_n(t, "victim", 1, 10, T0 + 2);
    CHECK(get(t, "victim", T0 + 2).wait > 0, "the tenth failure must block");
    ratelimit_table_free(t);
}

/* A full set counts newcomers in its overflow counter, which answers for every key it does
 * not hold: a newcomer's failures are never lost, and forgetting a key cannot clear it. */
static void test_full_set_counts_newcomers_together(void)
{
    ratelimit_table *t = ratelimit_table_new(1);
    char key[32];
    for (int i = 0; i < RATELIMIT_WAYS; i++) {
        snprintf(key, sizeof(key), "held%d", i);
        fail_n(t, key, 1, 10, T0);
    }
    fail_n(t, "newcomer", 10, 10, T0);
    CHECK_INT(get(t, "newcomer", T0).failures, 10);
    CHECK(get(t, "newcomer", T0).wait > 0, "a newcomer in a full set must still be throttled");
    CHECK(get(t, "stranger", T0).wait > 0, "keys of a flooded set share its overflow counter");
    CHECK_INT(get(t, "held0", T0).failures, 1);
    ratelimit_table_forget(t, "newcomer", strlen("newcomer"), T0);
    CHECK(get(t, "newcomer", T0).wait > 0, "forgetting a key must not clear the shared counter");
    /* once everything has expired, a key gets a counter of its own again */
    time_t later = T0 + RATELIMIT_WINDOW + RATELIMIT_BLOCK + 1;
    fail_n(t, "newcomer", 1, 10, later);
    CHECK_INT(get(t, "newcomer", later).failures, 1);
    CHECK_INT(get(t, "stranger", later).failures, 0);
    ratelimit_table_free(t);
}

static void test_forget_clears_only_its_key(void)
{
    ratelimit_table *t = ratelimit_table_new(64);
    fail_n(t, "a", 3, 10, T0);
    fail_n(t, "b", 3, 10, T0);
    ratelimit_table_forget(t, "a", 1, T0);
    CHECK_INT(get(t, "a", T0).failures, 0);
    CHECK_INT(get(t, "b", T0).failures, 3);
    ratelimit_table_free(t);
}

static void test_table_without_sets_is_refused(void)
{
    CHECK(ratelimit_table_new(0) == NULL, "a table without sets is refused");
}

/* The login rules, on the process's table; each test uses its own names and addresses. */
static void test_login_pair_blocks_after_failures(void)
{
    for (int i = 0; i < RATELIMIT_FAILURES; i++) {
        CHECK_INT(ratelimit_login_wait("pat", "192.0.2.1", T0), 0);
        ratelimit_login_failed("pat", "192.0.2.1", T0);
    }
    CHECK(ratelimit_login_wait("pat", "192.0.2.1", T0) > 0, "the pair is blocked");
    CHECK_INT(ratelimit_login_wait("pat", "192.0.2.2", T0), 0);
    CHECK_INT(ratelimit_login_wait("someone", "192.0.2.1", T0), 0);
}

static void test_login_user_under_attack_still_logs_in_from_a_clean_address(void)
{
    char addr[32];
    for (int i = 0; i < RATELIMIT_USER_FAILURES; i++) {
        snprintf(addr, sizeof(addr), "198.51.100.%d", i);
        ratelimit_login_failed("uma", addr, T0);
    }
    CHECK_INT(ratelimit_login_wait("uma", "203.0.113.1", T0), 0);
    CHECK(ratelimit_login_wait("uma", "198.51.100.3", T0) > 0,
          "a failing address waits while its user is blocked");
}

static void test_login_address_blocks_across_names(void)
{
    char user[32];
    for (int i = 0; i < RATELIMIT_ADDRESS_FAILURES; i++) {
        snprintf(user, sizeof(user), "name%d", i);
        ratelimit_login_failed(user, "192.0.2.99", T0);
    }
    CHECK(ratelimit_login_wait("fresh", "192.0.2.99", T0) > 0, "the address is blocked");
}

static void test_login_ipv6_counts_per_64(void)
{
    char addr[64];
    for (int i = 0; i < RATELIMIT_FAILURES; i++) {
        snprintf(addr, sizeof(addr), "2001:db8:1:2::%x", i + 1);
        ratelimit_login_failed("vic", addr, T0);
    }
    CHECK(ratelimit_login_wait("vic", "2001:db8:1:2:ffff::1", T0) > 0,
          "every address of the /64 shares the pair's counter");
    CHECK_INT(ratelimit_login_wait("vic", "2001:db8:1:3::1", T0), 0);
}

/* A success forgets its pair's failures, not the user's: nine failures, a success and one more
 * failure make the user's tenth, which blocks it for the failing address. */
static void test_login_success_keeps_the_users_failures(void)
{
    for (int i = 0; i < RATELIMIT_USER_FAILURES - 1; i++)
        ratelimit_login_failed("sam", "192.0.2.50", T0);
    ratelimit_login_succeeded("sam", "192.0.2.50", T0);
    CHECK_INT(ratelimit_login_wait("sam", "192.0.2.50", T0), 0);
    ratelimit_login_failed("sam", "192.0.2.50", T0);
    CHECK(ratelimit_login_wait("sam", "192.0.2.50", T0) > 0, "the user's count survived");
    CHECK_INT(ratelimit_login_wait("sam", "192.0.2.51", T0), 0);
}

int main(void)
{
    RUN(test_limit_blocks_for_the_block_time);
    RUN(test_other_keys_never_reset_a_live_key);
    RUN(test_full_set_counts_newcomers_together);
    RUN(test_forget_clears_only_its_key);
    RUN(test_table_without_sets_is_refused);
    RUN(test_login_pair_blocks_after_failures);
    RUN(test_login_user_under_attack_still_logs_in_from_a_clean_address);
    RUN(test_login_address_blocks_across_names);
    RUN(test_login_ipv6_counts_per_64);
    RUN(test_login_success_keeps_the_users_failures);
    return check_failures;
}
