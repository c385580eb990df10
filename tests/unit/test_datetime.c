/* test_datetime.c - the one timestamp parser: both ISO 8601 forms, impossible dates refused. */
#include "check.h"
#include "storage/base/datetime.h"
#include "storage/base/reg_error.h"

#include <stdint.h>
#include <string.h>

static int parse(int64_t *t, const char *s)
{
    return datetime_parse(t, s, strlen(s));
}

static void test_basic_and_extended_forms_agree(void)
{
    int64_t a = 0, b = 0;
    CHECK_INT(parse(&a, "20150830T123600Z"), REG_OK);
    CHECK_INT(parse(&b, "2015-08-30T12:36:00Z"), REG_OK);
    CHECK_INT(a, 1440938160);
    CHECK_INT(b, a);
    CHECK_INT(parse(&b, "2015-08-30T12:36:00.020Z"), REG_OK);
    CHECK_INT(b, a);
}

/* Each text must be refused; says which one was not. */
static void check_all_invalid(const char *const *texts, size_t n)
{
    int64_t t;
    for (size_t i = 0; i < n; i++)
        CHECK(parse(&t, texts[i]) == REG_EINVALID, "\"%s\" was accepted", texts[i]);
}

static void test_impossible_dates_are_invalid(void)
{
    static const char *const impossible[] = {
        "2024-02-31T00:00:00Z", "20230229T000000Z",     "2024-04-31T00:00:00Z",
        "2024-01-01T24:00:00Z", "2024-01-01T23:60:00Z", "2024-00-10T00:00:00Z",
    };
    int64_t t;
    check_all_invalid(impossible, sizeof(impossible) / sizeof(impossible[0]));
    CHECK_INT(parse(&t, "20240229T000000Z"), REG_OK);
}

static void test_malformed_text_is_invalid(void)
{
    static const char *const malformed[] = {
        "",
        "2015-08-30T12:36:00",
        "2015-08-30 12:36:00Z",
        "2015-08-30T12:36:00.Z",
        "2015-08-30T12:36:00.1aZ",
        "20150830 123600Z",
        "2015083OT123600Z",
    };
    int64_t t;
    check_all_invalid(malformed, sizeof(malformed) / sizeof(malformed[0]));
    CHECK_INT(datetime_parse(&t, NULL, 0), REG_EINVALID);
}

int main(void)
{
    RUN(test_basic_and_extended_forms_agree);
    RUN(test_impossible_dates_are_invalid);
    RUN(test_malformed_text_is_invalid);
    return check_failures != 0;
}
