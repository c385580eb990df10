/* test_token.c - JWT ES256 sign/verify and every rejection the registry relies on. */
#include "auth/base64url.h"
#include "auth/keys.h"
#include "auth/token.h"
#include "storage/base/reg_error.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static keyring *kr;
static char data_dir[] = "/tmp/ocireg-token-test-XXXXXX";
static time_t now;

static void base_claims(token_claims *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->sub, sizeof(c->sub), "alice");
    snprintf(c->aud, sizeof(c->aud), "ocireg");
    c->iat = c->nbf = now;
    c->exp = now + 300;
    c->naccess = 1;
    snprintf(c->access[0].type, sizeof(c->access[0].type), "repository");
    snprintf(c->access[0].name, sizeof(c->access[0].name), "team-a/app");
    c->access[0].actions = ACTION_PULL | ACTION_PUSH;
}

static char *sign(const token_claims *c)
{
    char *jwt = NULL;
    CHECK_INT(token_sign(&jwt, kr, "ocireg", c), REG_OK);
    return jwt;
}

static int verify(const char *jwt, token_claims *out)
{
    return token_verify(out, kr, jwt, "ocireg", "ocireg", now);
}

static void test_roundtrip_keeps_claims(void)
{
    token_claims c, got;
    base_claims(&c);
    char *jwt = sign(&c);
    CHECK_INT(verify(jwt, &got), REG_OK);
    CHECK_STR(got.sub, "alice");
    CHECK_INT(got.naccess, 1);
    CHECK_INT(token_allows(&got, "repository", "team-a/app"), ACTION_PULL | ACTION_PUSH);
    free(jwt);
}

static void test_access_is_for_the_exact_repository(void)
{
    token_claims c, got;
    base_claims(&c);
    char *jwt = sign(&c);
    verify(jwt, &got);
    CHECK_INT(token_allows(&got, "repository", "team-a/app2"), 0);
    CHECK_INT(token_allows(&got, "repository", "team-a/app/x"), 0);
    CHECK_INT(token_allows(&got, "repository", "team-a"), 0);
    CHECK_INT(token_allows(&got, "registry", "team-a/app"), 0);
    free(jwt);
}

static void test_missing_access_grants_nothing(void)
{
    token_claims c, got;
    base_claims(&c);
    c.naccess = 0;
    char *jwt = sign(&c);
    CHECK_INT(verify(jwt, &got), REG_OK);
    CHECK_INT(token_allows(&got, "repository", "team-a/app"), 0);
    free(jwt);
}

static void test_expired_and_not_yet_valid_are_rejected(void)
{
    token_claims c, got;
    base_claims(&c);
    c.exp = now - TOKEN_CLOCK_SKEW - 1;
    char *jwt = sign(&c);
    CHECK_INT(verify(jwt, &got), REG_EDENIED);
    free(jwt);
    base_claims(&c);
    c.nbf = now + TOKEN_CLOCK_SKEW + 10;
    jwt = sign(&c);
    CHECK_INT(verify(jwt, &got), REG_EDENIED);
    free(jwt);
    base_claims(&c);
    c.exp = now - 10; /* inside the allowed skew */
    jwt = sign(&c);
    CHECK_INT(verify(jwt, &got), REG_OK);
    free(jwt);
}

static void test_wrong_audience_and_issuer_are_rejected(void)
{
    token_claims c, got;
    base_claims(&c);
    snprintf(c.aud, sizeof(c.aud), "other-registry");
    char *jwt = sign(&c);
    CHECK_INT(verify(jwt, &got), REG_EDENIED);
    free(jwt);
    base_claims(&c);
    jwt = sign(&c);
    CHECK_INT(token_verify(&got, kr, jwt, "someone-else", "ocireg", now), REG_EDENIED);
    free(jwt);
}

/* Replace part `which` (0 header, 1 payload, 2 signature) of a JWT. */
static char *with_part(const char *jwt, int which, const char *text)
{
    const char *d1 = strchr(jwt, '.'), *d2 = strchr(d1 + 1, '.');
    char *out = NULL;
    if (which == 0)
        asprintf(&out, "%s%s", text, d1);
    else if (which == 1)
        asprintf(&out, "%.*s.%s%s", (int)(d1 - jwt), jwt, text, d2);
    else
        asprintf(&out, "%.*s.%s", (int)(d2 - jwt), jwt, text);
    return out;
}

