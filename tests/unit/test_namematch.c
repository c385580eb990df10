/* test_namematch.c - wildcard patterns ('*' anchored at both ends, '?' and case only when
 * asked for) and the allowed-characters check of names. */
#include "check.h"
#include "storage/base/namematch.h"

#include <string.h>

static const struct {
    const char *pattern, *text;
    unsigned flags;
    int matches;
} wildcard_cases[] = {
    {"team-a/*", "team-a/app", 0, 1},
    {"team-a/*", "team-a/app/web", 0, 1},
    {"team-a/*", "team-ab/app", 0, 0},
    {"team-a/*", "team-a", 0, 0},
    {"*", "", 0, 1},
    {"", "x", 0, 0},
    {"a*b*c", "aXbYbZc", 0, 1},
    {"a*b*c", "aXbYbZ", 0, 0},
    {"v?", "v1", 0, 0}, /* '?' is literal without NAMEMATCH_ANY_ONE */
    {"v?", "v?", 0, 1},
    {"v?", "v1", NAMEMATCH_ANY_ONE, 1},
    {"v?", "v", NAMEMATCH_ANY_ONE, 0},
    {"ecr:Get*", "ecr:getdownloadurlforlayer", 0, 0},
    {"ecr:Get*", "ecr:getdownloadurlforlayer", NAMEMATCH_NOCASE, 1},
};

static void test_wildcards(void)
{
    for (size_t i = 0; i < sizeof(wildcard_cases) / sizeof(wildcard_cases[0]); i++)
        CHECK(namematch_wildcard(wildcard_cases[i].pattern, wildcard_cases[i].text,
                                 wildcard_cases[i].flags) == wildcard_cases[i].matches,
              "\"%s\" against \"%s\" (flags %u): expected %s", wildcard_cases[i].pattern,
              wildcard_cases[i].text, wildcard_cases[i].flags,
              wildcard_cases[i].matches ? "a match" : "no match");
}

/* Many stars and a text that almost matches: bounded work, not exponential. */
static void test_many_stars_end_quickly(void)
{
    char pattern[64], text[4096];
    memset(pattern, 0, sizeof(pattern));
    for (int i = 0; i < 30; i++)
        strcat(pattern, "a*");
    strcat(pattern, "b");
    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    CHECK_INT(namematch_wildcard(pattern, text, 0), 0);
}

static void test_allowed_characters(void)
{
    CHECK_INT(namematch_chars("alice.b@x-1_", 12, "._@-"), 1);
    CHECK_INT(namematch_chars("alice b", 7, "._@-"), 0);
    CHECK_INT(namematch_chars("", 0, "._@-"), 0);
    CHECK_INT(namematch_chars("caf\xc3\xa9", 5, ""), 0);
    CHECK_INT(namematch_chars("ab", 1, ""), 1); /* only the first n characters count */
}

int main(void)
{
    RUN(test_wildcards);
    RUN(test_many_stars_end_quickly);
    RUN(test_allowed_characters);
    return check_failures ? 1 : 0;
}
