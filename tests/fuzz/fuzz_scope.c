/* fuzz_scope.c - the token protocol's scope strings and action lists (auth/scope.c), and the
 * grant patterns they are matched against (auth/policy.c). Input: "<text>[\n<name>]": the whole
 * first line is parsed as a scope and as an action list; with a second line, the first is also
 * a grant pattern matched against the second. */
#include "auth/policy.h"
#include "auth/scope.h"
#include "fuzz_util.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"

static void check_actions_roundtrip(unsigned bits)
{
    char text[64];
    unsigned again = 0;
    actions_format(text, sizeof(text), bits);
    if (bits == 0) {
        FUZZ_CHECK(text[0] == '\0');
        return;
    }
    FUZZ_CHECK(actions_parse(&again, text) == REG_OK);
    FUZZ_CHECK(again == bits);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    char *lines[2];
    size_t n = fuzz_lines(lines, 2, text);
    scope s;
    unsigned bits = 0;

    memset(&s, 0, sizeof(s));
    int err = scope_parse(&s, lines[0]);
    FUZZ_CHECK(err == REG_OK || err == REG_EINVALID);
    if (err == REG_OK) {
        FUZZ_CHECK(!strcmp(s.type, "repository") || !strcmp(s.type, "registry"));
        FUZZ_CHECK(strcmp(s.type, "repository") || reference_check_name(s.name) == REG_OK);
        FUZZ_CHECK((s.actions & ~(unsigned)ACTION_ALL) == 0);
        check_actions_roundtrip(s.actions);
    }

    err = actions_parse(&bits, lines[0]);
    FUZZ_CHECK(err == REG_OK || err == REG_EINVALID);
    if (err == REG_OK) {
        FUZZ_CHECK(bits != 0 && (bits & ~(unsigned)ACTION_ALL) == 0);
        check_actions_roundtrip(bits);
    }
    check_actions_roundtrip((unsigned)(size ? data[0] : 0) & ACTION_ALL);

    if (n == 2 && pattern_check(lines[0]) == REG_OK) {
        int match = pattern_match(lines[0], lines[1]);
        if (!strchr(lines[0], '*'))
            FUZZ_CHECK(match == !strcmp(lines[0], lines[1]));
        FUZZ_CHECK(pattern_match("*", lines[1]));
        FUZZ_CHECK(pattern_match(lines[1], lines[1]));
    }
    free(text);
    return 0;
}
