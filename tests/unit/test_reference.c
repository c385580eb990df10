/* test_reference.c - repository name, tag and reference grammar of the distribution spec. */
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"
#include "check.h"

#include <string.h>

static void test_valid_names_pass(void)
{
    static const char *const good[] = {"a", "library/busybox", "team/app/web",   "a.b_c__d-e--f",
                                       "0", "x1/y2/z3",        "foo-bar/baz.qux"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CHECK(reference_check_name(good[i]) == REG_OK, "\"%s\" should be valid", good[i]);
}

static void test_hostile_names_are_invalid(void)
{
    static const char *const bad[] = {"",     "..",    "../etc", "a/../b", "/abs",  "a/",
                                      "a//b", "Upper", "a.",     ".a",     "a___b", "a-",
                                      "-a",   "a/.b",  "a b",    "a%2e",   "a\\b",  "a:b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(reference_check_name(bad[i]) == REG_EINVALID, "\"%s\" should be invalid", bad[i]);
}

/* A text of `longest` characters passes check; one more is refused. */
static void check_length_limit(int (*check)(const char *), size_t longest)
{
    char text[512];
    memset(text, 'a', sizeof(text));
    text[longest] = '\0';
    CHECK(check(text) == REG_OK, "%zu characters should pass", longest);
    text[longest] = 'a';
    text[longest + 1] = '\0';
    CHECK(check(text) == REG_EINVALID, "%zu characters should be refused", longest + 1);
}

static void test_name_length_limit_is_255(void)
{
    check_length_limit(reference_check_name, 255);
}

static void test_tags(void)
{
    CHECK_INT(reference_check_tag("latest"), REG_OK);
    CHECK_INT(reference_check_tag("_v1.2-rc.3"), REG_OK);
    CHECK_INT(reference_check_tag("V1"), REG_OK);
    CHECK_INT(reference_check_tag(".hidden"), REG_EINVALID);
    CHECK_INT(reference_check_tag("-x"), REG_EINVALID);
    CHECK_INT(reference_check_tag("a/b"), REG_EINVALID);
    CHECK_INT(reference_check_tag(""), REG_EINVALID);
    check_length_limit(reference_check_tag, 128);
}

static void test_reference_parse_tells_tag_from_digest(void)
{
    reference r;
    CHECK_INT(reference_parse(&r, "v1"), REG_OK);
    CHECK(!r.is_digest && strcmp(r.tag, "v1") == 0, "v1 should be a tag");
    CHECK_INT(reference_parse(&r, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca4959"
                                  "91b7852b855"),
              REG_OK);
    CHECK(r.is_digest, "a digest reference should be a digest");
    CHECK_INT(reference_parse(&r, "sha256:nothex"), REG_EINVALID);
    CHECK(r.is_digest, "a malformed digest is still recognised as meant to be a digest");
}

int main(void)
{
    RUN(test_valid_names_pass);
    RUN(test_hostile_names_are_invalid);
    RUN(test_name_length_limit_is_255);
    RUN(test_tags);
    RUN(test_reference_parse_tells_tag_from_digest);
    return check_failures != 0;
}
