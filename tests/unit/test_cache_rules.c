/* test_cache_rules.c - what a pull-through cache rule may say (storage/cache_rules.h): ECR's
 * prefix pattern and length, upstream URLs, and the upstream name of a cached repository. */
#include "storage/cache_rules.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"
#include "check.h"

#include <string.h>

static void test_prefix_follows_ecr_pattern_and_length(void)
{
    static const char *const good[] = {"hub",     "ab",  "ecr-public",
                                       "a.b_c-d", "k8s", "x1234567890123456789"};
    static const char *const bad[] = {"",     "a",   "Hub", "-hub", "hub-",
                                      "a..b", "a/b", "a b", "a--b", "x12345678901234567890",
                                      "hub_"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CHECK(cache_prefix_check(good[i]) == REG_OK, "\"%s\" should be a valid prefix", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(cache_prefix_check(bad[i]) == REG_EINVALID, "\"%s\" should be refused", bad[i]);
}

static void test_urls_are_normalized_or_refused(void)
{
    static const struct {
        const char *in, *out;
    } good[] = {{"registry-1.docker.io", "https://registry-1.docker.io"},
                {"https://quay.io/", "https://quay.io"},
                {"http://127.0.0.1:5000", "http://127.0.0.1:5000"},
                {"[::1]:8443", "https://[::1]:8443"}};
    static const char *const bad[] = {
        "",          "ftp://quay.io", "https://",    "quay.io/v2",  "user:pw@quay.io",
        "quay.io:0", "quay.io:65536", "quay.io:80x", "quay.io?x=1", "https://quay.io//"};
    char out[CACHE_URL_MAX + 1];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        CHECK(cache_url_normalize(out, sizeof(out), good[i].in) == REG_OK, "\"%s\" refused",
              good[i].in);
        CHECK_STR(out, good[i].out);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(cache_url_normalize(out, sizeof(out), bad[i]) == REG_EINVALID,
              "\"%s\" should be refused", bad[i]);
}

static void test_upstream_repo_is_the_rest_under_the_upstream_prefix(void)
{
    cache_rule rule;
    char out[REPO_NAME_MAX + 1];
    memset(&rule, 0, sizeof(rule));
    strcpy(rule.prefix, "hub");
    CHECK_INT(cache_upstream_repo(out, sizeof(out), &rule, "hub/team/app"), REG_OK);
    CHECK_STR(out, "team/app");
    strcpy(rule.upstream_prefix, "library");
    CHECK_INT(cache_upstream_repo(out, sizeof(out), &rule, "hub/alpine"), REG_OK);
    CHECK_STR(out, "library/alpine");
    CHECK_INT(cache_upstream_repo(out, sizeof(out), &rule, "hubx/alpine"), REG_EINVALID);
    CHECK_INT(cache_upstream_repo(out, sizeof(out), &rule, "hub"), REG_EINVALID);
    CHECK_INT(cache_upstream_prefix_check("Library"), REG_EINVALID);
    CHECK_INT(cache_upstream_prefix_check(""), REG_OK);
}

int main(void)
{
    RUN(test_prefix_follows_ecr_pattern_and_length);
    RUN(test_urls_are_normalized_or_refused);
    RUN(test_upstream_repo_is_the_rest_under_the_upstream_prefix);
    return check_failures != 0;
}