static char *b64(const char *s)
{
    return base64url_encode((const unsigned char *)s, strlen(s));
}

static void test_alg_none_and_hs256_are_rejected(void)
{
    token_claims c, got;
    base_claims(&c);
    char *jwt = sign(&c);
    char *none = b64("{\"alg\":\"none\",\"typ\":\"JWT\"}");
    char *t = with_part(jwt, 0, none);
    char *unsigned_token = with_part(t, 2, "");
    CHECK_INT(verify(t, &got), REG_EDENIED);
    CHECK_INT(verify(unsigned_token, &got), REG_EDENIED);
    char *hs = b64("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"x\"}");
    char *t2 = with_part(jwt, 0, hs);
    CHECK_INT(verify(t2, &got), REG_EDENIED);
    char *rs = b64("{\"alg\":\"RS256\",\"typ\":\"JWT\"}");
    char *t3 = with_part(jwt, 0, rs);
    CHECK_INT(verify(t3, &got), REG_EDENIED);
    free(jwt), free(none), free(t), free(unsigned_token), free(hs), free(t2), free(rs), free(t3);
}

static void test_tampered_payload_and_signature_are_rejected(void)
{
    token_claims c, got;
    base_claims(&c);
    char *jwt = sign(&c);
    c.access[0].actions = ACTION_ALL;
    snprintf(c.access[0].name, sizeof(c.access[0].name), "team-a/*");
    char *other = sign(&c);
    const char *p1 = strchr(other, '.') + 1;
    char *payload = strndup(p1, (size_t)(strchr(p1, '.') - p1));
    char *forged = with_part(jwt, 1, payload);
    CHECK_INT(verify(forged, &got), REG_EDENIED);
    char *bad_sig = strdup(jwt);
    size_t n = strlen(bad_sig);
    bad_sig[n - 5] = bad_sig[n - 5] == 'A' ? 'B' : 'A';
    CHECK_INT(verify(bad_sig, &got), REG_EDENIED);
    free(jwt), free(other), free(payload), free(forged), free(bad_sig);
}

static void test_garbage_is_rejected(void)
{
    static const char *const bad[] = {"",    ".",       "..",       "a.b.c",
                                      "a.b", "a.b.c.d", "eyJ.eyJ.", "!!!.???.***"};
    token_claims got;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(verify(bad[i], &got) == REG_EDENIED, "\"%s\" should be rejected", bad[i]);
}

static void test_rotated_key_still_verifies_old_tokens(void)
{
    token_claims c, got;
    char path[4096];
    base_claims(&c);
    char *old = sign(&c);
    CHECK_INT(keyring_rotate(data_dir, path, sizeof(path)), REG_OK);
    keyring *rotated = NULL;
    CHECK_INT(keyring_load(&rotated, data_dir), REG_OK);
    CHECK_INT(token_verify(&got, rotated, old, "ocireg", "ocireg", now), REG_OK);
    char *fresh = NULL;
    CHECK_INT(token_sign(&fresh, rotated, "ocireg", &c), REG_OK);
    CHECK(strncmp(fresh, old, strchr(old, '.') - old) != 0, "a new key (kid) should sign");
    CHECK_INT(verify(fresh, &got), REG_EDENIED); /* the old ring does not know the new key */
    keyring_free(rotated);
    free(old);
    free(fresh);
}

int main(void)
{
    now = time(NULL);
    if (!mkdtemp(data_dir) || keyring_load(&kr, data_dir) < 0) {
        fprintf(stderr, "cannot create a keyring\n");
        return 1;
    }
    RUN(test_roundtrip_keeps_claims);
    RUN(test_access_is_for_the_exact_repository);
    RUN(test_missing_access_grants_nothing);
    RUN(test_expired_and_not_yet_valid_are_rejected);
    RUN(test_wrong_audience_and_issuer_are_rejected);
    RUN(test_alg_none_and_hs256_are_rejected);
    RUN(test_tampered_payload_and_signature_are_rejected);
    RUN(test_garbage_is_rejected);
    RUN(test_rotated_key_still_verifies_old_tokens);
    keyring_free(kr);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", data_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", data_dir);
    return check_failures != 0;
}
