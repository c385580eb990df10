/* ecr_lifecycle.c - ECR lifecycle policy operations: Put/Get/DeleteLifecyclePolicy and
 * Start/GetLifecyclePolicyPreview. A preview is computed at once and kept in the index, the
 * last one of each repository, so that every instance answers for it. */
#include "auth/scope.h"
#include "server/ecr/ecr.h"
#include "storage/gc.h"
#include "storage/index/index_lifecycle.h"
#include "storage/index/index_repos.h"
#include "storage/lifecycle.h"
#include "storage/base/reg_error.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PREVIEW_PAGE_MAX 100 /* the model's LifecyclePreviewMaxResults bound */
#define PREVIEW_IDS_MAX  100 /* the model's ImageIdentifierList bound */

static json_t *not_found(ecr_call *c, const char *repo)
{
    return ecr_fail(c, "RepositoryNotFoundException",
                    "The repository with name '%s' does not exist in the registry with id '%s'",
                    repo, ecr_registry_id(c));
}

static json_t *no_policy(ecr_call *c, const char *repo)
{
    return ecr_fail(c, "LifecyclePolicyNotFoundException",
                    "Lifecycle policy does not exist for the repository with name '%s' in the "
                    "registry with id '%s'",
                    repo, ecr_registry_id(c));
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

static json_t *policy_result(ecr_call *c, const char *repo, const char *text)
{
    return json_pack("{s:s, s:s, s:s}", "registryId", ecr_registry_id(c), "repositoryName", repo,
                     "lifecyclePolicyText", text);
}

/* A policy from the input, validated; NULL after InvalidParameterException. */
static const char *input_policy(ecr_call *c, json_t *in, int required)
{
    const char *text = json_string_value(json_object_get(in, "lifecyclePolicyText"));
    lifecycle_policy *p = NULL;
    if (!text)
        return required
               ? ecr_fail(c, "InvalidParameterException", "lifecyclePolicyText is required"),
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
    return policy_result(c, repo, text);
}

json_t *ecr_get_lifecycle_policy(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in);
    char *text;
    if (!repo || !ecr_allowed(c, repo, ACTION_PULL) || !(text = stored_policy(c, repo)))
        return NULL;
    json_t *out = policy_result(c, repo, text);
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
                      ? policy_result(c, repo, text)
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
    return json_array_append_new(list, json_pack("{s:o, s:s, s:I, s:{s:s}, s:i}", "imageTags",
                                                 tag_list, "imageDigest", digest, "imagePushedAt",
                                                 (json_int_t)pushed_at, "action", "type", "EXPIRE",
                                                 "appliedRulePriority", rule)) == 0
               ? REG_OK
               : REG_ERROR;
}

/* Keep the finished preview of repo (results taken); NULL after a ServerException. */
static json_t *keep_preview(ecr_call *c, const char *repo, const char *text, json_t *results)
{
    char *serialized = json_dumps(results, JSON_COMPACT);
    json_decref(results);
    reg_error_clear();
    int err = serialized ? index_preview_set(c->ix, repo, "COMPLETE", text, serialized,
                                             (int64_t)time(NULL))
                         : REG_ERROR;
    free(serialized);
    if (err == REG_ENOTFOUND)
        return not_found(c, repo);
    if (err < 0)
        return ecr_fail(c, "ServerException", "keeping the preview failed: %s",
                        reg_error_last(index_errmsg(c->ix)));
    return json_pack("{s:s, s:s, s:s, s:s}", "registryId", ecr_registry_id(c), "repositoryName",
                     repo, "lifecyclePolicyText", text, "status", "COMPLETE");
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
    json_t *results = json_array(), *out = NULL;
    int err = gc_lifecycle_preview(c->ix, repo, text, add_result, results);
    if (err == REG_ENOTFOUND) {
        json_decref(results);
        not_found(c, repo);
    } else if (err < 0) {
        json_decref(results);
        ecr_fail(c, "ServerException", "preview failed: %s", reg_error_last("internal error"));
    } else {
        out = keep_preview(c, repo, text, results);
    }
    free(stored);
    return out;
}

static int has_tag(json_t *result, const char *tag)
{
    json_t *t;
    size_t i;
    json_array_foreach(json_object_get(result, "imageTags"), i, t)
    {
        if (!strcmp(json_string_value(t), tag))
            return 1;
    }
    return 0;
}

