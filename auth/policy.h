/* policy.h - who may do what: a principal's grants (plus those of "anonymous") matched
 * against repository names, together with the stored repository and registry policies (IAM
 * JSON, auth/iam_policy.h). Grant patterns are literal except <star> ('*'), which matches any
 * run of characters, '/' included: the pattern team-a/<star> covers team-a/app and
 * team-a/app/web. "admin" implies every other action. An explicit Deny in a policy wins; else
 * an Allow from a grant or a policy permits. */
#ifndef OCIREG_POLICY_H
#define OCIREG_POLICY_H

#include "storage/index/index.h"

#define ANONYMOUS "anonymous"

typedef struct policy policy;

/* Load the grants of `principal` (NULL or "" for an anonymous caller) and every stored
 * policy, compiled for registry `registry_id`. REG_ERROR when a stored policy does not
 * compile (access fails closed rather than lose its Deny statements). */
int policy_load_for(policy **out, index_db *ix, const char *principal, const char *registry_id);
/* policy_load_for with IAM_REGISTRY_ID_DEFAULT. */
int policy_load(policy **out, index_db *ix, const char *principal);
void policy_free(policy *p);

/* The actions (scope.h bits) permitted on repository `repo`: the grants' and those a policy
 * allows, less those a policy denies. A bit is allowed when a policy allows every ECR action
 * it stands for and denied when it denies any: pull = ecr:BatchGetImage and
 * ecr:GetDownloadUrlForLayer; push = ecr:PutImage, ecr:InitiateLayerUpload,
 * ecr:UploadLayerPart, ecr:CompleteLayerUpload and ecr:BatchCheckLayerAvailability; delete =
 * ecr:BatchDeleteImage; pull-through = ecr:BatchImportUpstreamImage. admin comes from grants
 * only. */
unsigned policy_actions(const policy *p, const char *repo);

/* Whether ECR action `action` ("ecr:DescribeImages") on `repo` is permitted: denied by a
 * policy, no; allowed by one, yes; else when the grants hold every bit of `need`. */
int policy_permits(const policy *p, const char *repo, const char *action, unsigned need);

int pattern_match(const char *pattern, const char *name);
/* REG_OK for a pattern of repository-name characters and '*'. */
int pattern_check(const char *pattern);

#endif
