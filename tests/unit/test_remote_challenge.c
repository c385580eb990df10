/* test_remote_challenge.c - the WWW-Authenticate parser of storage/remote (remote_challenge.c):
 * registries' real challenges, several in one value, escapes, and hostile values. */
#include "storage/base/reg_error.h"
#include "storage/remote/remote_internal.h"
#include "check.h"

#include <stdio.h>

static remote_challenge ch;

static int parse(const char *v)
{
    return remote_challenge_parse(&ch, v, strlen(v));
}

/* value parses to a Bearer challenge with these parameters. */
static void expect_bearer(const char *value, const char *realm, const char *service,
                          const char *scope)
{
    CHECK_INT(parse(value), REG_OK);
    CHECK_INT(ch.scheme, REMOTE_AUTH_BEARER);
    CHECK_STR(ch.realm, realm);
    CHECK_STR(ch.service, service);
    CHECK_STR(ch.scope, scope);
}

static void test_docker_hub_bearer(void)
{
    expect_bearer("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                  "scope=\"repository:library/alpine:pull\"",
                  "https://auth.docker.io/token", "registry.docker.io",
                  "repository:library/alpine:pull");
}

static void test_case_spaces_and_tokens(void)
{
    expect_bearer("  bearer REALM = \"r\" ,  Service=ocireg ,error=\"insufficient_scope\"", "r",
                  "ocireg", "");
}

static void test_escapes_in_quoted_strings(void)
{
    CHECK_INT(
        parse("Bearer realm=\"a\\\"b\\\\c\\d\",scope=\"repository:x:pull repository:y:pull\""),
        REG_OK);
    CHECK_STR(ch.realm, "a\"b\\cd");
    CHECK_STR(ch.scope, "repository:x:pull repository:y:pull");
    CHECK_INT(parse("Bearer realm=\"a,b=c\""), REG_OK);
    CHECK_STR(ch.realm, "a,b=c");
}

static void test_bearer_preferred_among_several(void)
{
    CHECK_INT(parse("Basic realm=\"x\", Bearer realm=\"r\",service=\"s\""), REG_OK);
    CHECK_INT(ch.scheme, REMOTE_AUTH_BEARER);
    CHECK_STR(ch.realm, "r");
    CHECK_INT(parse("Bearer realm=\"r\", Basic realm=\"x\""), REG_OK);
    CHECK_INT(ch.scheme, REMOTE_AUTH_BEARER);
    CHECK_INT(parse("Negotiate abc==, Basic realm=\"x\""), REG_OK);
    CHECK_INT(ch.scheme, REMOTE_AUTH_BASIC);
    CHECK_INT(parse("Basic abc=="), REG_OK); /* token68 */
    CHECK_INT(ch.scheme, REMOTE_AUTH_BASIC);
    CHECK_INT(parse("Basic"), REG_OK);
    CHECK_INT(parse("Digest realm=\"x\", nonce=\"y\""), REG_EINVALID);
}

static void test_bearer_needs_a_realm(void)
{
    CHECK_INT(parse("Bearer service=\"s\""), REG_EINVALID);
    CHECK_INT(ch.scheme, REMOTE_AUTH_NONE);
    CHECK_INT(parse("Bearer service=\"s\", Basic realm=\"b\""), REG_OK);
    CHECK_INT(ch.scheme, REMOTE_AUTH_BASIC);
    CHECK_INT(parse("Bearer realm=\"\""), REG_EINVALID);
}

static void test_broken_values_are_refused(void)
{
    static const char *const broken[] = {
        "",
        " , ,,",
        "Bearer realm=\"unterminated",
        "Bearer realm=\"r\\",
        "Bearer realm=\"r\" junk",
        "Bearer realm=",
        "Bearer realm=\"a\"b",
        "Bearer realm=\"r1\",realm=\"r2\"", /* repeated */
        "Bearer realm=\"a\rb\"",
        "Bearer realm=\"a\nb\"",
        "Bearer realm=\"a\x7f\"",
        "Bearer\x01 realm=\"r\"",
    };
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++)
        CHECK(parse(broken[i]) == REG_EINVALID, "broken value %zu was accepted", i);
    /* a good challenge before the damage stays usable */
    CHECK_INT(parse("Basic realm=\"b\", Bearer realm=\"unterminated"), REG_OK);
    CHECK_INT(ch.scheme, REMOTE_AUTH_BASIC);
}

static void test_embedded_nul_is_a_control_byte(void)
{
    static const char v[] = "Bearer realm=\"a\0b\"";
    CHECK_INT(remote_challenge_parse(&ch, v, sizeof(v) - 1), REG_EINVALID);
    CHECK_INT(remote_challenge_parse(&ch, "Bearer realm=\"r\"", 0), REG_EINVALID);
    /* no header at all: refused before any pointer is formed from it */
    CHECK_INT(remote_challenge_parse(&ch, NULL, 0), REG_EINVALID);
    CHECK_INT(ch.scheme, REMOTE_AUTH_NONE);
}

static void test_bounds(void)
{
    static char v[REMOTE_CHALLENGE_MAX + 64];
    int n = snprintf(v, sizeof(v), "Bearer realm=\"");
    memset(v + n, 'a', REMOTE_PARAM_MAX - 1);
    strcpy(v + n + REMOTE_PARAM_MAX - 1, "\"");
    CHECK_INT(parse(v), REG_OK); /* the longest value that fits */
    CHECK_INT(strlen(ch.realm), REMOTE_PARAM_MAX - 1);
    memset(v + n, 'a', REMOTE_PARAM_MAX);
    strcpy(v + n + REMOTE_PARAM_MAX, "\"");
    CHECK_INT(parse(v), REG_EINVALID); /* one more: cut, so refused */
    memset(v, ' ', sizeof(v) - 1);
    v[sizeof(v) - 1] = '\0';
    memcpy(v, "Basic", 5);
    CHECK_INT(remote_challenge_parse(&ch, v, REMOTE_CHALLENGE_MAX), REG_OK);
    CHECK_INT(remote_challenge_parse(&ch, v, REMOTE_CHALLENGE_MAX + 1), REG_EINVALID);
}

int main(void)
{
    RUN(test_docker_hub_bearer);
    RUN(test_case_spaces_and_tokens);
    RUN(test_escapes_in_quoted_strings);
    RUN(test_bearer_preferred_among_several);
    RUN(test_bearer_needs_a_realm);
    RUN(test_broken_values_are_refused);
    RUN(test_embedded_nul_is_a_control_byte);
    RUN(test_bounds);
    return check_failures ? 1 : 0;
}
