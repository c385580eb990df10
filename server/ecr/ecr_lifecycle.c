/* ecr_lifecycle.c - ECR lifecycle policy operations: Put/Get/DeleteLifecyclePolicy and
 * Start/GetLifecyclePolicyPreview. Previews are computed at once and kept in memory per
 * repository (on this instance) until replaced. */
#include "auth/scope.h"
#include "server/ecr/ecr.h"
#include "storage/gc.h"
#include "storage/index/index_repos.h"
#include "storage/lifecycle.h"
#include "storage/base/reg_error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PREVIEW_SLOTS 64

typedef struct preview_slot {
    char repo[256];
    char *result; /* JSON text of the finished preview */
    unsigned long long stamp;
} preview_slot;

static preview_slot previews[PREVIEW_SLOTS];
static unsigned long long preview_clock;
static pthread_mutex_t preview_lock = PTHREAD_MUTEX_INITIALIZER;

/* Keep `result` (taken) for repo, replacing its previous preview or the oldest slot. */
static void preview_store(const char *repo, char *result)
{
    pthread_mutex_lock(&preview_lock);
    preview_slot *slot = &previews[0];
    for (int i = 0; i < PREVIEW_SLOTS; i++) {
        if (!strcmp(previews[i].repo, repo)) {
            slot = &previews[i];
            break;
        }
        if (previews[i].stamp < slot->stamp)
            slot = &previews[i];
    }
    free(slot->result);
    snprintf(slot->repo, sizeof(slot->repo), "%s", repo);
    slot->result = result;
    slot->stamp = ++preview_clock;
    pthread_mutex_unlock(&preview_lock);
}

static json_t *preview_load(const char *repo)
{
    json_t *out = NULL;
    pthread_mutex_lock(&preview_lock);
    for (int i = 0; i < PREVIEW_SLOTS && !out; i++)
        if (previews[i].result && !strcmp(previews[i].repo, repo))
            out = json_loads(previews[i].result, 0, NULL);
    pthread_mutex_unlock(&preview_lock);
    return out;
}

static json_t *not_found(ecr_call *c, const char *repo)
{
    return ecr_fail(c, "RepositoryNotFoundException",
                    "The repository with name '%s' does not exist in the registry with id '%s'",
                    repo, ECR_REGISTRY_ID);
}

static json_t *no_policy(ecr_call *c, const char *repo)
{
    return ecr_fail(c, "LifecyclePolicyNotFoundException",
                    "Lifecycle policy does not exist for the repository with name '%s' in the "
                    "registry with id '%s'",
                    repo, ECR_REGISTRY_ID);
}

/* The stored policy text (malloc'd) or NULL after RepositoryNotFound/LifecyclePolicyNotFound. */
static char *stored_policy(ecr_call *c, const char *repo)
{
    char *text = NULL;
    int64_t id;
    int err = index_repo_policy(&text, c->ix, repo);
    if (err == REG_OK)
        return text;
    if (err == REG_ENOTFOUND && index_repo_id(&id, c->ix, repo) == REG_ENOTFOUND)
        not_found(c, repo);
    else if (err == REG_ENOTFOUND)
        no_policy(c, repo);
    else
        ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    return NULL;
}

static json_t *policy_result(const char *repo, const char *text)
{
    return json_pack("{s:s, s:s, s:s}", "registryId", ECR_REGISTRY_ID, "repositoryName", repo,
                     "lifecyclePolicyText", text);
}

/* A policy from the input, validated; NULL after InvalidParameterException. */
static const char *input_policy(ecr_call *c, json_t *in, int required)
{
    const char *text = json_string_value(json_object_get(in, "lifecyclePolicyText"));
    lifecycle_policy *p = NULL;
    if (!text)
        return required ? ecr_fail(c, "InvalidParameterException", "lifecyclePolicyText is required"),
               NULL : NULL;
    if (lifecycle_parse(&p, text) < 0)
        return ecr_fail(c, "InvalidParameterException",
                        "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
                        "'Lifecycle policy validation failure: %s'",
                        reg_error_last("invalid policy")),
               NULL;
    lifecycle_free(p);
    return text;
}