/* Whether a preview result is one of the imageIds (all of them when NULL). */
static int listed(json_t *result, json_t *ids)
{
    const char *digest = json_string_value(json_object_get(result, "imageDigest"));
    json_t *id;
    size_t i;
    json_array_foreach(ids, i, id)
    {
        const char *dg = json_string_value(json_object_get(id, "imageDigest"));
        const char *tag = json_string_value(json_object_get(id, "imageTag"));
        if ((dg || tag) && (!dg || !strcmp(dg, digest)) && (!tag || has_tag(result, tag)))
            return 1;
    }
    return !ids;
}

/* The results that pass filter.tagStatus and imageIds, in a new array. */
static json_t *select_results(json_t *results, const char *status, json_t *ids)
{
    json_t *out = json_array(), *r;
    size_t i;
    json_array_foreach(results, i, r)
    {
        int tagged = json_array_size(json_object_get(r, "imageTags")) > 0;
        if ((!strcmp(status, "ANY") || !strcmp(status, tagged ? "TAGGED" : "UNTAGGED")) &&
            listed(r, ids))
            json_array_append(out, r);
    }
    return out;
}

/* imageIds of GetLifecyclePolicyPreview: 1 to 100 entries, and no paging with them. */
static int check_preview_ids(ecr_call *c, json_t *in, json_t *ids)
{
    if (!ids)
        return REG_OK;
    if (!ecr_list_sized(ids, PREVIEW_IDS_MAX)) {
        ecr_fail(c, "InvalidParameterException", "imageIds must list 1 to %d images",
                 PREVIEW_IDS_MAX);
        return REG_EINVALID;
    }
    if (json_object_get(in, "maxResults") || json_object_get(in, "nextToken")) {
        ecr_fail(c, "InvalidParameterException",
                 "maxResults and nextToken cannot be used when you specify images with imageIds");
        return REG_EINVALID;
    }
    return REG_OK;
}

/* Load the preview of repo; on failure RepositoryNotFound, LifecyclePolicyPreviewNotFound or
 * a ServerException has been recorded. */
static int load_preview(ecr_call *c, const char *repo, index_preview *p)
{
    int64_t id;
    int err = index_preview_get(p, c->ix, repo);
    if (err == REG_ENOTFOUND && index_repo_id(&id, c->ix, repo) == REG_ENOTFOUND)
        not_found(c, repo);
    else if (err == REG_ENOTFOUND)
        ecr_fail(c, "LifecyclePolicyPreviewNotFoundException",
                 "There is no dry run for the repository with name '%s' in the registry with "
                 "id '%s'",
                 repo, ecr_registry_id(c));
    else if (err < 0)
        ecr_fail(c, "ServerException", "%s", reg_error_last(index_errmsg(c->ix)));
    return err;
}

json_t *ecr_get_lifecycle_policy_preview(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in), *status, *cursor;
    json_t *ids = json_object_get(in, "imageIds");
    index_preview p = {0};
    int64_t limit;
    if (!repo || !ecr_allowed(c, repo, ACTION_PULL) || check_preview_ids(c, in, ids) < 0 ||
        ecr_tag_status(c, in, &status) < 0 ||
        ecr_page_args_default(c, in, PREVIEW_PAGE_MAX, &limit, &cursor) < 0 ||
        load_preview(c, repo, &p) < 0)
        return NULL;
    json_t *results = json_loads(p.results, 0, NULL);
    json_t *out =
        results
            ? json_pack("{s:s, s:s, s:s, s:s, s:{s:I}}", "registryId", ecr_registry_id(c),
                        "repositoryName", repo, "lifecyclePolicyText", p.policy, "status", p.status,
                        "summary", "expiringImageTotalCount", (json_int_t)json_array_size(results))
            : NULL;
    index_preview_clear(&p);
    if (!out) {
        json_decref(results);
        return ecr_fail(c, "ServerException", "the stored preview is not valid JSON");
    }
    int err = ecr_page_list(c, out, "previewResults", select_results(results, status, ids), cursor,
                            limit);
    json_decref(results);
    if (err < 0)
        return json_decref(out), NULL;
    return out;
}
