/* fuzz_remote_challenge.c - the WWW-Authenticate parser of storage/remote
 * (remote_challenge.c), fed an upstream's hostile header value. Invariants: a result is Basic or
 * Bearer (Bearer with a realm), every kept value is NUL-terminated inside its field and free of
 * control bytes, and the same input parses the same way twice. */
#include "fuzz_util.h"
#include "storage/base/reg_error.h"
#include "storage/remote/remote_internal.h"

static void check_value(const char *v)
{
    size_t n = strnlen(v, REMOTE_PARAM_MAX);
    FUZZ_CHECK(n < REMOTE_PARAM_MAX);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(((unsigned char)v[i] >= 0x20 || v[i] == '\t') && v[i] != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static remote_challenge a, b;
    int rc = remote_challenge_parse(&a, (const char *)data, size);
    FUZZ_CHECK(rc == REG_OK || rc == REG_EINVALID);
    FUZZ_CHECK((rc == REG_OK) == (a.scheme != REMOTE_AUTH_NONE));
    if (rc == REG_OK) {
        FUZZ_CHECK(a.scheme == REMOTE_AUTH_BASIC || a.scheme == REMOTE_AUTH_BEARER);
        FUZZ_CHECK(a.scheme != REMOTE_AUTH_BEARER || a.realm[0]);
        FUZZ_CHECK(size <= REMOTE_CHALLENGE_MAX);
    }
    check_value(a.realm);
    check_value(a.service);
    check_value(a.scope);
    FUZZ_CHECK(remote_challenge_parse(&b, (const char *)data, size) == rc);
    FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
    return 0;
}