json_t *ecr_put_lifecycle_policy(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in), *text;
    if (!repo || !ecr_allowed(c, repo, ACTION_PUSH) || !(text = input_policy(c, in, 1)))
        return NULL;
    int err = index_repo_set_policy(c->ix, repo, text);
    if (err == REG_ENOTFOUND)
        return not_found(c, repo);
    if (err < 0)
        return ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    return policy_result(repo, text);
}

json_t *ecr_get_lifecycle_policy(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in);
    char *text;
    if (!repo || !ecr_allowed(c, repo, ACTION_PULL) || !(text = stored_policy(c, repo)))
        return NULL;
    json_t *out = policy_result(repo, text);
    free(text);
    return out;
}

json_t *ecr_delete_lifecycle_policy(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in);
    char *text;
    if (!repo || !ecr_allowed(c, repo, ACTION_PUSH) || !(text = stored_policy(c, repo)))
        return NULL;
    json_t *out = index_repo_set_policy(c->ix, repo, NULL) == REG_OK
                      ? policy_result(repo, text)
                      : ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    free(text);
    return out;
}

static int add_result(void *ctx, const char *digest, const char *const *tags, size_t ntags,
                      int64_t pushed_at, int rule)
{
    json_t *list = ctx, *tag_list = json_array();
    for (size_t i = 0; i < ntags; i++)
        json_array_append_new(tag_list, json_string(tags[i]));
    return json_array_append_new(
               list, json_pack("{s:o, s:s, s:I, s:{s:s}, s:i}", "imageTags", tag_list,
                               "imageDigest", digest, "imagePushedAt", (json_int_t)pushed_at,
                               "action", "type", "EXPIRE", "appliedRulePriority", rule)) == 0
               ? REG_OK
               : REG_ERROR;
}

json_t *ecr_start_lifecycle_policy_preview(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in);
    char *stored = NULL;
    if (!repo || !ecr_allowed(c, repo, ACTION_PULL))
        return NULL;
    const char *text = input_policy(c, in, 0);
    if (!text && c->error_type)
        return NULL;
    if (!text && !(text = stored = stored_policy(c, repo)))
        return NULL;
    json_t *results = json_array();
    int err = gc_lifecycle_preview(c->ix, repo, text, add_result, results);
    json_t *out = NULL;
    if (err == REG_ENOTFOUND) {
        not_found(c, repo);
    } else if (err < 0) {
        ecr_fail(c, "ServerException", "preview failed: %s", reg_error_last("internal error"));
    } else {
        json_t *done = json_pack("{s:s, s:s, s:s, s:s, s:O, s:{s:I}}", "registryId",
                                 ECR_REGISTRY_ID, "repositoryName", repo, "lifecyclePolicyText",
                                 text, "status", "COMPLETE", "previewResults", results, "summary",
                                 "expiringImageTotalCount", (json_int_t)json_array_size(results));
        char *serialized = done ? json_dumps(done, JSON_COMPACT) : NULL;
        json_decref(done);
        if (serialized)
            preview_store(repo, serialized);
        out = json_pack("{s:s, s:s, s:s, s:s}", "registryId", ECR_REGISTRY_ID, "repositoryName",
                        repo, "lifecyclePolicyText", text, "status", "IN_PROGRESS");
    }
    json_decref(results);
    free(stored);
    return out;
}

json_t *ecr_get_lifecycle_policy_preview(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in);
    if (!repo || !ecr_allowed(c, repo, ACTION_PULL))
        return NULL;
    json_t *out = preview_load(repo);
    if (!out)
        return ecr_fail(c, "LifecyclePolicyPreviewNotFoundException",
                        "There is no dry run for the repository with name '%s' in the registry "
                        "with id '%s'",
                        repo, ECR_REGISTRY_ID);
    return out;
}
