/* policy.c - grants and stored access policies combined into one decision (see policy.h). */
#include "auth/policy.h"
#include "auth/iam_policy.h"
#include "auth/scope.h"
#include "storage/index/index_auth.h"
#include "storage/index/index_policy.h"
#include "storage/base/buf.h"
#include "storage/base/namematch.h"
#include "storage/base/reg_error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct grant {
    char *pattern;
    unsigned actions;
} grant;

typedef struct repo_policy {
    char *repo;
    iam_policy *iam;
} repo_policy;

struct policy {
    grant *grants;
    size_t count, cap;
    char *user; /* NULL for an anonymous caller */
    const char *registry_id;
    iam_policy *registry; /* the registry policy, or NULL */
    repo_policy *repos;   /* repository policies */
    size_t nrepos, repos_cap;
};

/* The ECR actions each scope.h bit stands for (see policy.h). */
static const char *const pull_actions[] = {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", NULL};
static const char *const push_actions[] = {"ecr:PutImage",
                                           "ecr:InitiateLayerUpload",
                                           "ecr:UploadLayerPart",
                                           "ecr:CompleteLayerUpload",
                                           "ecr:BatchCheckLayerAvailability",
                                           NULL};
static const char *const delete_actions[] = {"ecr:BatchDeleteImage", NULL};
static const char *const pull_through_actions[] = {"ecr:BatchImportUpstreamImage", NULL};
static const struct {
    unsigned bit;
    const char *const *actions;
} bit_actions[] = {{ACTION_PULL, pull_actions},
                   {ACTION_PUSH, push_actions},
                   {ACTION_DELETE, delete_actions},
                   {ACTION_PULL_THROUGH, pull_through_actions}};

int pattern_match(const char *pattern, const char *name)
{
    return namematch_wildcard(pattern, name, 0);
}

int pattern_check(const char *pattern)
{
    size_t n = strlen(pattern);
    if (n == 0 || n > 255)
        return REG_EINVALID;
    for (size_t i = 0; i < n; i++) {
        char c = pattern[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("._-/*", c)))
            return REG_EINVALID;
    }
    return REG_OK;
}

static int add_grant(void *ctx, const char *principal, const char *pattern, unsigned actions)
{
    policy *p = ctx;
    if (buf_grow_array((void **)&p->grants, &p->cap, p->count, sizeof(*p->grants), SIZE_MAX) < 0)
        return REG_ERROR;
    if (!(p->grants[p->count].pattern = strdup(pattern)))
        return REG_ERROR;
    p->grants[p->count++].actions = (actions & ACTION_ADMIN) ? ACTION_ALL : actions;
    return REG_OK;
}

/* Compile one stored policy; a repository's goes to p->repos, the registry's (repo NULL)
 * to p->registry. */
static int add_stored_policy(void *ctx, const char *repo, const char *text)
{
    policy *p = ctx;
    iam_policy *iam = NULL;
    if (iam_policy_parse(&iam, text, p->registry_id) < 0)
        return reg_error_wrap(REG_ERROR, "%s", repo ? repo : "the registry policy");
    if (!repo) {
        iam_policy_free(p->registry);
        p->registry = iam;
        return REG_OK;
    }
    if (buf_grow_array((void **)&p->repos, &p->repos_cap, p->nrepos, sizeof(*p->repos), SIZE_MAX) <
            0 ||
        !(p->repos[p->nrepos].repo = strdup(repo))) {
        iam_policy_free(iam);
        return reg_error_set(REG_ERROR, "out of memory");
    }
    p->repos[p->nrepos++].iam = iam;
    return REG_OK;
}

int policy_load_for(policy **out, index_db *ix, const char *principal, const char *registry_id)
{
    int anonymous = !principal || !*principal || !strcmp(principal, ANONYMOUS);
    policy *p = calloc(1, sizeof(*p));
    if (!p)
        return REG_ERROR;
    p->registry_id = registry_id;
    int err = (!anonymous && !(p->user = strdup(principal))) ? REG_ERROR : REG_OK;
    if (err == REG_OK)
        err = index_grants(ix, anonymous ? ANONYMOUS : principal, add_grant, p);
    if (err == REG_OK)
        err = index_access_policies(ix, add_stored_policy, p);
    if (err < 0) {
        policy_free(p);
        return err;
    }
    *out = p;
    return REG_OK;
}

int policy_load(policy **out, index_db *ix, const char *principal)
{
    return policy_load_for(out, ix, principal, IAM_REGISTRY_ID_DEFAULT);
}

void policy_free(policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->count; i++)
        free(p->grants[i].pattern);
    free(p->grants);
    for (size_t i = 0; i < p->nrepos; i++) {
        free(p->repos[i].repo);
        iam_policy_free(p->repos[i].iam);
    }
    free(p->repos);
    iam_policy_free(p->registry);
    free(p->user);
    free(p);
}

static unsigned granted(const policy *p, const char *repo)
{
    unsigned actions = 0;
    for (size_t i = 0; i < p->count; i++)
        if (pattern_match(p->grants[i].pattern, repo))
            actions |= p->grants[i].actions;
    return actions;
}

/* The verdict of the repository's policy and the registry's together: a Deny in either wins. */
static iam_effect policies_say(const policy *p, const char *repo, const char *action)
{
    iam_effect e = iam_policy_eval(p->registry, p->user, action, repo);
    for (size_t i = 0; i < p->nrepos && e != IAM_DENY; i++) {
        if (strcmp(p->repos[i].repo, repo) != 0)
            continue;
        iam_effect r = iam_policy_eval(p->repos[i].iam, p->user, action, repo);
        if (r != IAM_NONE)
            e = r;
    }
    return e;
}

unsigned policy_actions(const policy *p, const char *repo)
{
    unsigned actions = granted(p, repo);
    for (size_t b = 0; b < sizeof(bit_actions) / sizeof(bit_actions[0]); b++) {
        int all_allowed = 1, denied = 0;
        for (const char *const *a = bit_actions[b].actions; *a && !denied; a++) {
            iam_effect e = policies_say(p, repo, *a);
            denied = e == IAM_DENY;
            all_allowed &= e == IAM_ALLOW;
        }
        if (denied)
            actions &= ~bit_actions[b].bit;
        else if (all_allowed)
            actions |= bit_actions[b].bit;
    }
    return actions;
}

int policy_permits(const policy *p, const char *repo, const char *action, unsigned need)
{
    iam_effect e = policies_say(p, repo, action);
    if (e != IAM_NONE)
        return e == IAM_ALLOW;
    return (granted(p, repo) & need) == need;
}
