/* test_auth_policy.c - grant patterns, action parsing, scopes, password hashing, and grants
 * combined with stored repository and registry policies into one decision. */
#include "auth/base64url.h"
#include "auth/password.h"
#include "auth/policy.h"
#include "auth/scope.h"
#include "storage/index/index_auth.h"
#include "storage/index/index_policy.h"
#include "storage/index/index_repos.h"
#include "storage/base/reg_error.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

static void test_patterns(void)
{
    CHECK(pattern_match("team-a/*", "team-a/app"), "team-a/* covers team-a/app");
    CHECK(pattern_match("team-a/*", "team-a/app/web"), "team-a/* covers nested names");
    CHECK(!pattern_match("team-a/*", "team-ab/app"), "team-a/* must not cover team-ab/app");
    CHECK(!pattern_match("team-a/*", "team-a"), "team-a/* must not cover team-a itself");
    CHECK(pattern_match("team-a/app", "team-a/app"), "literal pattern");
    CHECK(!pattern_match("team-a/app", "team-a/app2"), "literal pattern is exact");
    CHECK(pattern_match("*", "anything/at/all"), "* covers everything");
    CHECK(pattern_match("*/web", "a/b/web"), "*/web");
    CHECK_INT(pattern_check("team-a/*"), REG_OK);
    CHECK_INT(pattern_check("Team"), REG_EINVALID);
    CHECK_INT(pattern_check(""), REG_EINVALID);
}

static void test_actions(void)
{
    unsigned a;
    char text[64];
    CHECK_INT(actions_parse(&a, "pull,push"), REG_OK);
    CHECK_INT(a, ACTION_PULL | ACTION_PUSH);
    CHECK_INT(actions_parse(&a, "*"), REG_OK);
    CHECK_INT(a, ACTION_ALL);
    CHECK_INT(actions_parse(&a, "pull,fly"), REG_EINVALID);
    CHECK_INT(actions_parse(&a, ""), REG_EINVALID);
    actions_format(text, sizeof(text), ACTION_PULL | ACTION_DELETE);
    CHECK_STR(text, "pull,delete");
}

static void test_scopes(void)
{
    scope s;
    CHECK_INT(scope_parse(&s, "repository:team/app:pull,push"), REG_OK);
    CHECK_STR(s.type, "repository");
    CHECK_STR(s.name, "team/app");
    CHECK_INT(s.actions, ACTION_PULL | ACTION_PUSH);
    CHECK_INT(scope_parse(&s, "registry:catalog:*"), REG_OK);
    CHECK_INT(scope_parse(&s, "repository:Bad:pull"), REG_EINVALID);
    CHECK_INT(scope_parse(&s, "repository:a"), REG_EINVALID);
    CHECK_INT(scope_parse(&s, "repository::pull"), REG_EINVALID);
    CHECK_INT(scope_parse(&s, "registry:other:*"), REG_EINVALID);
    CHECK_INT(scope_parse(&s, "repository:a:fly"), REG_OK);
    CHECK_INT(s.actions, 0);
}

static void test_password_hash_and_verify(void)
{
    user_record u, v;
    memset(&u, 0, sizeof(u));
    CHECK_INT(password_hash(&u, "correct horse"), REG_OK);
    CHECK_INT(password_verify(&u, "correct horse"), REG_OK);
    CHECK_INT(password_verify(&u, "correct hors"), REG_EDENIED);
    CHECK_INT(password_verify(&u, ""), REG_EDENIED);
    memset(&v, 0, sizeof(v));
    password_hash(&v, "correct horse");
    CHECK(memcmp(u.salt, v.salt, sizeof(u.salt)) != 0, "salts must differ per user");
    CHECK(memcmp(u.hash, v.hash, sizeof(u.hash)) != 0, "hashes must differ with the salt");
}

