/* policy.c - grant matching (see policy.h). */
#include "auth/policy.h"
#include "auth/scope.h"
#include "storage/index/index_auth.h"
#include "storage/base/buf.h"
#include "storage/base/reg_error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct grant {
    char *pattern;
    unsigned actions;
} grant;

struct policy {
    grant *grants;
    size_t count, cap;
};

int pattern_match(const char *pattern, const char *name)
{
    const char *star = NULL, *resume = NULL;
    while (*name) {
        if (*pattern == '*') {
            star = pattern++;
            resume = name;
        } else if (*pattern == *name) {
            pattern++;
            name++;
        } else if (star) {
            pattern = star + 1;
            name = ++resume;
        } else {
            return 0;
        }
    }
    while (*pattern == '*')
        pattern++;
    return *pattern == '\0';
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

int policy_load(policy **out, index_db *ix, const char *principal)
{
    policy *p = calloc(1, sizeof(*p));
    if (!p)
        return REG_ERROR;
    int err = index_grants(ix, principal && *principal ? principal : ANONYMOUS, add_grant, p);
    if (err < 0) {
        policy_free(p);
        return err;
    }
    *out = p;
    return REG_OK;
}

void policy_free(policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->count; i++)
        free(p->grants[i].pattern);
    free(p->grants);
    free(p);
}

unsigned policy_actions(const policy *p, const char *repo)
{
    unsigned actions = 0;
    for (size_t i = 0; i < p->count; i++)
        if (pattern_match(p->grants[i].pattern, repo))
            actions |= p->grants[i].actions;
    return actions;
}
