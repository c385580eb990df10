/* test_range.c - Range (blob GET) and Content-Range (upload PATCH) parsing. */
#include "server/http/range.h"
#include "storage/base/reg_error.h"
#include "check.h"

static void test_range_forms(void)
{
    byte_range r;
    CHECK_INT(range_parse(&r, "bytes=0-9", 100), REG_OK);
    CHECK(r.start == 0 && r.length == 10, "0-9 of 100: got %llu+%llu", (unsigned long long)r.start,
          (unsigned long long)r.length);
    CHECK_INT(range_parse(&r, "bytes=10-", 100), REG_OK);
    CHECK(r.start == 10 && r.length == 90, "10- of 100");
    CHECK_INT(range_parse(&r, "bytes=-5", 100), REG_OK);
    CHECK(r.start == 95 && r.length == 5, "-5 of 100");
    CHECK_INT(range_parse(&r, "bytes=-500", 100), REG_OK);
    CHECK(r.start == 0 && r.length == 100, "-500 of 100 is the whole resource");
    CHECK_INT(range_parse(&r, "bytes=90-1000", 100), REG_OK);
    CHECK(r.start == 90 && r.length == 10, "end past the resource is clamped");
}

static void test_range_out_of_bounds_is_not_found(void)
{
    byte_range r;
    CHECK_INT(range_parse(&r, "bytes=100-", 100), REG_ENOTFOUND);
    CHECK_INT(range_parse(&r, "bytes=200-300", 100), REG_ENOTFOUND);
    CHECK_INT(range_parse(&r, "bytes=-1", 0), REG_ENOTFOUND);
}

static void test_malformed_ranges_are_invalid(void)
{
    static const char *const bad[] = {
        "",          "bytes=",   "bytes=a-b",  "bytes=5-1",  "bytes=0-1,3-4",
        "items=0-1", "bytes=-0", "bytes= 0-1", "bytes=0-1x", "bytes=99999999999999999999-"};
    byte_range r;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(range_parse(&r, bad[i], 100) == REG_EINVALID, "\"%s\" should be invalid", bad[i]);
}

static void test_content_range(void)
{
    byte_range r;
    CHECK_INT(content_range_parse(&r, "0-9"), REG_OK);
    CHECK(r.start == 0 && r.length == 10, "0-9");
    CHECK_INT(content_range_parse(&r, "10-19"), REG_OK);
    CHECK(r.start == 10 && r.length == 10, "10-19");
    CHECK_INT(content_range_parse(&r, "bytes 10-19/100"), REG_EINVALID);
    CHECK_INT(content_range_parse(&r, "9-0"), REG_EINVALID);
    CHECK_INT(content_range_parse(&r, "-9"), REG_EINVALID);
    CHECK_INT(content_range_parse(&r, "0-"), REG_EINVALID);
    CHECK_INT(content_range_parse(&r, "abc"), REG_EINVALID);
}

int main(void)
{
    RUN(test_range_forms);
    RUN(test_range_out_of_bounds_is_not_found);
    RUN(test_malformed_ranges_are_invalid);
    RUN(test_content_range);
    return check_failures != 0;
}
