/* index_policy.h - access policy texts (ECR repository policies and the registry policy, IAM
 * JSON) in the index, stored as given. auth/ validates and evaluates them. */
#ifndef OCIREG_INDEX_POLICY_H
#define OCIREG_INDEX_POLICY_H

#include "storage/index/index.h"

/* `repo` NULL stands for the registry policy throughout. */

/* The policy text: *out malloc'd (caller frees); REG_ENOTFOUND when there is none. */
int index_access_policy_get(char **out, index_db *ix, const char *repo);
/* Set the policy; REG_ENOTFOUND when the repository does not exist. */
int index_access_policy_put(index_db *ix, const char *repo, const char *text);
/* Remove the policy; REG_ENOTFOUND when there was none. */
int index_access_policy_delete(index_db *ix, const char *repo);

typedef int (*index_access_policy_cb)(void *ctx, const char *repo, const char *text);
/* Every stored policy, the registry's with repo NULL. */
int index_access_policies(index_db *ix, index_access_policy_cb cb, void *ctx);

#endif