static void test_base64_decode_is_strict(void)
{
    static const struct {
        const char *in;
        const char *out; /* NULL: must be rejected */
    } cases[] = {{"QUJD", "ABC"},  {"QUI=", "AB"}, {"QUI", "AB"},   {"QQ==", "A"},  {"QQ", "A"},
                 {"", ""},         {"==", NULL},   {"=", NULL},     {"=Q", NULL},   {"QU=J", NULL},
                 {"QUJD==", NULL}, {"Q", NULL},    {"QUJDR", NULL}, {"QU!D", NULL}, {"QQ=", NULL}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = 99;
        unsigned char *got = base64_decode(cases[i].in, strlen(cases[i].in), &n);
        if (!cases[i].out) {
            CHECK(got == NULL, "\"%s\" must be rejected", cases[i].in);
        } else {
            CHECK(got && n == strlen(cases[i].out) && memcmp(got, cases[i].out, n) == 0,
                  "\"%s\" should decode to \"%s\"", cases[i].in, cases[i].out);
        }
        free(got);
    }
}

#define USER_ARN "arn:aws:iam::000000000000:user/"

/* Grants and policies together: a policy's Allow adds, its Deny wins over a grant, on the
 * scope bits and on single ECR actions; a stored policy that does not compile fails the load. */
static void test_grants_and_policies_decide_together(void)
{
    char dir[64], location[96];
    index_db *ix = NULL;
    policy *p = NULL;
    if (check_tempdir(dir, sizeof(dir), "policy") < 0)
        return;
    snprintf(location, sizeof(location), "%s/meta.db", dir);
    CHECK_INT(index_open(&ix, location), REG_OK);
    CHECK_INT(index_repo_create(ix, "team/open", MUTABLE), REG_OK);
    CHECK_INT(index_repo_create(ix, "team/locked", MUTABLE), REG_OK);
    CHECK_INT(index_grant_add(ix, "granted", "team/*", ACTION_PULL), REG_OK);
    CHECK_INT(
        index_access_policy_put(
            ix, "team/open",
            "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"" USER_ARN "outsider\"},"
            "\"Action\":[\"ecr:BatchGetImage\",\"ecr:GetDownloadUrlForLayer\",\"ecr:PutImage\"]}}"),
        REG_OK);
    CHECK_INT(index_access_policy_put(
                  ix, NULL,
                  "{\"Statement\":{\"Effect\":\"Deny\",\"Principal\":{\"AWS\":\"" USER_ARN
                  "granted\"},"
                  "\"Action\":\"ecr:GetDownloadUrlForLayer\",\"Resource\":"
                  "\"arn:aws:ecr:*:000000000000:repository/team/locked\"}}"),
              REG_OK);

    CHECK_INT(policy_load(&p, ix, "outsider"), REG_OK);
    CHECK_INT(policy_actions(p, "team/open"), ACTION_PULL); /* push needs every upload action */
    CHECK_INT(policy_actions(p, "team/locked"), 0);
    CHECK(policy_permits(p, "team/open", "ecr:PutImage", ACTION_PUSH), "allowed by name");
    CHECK(!policy_permits(p, "team/open", "ecr:ListImages", ACTION_PULL), "no grant, no allow");
    policy_free(p);

    CHECK_INT(policy_load(&p, ix, "granted"), REG_OK);
    CHECK_INT(policy_actions(p, "team/open"), ACTION_PULL);
    CHECK_INT(policy_actions(p, "team/locked"), 0); /* one pull action denied: no pull */
    CHECK(policy_permits(p, "team/locked", "ecr:ListImages", ACTION_PULL), "the grant still");
    CHECK(!policy_permits(p, "team/locked", "ecr:GetDownloadUrlForLayer", ACTION_PULL),
          "the Deny wins over the grant");
    policy_free(p);

    CHECK_INT(policy_load(&p, ix, NULL), REG_OK);
    CHECK_INT(policy_actions(p, "team/open"), 0);
    policy_free(p);

    p = NULL;
    CHECK_INT(index_access_policy_put(ix, "team/open", "{\"Statement\":[]}"), REG_OK);
    CHECK_INT(policy_load(&p, ix, "granted"), REG_ERROR);
    CHECK(p == NULL, "no policy comes back from a failed load");
    index_close(ix);
    CHECK_RMDIR(dir);
}

int main(void)
{
    RUN(test_base64_decode_is_strict);
    RUN(test_patterns);
    RUN(test_actions);
    RUN(test_scopes);
    RUN(test_password_hash_and_verify);
    RUN(test_grants_and_policies_decide_together);
    return check_failures != 0;
}
