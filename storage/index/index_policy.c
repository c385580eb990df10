/* index_policy.c - SQL for access policies (see index_policy.h). A row's scope is "registry"
 * or "repository/<name>", the tail of the resource's ARN; deleting a repository removes its
 * row (index_repos.c), so a repository made again later starts without the old policy. */
#include "storage/index/index_policy.h"
#include "storage/index/index_internal.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REGISTRY_SCOPE    "registry"
#define REPO_SCOPE_PREFIX "repository/"

/* The scope of a repository's policy (or of the registry's), into out (n bytes). */
static const char *scope_of(char *out, size_t n, const char *repo)
{
    if (!repo)
        return REGISTRY_SCOPE;
    snprintf(out, n, "%s%s", REPO_SCOPE_PREFIX, repo);
    return out;
}

#define SCOPE_MAX 512

int index_access_policy_get(char **out, index_db *ix, const char *repo)
{
    char scope[SCOPE_MAX];
    sqldb_stmt *st =
        index_stmt_text(ix, ST_ACCESS_POLICY_GET, scope_of(scope, sizeof(scope), repo));
    int err = index_step_row(st);
    if (err < 0)
        return err;
    const char *text = sqldb_column_text(st, 0);
    *out = text ? strdup(text) : NULL;
    index_done(st);
    return *out ? REG_OK : reg_error_set(REG_ERROR, "out of memory");
}

int index_access_policy_put(index_db *ix, const char *repo, const char *text)
{
    char scope[SCOPE_MAX];
    sqldb_stmt *st = index_stmt_text2(ix, repo ? ST_ACCESS_POLICY_PUT_REPO : ST_ACCESS_POLICY_PUT,
                                      scope_of(scope, sizeof(scope), repo), text);
    if (st && repo)
        index_bind_text(st, 3, repo);
    return index_run_changed(ix, st);
}

int index_access_policy_delete(index_db *ix, const char *repo)
{
    char scope[SCOPE_MAX];
    return index_run_changed(
        ix, index_stmt_text(ix, ST_ACCESS_POLICY_DELETE, scope_of(scope, sizeof(scope), repo)));
}

int index_access_policies(index_db *ix, index_access_policy_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt(ix, ST_ACCESS_POLICIES);
    size_t n = strlen(REPO_SCOPE_PREFIX);
    int err = REG_OK;
    while (index_next(st, &err)) {
        const char *scope = sqldb_column_text(st, 0), *text = sqldb_column_text(st, 1);
        const char *repo = scope && !strncmp(scope, REPO_SCOPE_PREFIX, n) ? scope + n : NULL;
        if (!scope || !text || (!repo && strcmp(scope, REGISTRY_SCOPE) != 0))
            err = reg_error_set(REG_ERROR, "index: an access policy row has a bad scope");
        else
            err = cb(ctx, repo, text);
    }
    return err;
}
