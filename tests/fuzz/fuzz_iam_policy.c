/* fuzz_iam_policy.c - IAM policy documents (auth/iam_policy.c): parse arbitrary text as a
 * repository or registry policy and judge every accepted one on a fixed set of requests.
 * Invariants: only REG_OK or REG_EINVALID (with a message) come back, a policy exactly with
 * REG_OK and never over the text limit; a verdict is one of the three and the same each time. */
#include "auth/iam_policy.h"
#include "fuzz_util.h"
#include "storage/base/reg_error.h"

static const char *const users[] = {NULL, "alice", "bob", "anonymous", ""};
static const char *const actions[] = {
    "ecr:BatchGetImage",       "ecr:PutImage", "ECR:getdownloadurlforlayer",
    "ecr:SetRepositoryPolicy", "ecr:",         "s3:GetObject"};
static const char *const repos[] = {"app", "team-a/app", "team-a/app/web", "*", ""};

#define COUNT(a) (sizeof(a) / sizeof(a[0]))

static void judge(const iam_policy *p)
{
    for (size_t u = 0; u < COUNT(users); u++)
        for (size_t a = 0; a < COUNT(actions); a++)
            for (size_t r = 0; r < COUNT(repos); r++) {
                iam_effect e = iam_policy_eval(p, users[u], actions[a], repos[r]);
                FUZZ_CHECK(e == IAM_NONE || e == IAM_ALLOW || e == IAM_DENY);
                FUZZ_CHECK(e == iam_policy_eval(p, users[u], actions[a], repos[r]));
            }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    iam_policy *p = NULL;
    reg_error_clear();
    int err = iam_policy_parse(&p, text, IAM_REGISTRY_ID_DEFAULT);
    FUZZ_CHECK(err == REG_OK || err == REG_EINVALID);
    FUZZ_CHECK((err == REG_OK) == (p != NULL));
    if (err == REG_EINVALID)
        FUZZ_CHECK(reg_error_last(NULL) != NULL);
    if (p) {
        FUZZ_CHECK(strlen(text) <= IAM_POLICY_TEXT_MAX);
        judge(p);
    }
    iam_policy_free(p);
    free(text);
    return 0;
}
