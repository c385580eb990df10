/* iam_policy.h - IAM policy documents as ECR repository and registry policies take them:
 * JSON text compiled into statements (with a precise message for what is refused), and one
 * request (user, action, repository) judged against them: allow, deny or no opinion. Pure. */
#ifndef OCIREG_IAM_POLICY_H
#define OCIREG_IAM_POLICY_H

/* ECR's limit on policyText (RepositoryPolicyText, RegistryPolicyText). */
#define IAM_POLICY_TEXT_MAX 10240
/* ocireg's registry (AWS account) id until the registry says otherwise: principals and
 * resources of other accounts are accepted but never match a caller here. */
#define IAM_REGISTRY_ID_DEFAULT "000000000000"

typedef enum iam_effect { IAM_NONE = 0, IAM_ALLOW, IAM_DENY } iam_effect;

typedef struct iam_policy iam_policy;

/* Compile `text` for registry `registry_id` (12 digits). REG_EINVALID with the reason in
 * reg_error_last() ("Statement[2].Action[0]: unknown ECR action 'ecr:PullImage'"). */
int iam_policy_parse(iam_policy **out, const char *text, const char *registry_id);
void iam_policy_free(iam_policy *p);

/* The policy's verdict on `action` ("ecr:BatchGetImage", matched case-insensitively) by `user`
 * (NULL: anonymous, matched only by the principal "*") on repository `repo`: IAM_DENY when a
 * matching Deny statement exists, else IAM_ALLOW when a matching Allow does, else IAM_NONE. */
iam_effect iam_policy_eval(const iam_policy *p, const char *user, const char *action,
                           const char *repo);

/* Whether `action` is an ECR action name IAM knows ("ecr:PutImage"), case-insensitively. */
int iam_action_known(const char *action);

#endif
