/* ecr_policy.c - ECR repository and registry policies: Set/Get/DeleteRepositoryPolicy and
 * Put/Get/DeleteRegistryPolicy. The texts are IAM JSON, validated by auth/iam_policy.c and
 * stored as given; auth/policy.c enforces them on both APIs. */
#include "auth/iam_policy.h"
#include "auth/scope.h"
#include "server/ecr/ecr.h"
#include "storage/index/index_policy.h"
#include "storage/index/index_repos.h"
#include "storage/base/reg_error.h"

#include <stdlib.h>
#include <string.h>

static json_t *repo_not_found(ecr_call *c, const char *repo)
{
    return ecr_fail(c, "RepositoryNotFoundException",
                    "The repository with name '%s' does not exist in the registry with id '%s'",
                    repo, ecr_registry_id(c));
}

/* The stored policy (repo NULL: the registry's), malloc'd; NULL after recording the error. */
static char *stored_policy(ecr_call *c, const char *repo)
{
    char *text = NULL;
    int64_t id;
    int err = index_access_policy_get(&text, c->ix, repo);
    if (err == REG_OK)
        return text;
    if (err != REG_ENOTFOUND)
        ecr_fail(c, "ServerException", "%s", reg_error_last("the index cannot be read"));
    else if (!repo)
        ecr_fail(c, "RegistryPolicyNotFoundException",
                 "Registry policy does not exist in the registry with id '%s'", ecr_registry_id(c));
    else if (index_repo_id(&id, c->ix, repo) == REG_ENOTFOUND)
        repo_not_found(c, repo);
    else
        ecr_fail(c, "RepositoryPolicyNotFoundException",
                 "Repository policy does not exist for the repository with name '%s' in the "
                 "registry with id '%s'",
                 repo, ecr_registry_id(c));
    return NULL;
}

/* policyText from the input, compiled (the caller frees *out); NULL after recording
 * InvalidParameterException with the validator's reason. */
static const char *input_policy(ecr_call *c, json_t *in, const char *kind, iam_policy **out)
{
    const char *text = json_string_value(json_object_get(in, "policyText"));
    if (!text)
        return ecr_fail(c, "InvalidParameterException", "policyText is required"), NULL;
    if (iam_policy_parse(out, text, ecr_registry_id(c)) < 0)
        return ecr_fail(c, "InvalidParameterException",
                        "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
                        "'Invalid %s policy provided: %s'",
                        kind, reg_error_last("invalid policy")),
               NULL;
    return text;
}

static json_t *repo_result(ecr_call *c, const char *repo, const char *text)
{
    return json_pack("{s:s, s:s, s:s}", "registryId", ecr_registry_id(c), "repositoryName", repo,
                     "policyText", text);
}

static json_t *registry_result(ecr_call *c, const char *text)
{
    return json_pack("{s:s, s:s}", "registryId", ecr_registry_id(c), "policyText", text);
}

/* Without force, a policy that denies its setter ecr:SetRepositoryPolicy is refused, as ECR
 * does, so that nobody locks themselves out by accident. */
static int lockout_checked(ecr_call *c, json_t *in, const iam_policy *p, const char *repo)
{
    json_t *force = json_object_get(in, "force");
    if (force && !json_is_boolean(force)) {
        ecr_fail(c, "InvalidParameterException", "force must be a boolean");
        return 0;
    }
    if (json_is_true(force) ||
        iam_policy_eval(p, c->user, "ecr:SetRepositoryPolicy", repo) != IAM_DENY)
        return 1;
    ecr_fail(c, "InvalidParameterException",
             "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'The policy would "
             "deny user %s ecr:SetRepositoryPolicy on the repository %s; set force to true to "
             "set it anyway'",
             c->user, repo);
    return 0;
}

json_t *ecr_set_repository_policy(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in), *text;
    iam_policy *p = NULL;
    json_t *out = NULL;
    if (!repo || !ecr_allowed(c, repo, ACTION_ADMIN) ||
        !(text = input_policy(c, in, "repository", &p)))
        return NULL;
    if (lockout_checked(c, in, p, repo)) {
        int err = index_access_policy_put(c->ix, repo, text);
        if (err == REG_OK)
            out = repo_result(c, repo, text);
        else if (err == REG_ENOTFOUND)
            repo_not_found(c, repo);
        else
            ecr_fail(c, "ServerException", "%s", reg_error_last("the policy cannot be stored"));
    }
    iam_policy_free(p);
    return out;
}

json_t *ecr_get_repository_policy(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in);
    char *text;
    if (!repo || !ecr_allowed(c, repo, ACTION_PULL) || !(text = stored_policy(c, repo)))
        return NULL;
    json_t *out = repo_result(c, repo, text);
    free(text);
    return out;
}

json_t *ecr_delete_repository_policy(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in);
    char *text;
    if (!repo || !ecr_allowed(c, repo, ACTION_ADMIN) || !(text = stored_policy(c, repo)))
        return NULL;
    json_t *out =
        index_access_policy_delete(c->ix, repo) == REG_OK
            ? repo_result(c, repo, text)
            : ecr_fail(c, "ServerException", "%s", reg_error_last("the policy cannot be deleted"));
    free(text);
    return out;
}

json_t *ecr_put_registry_policy(ecr_call *c, json_t *in)
{
    const char *text;
    iam_policy *p = NULL;
    if (!ecr_allowed(c, "*", ACTION_ADMIN) || !(text = input_policy(c, in, "registry", &p)))
        return NULL;
    iam_policy_free(p);
    if (index_access_policy_put(c->ix, NULL, text) < 0)
        return ecr_fail(c, "ServerException", "%s", reg_error_last("the policy cannot be stored"));
    return registry_result(c, text);
}

json_t *ecr_get_registry_policy(ecr_call *c, json_t *in)
{
    char *text;
    if (!ecr_allowed(c, "*", ACTION_ADMIN) || !(text = stored_policy(c, NULL)))
        return NULL;
    json_t *out = registry_result(c, text);
    free(text);
    return out;
}

json_t *ecr_delete_registry_policy(ecr_call *c, json_t *in)
{
    char *text;
    if (!ecr_allowed(c, "*", ACTION_ADMIN) || !(text = stored_policy(c, NULL)))
        return NULL;
    json_t *out =
        index_access_policy_delete(c->ix, NULL) == REG_OK
            ? registry_result(c, text)
            : ecr_fail(c, "ServerException", "%s", reg_error_last("the policy cannot be deleted"));
    free(text);
    return out;
}
