/* ecr.h - the ECR-compatible JSON API (POST / with X-Amz-Target, AWS SigV4): what the
 * operation files share. Operations take the parsed input and return the output object, or
 * set an AWS error (__type and message) and return NULL. */
#ifndef OCIREG_ECR_H
#define OCIREG_ECR_H

#include "server/http/http.h"

#include <jansson.h>

typedef struct ecr_call {
    request *req;
    index_db *ix;
    const char *user;       /* who signed the request */
    const char *region;     /* from the signature's scope */
    const char *operation;  /* the X-Amz-Target's operation, also its IAM action's name */
    struct policy *policy;  /* the user's grants, loaded on first use */
    const char *error_type; /* set by ecr_fail; its message is reg_error_last() */
    json_t *error_fields;   /* NULL, or more members of the error (owned) */
} ecr_call;

/* Record an AWS error: its __type here, its message on the error route (the arguments may
 * include reg_error_last()). Returns NULL for `return ecr_fail(...)`. */
json_t *ecr_fail(ecr_call *c, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Whether the caller may do the call's operation on repository `repo` ("*" for the
 * registry): a Deny of ecr:<operation> in a repository or registry policy refuses, an Allow
 * permits, else the grants must hold every bit of `actions`. When not, an AccessDenied error
 * has been recorded. */
int ecr_allowed(ecr_call *c, const char *repo, unsigned actions);

/* Whether the caller may do `actions` on the registry itself (DescribeRegistry, its scanning
 * configuration): IAM's Resource "*", here a grant whose pattern matches "*" (`ocireg grant
 * USER '*' ...`). When not, an AccessDenied error has been recorded. */
int ecr_registry_allowed(ecr_call *c, unsigned actions);

/* A required repositoryName: validated; NULL after recording InvalidParameterException. */
const char *ecr_repo_name(ecr_call *c, json_t *in);

/* Whether v is a JSON list of 1 to max items, as the model bounds every list parameter. */
int ecr_list_sized(const json_t *v, size_t max);

/* The registry's 12-digit account id (serve --registry-id). */
const char *ecr_registry_id(ecr_call *c);

/* "host[:port]" clients push to, and the repository's ARN and URI (arena-allocated). */
const char *ecr_registry_host(ecr_call *c);
const char *ecr_repo_arn(ecr_call *c, const char *repo);
const char *ecr_repo_uri(ecr_call *c, const char *repo);

/* Pagination: maxResults within [1, max] (default max), nextToken an opaque cursor. */
int ecr_page_args(ecr_call *c, json_t *in, int64_t max, int64_t *limit, const char **cursor);
char *ecr_next_token(const char *cursor); /* malloc'd; caller frees */

/* Items of a page when maxResults is absent: ECR answers "up to 100 results and a nextToken"
 * for ListImages, DescribeImages and GetLifecyclePolicyPreview. */
#define ECR_PAGE_DEFAULT 100

/* ecr_page_args, with a page of ECR_PAGE_DEFAULT when maxResults is absent. */
int ecr_page_args_default(ecr_call *c, json_t *in, int64_t max, int64_t *limit,
                          const char **cursor);

/* Set out[key] to the page of `all` (taken) that starts at `cursor` (NULL: the start; else
 * the decimal index of a nextToken) with at most `limit` items, and out's nextToken when more
 * follow. REG_EINVALID after recording InvalidParameterException for a bad cursor. */
int ecr_page_list(ecr_call *c, json_t *out, const char *key, json_t *all, const char *cursor,
                  int64_t limit);

/* filter.tagStatus: TAGGED, UNTAGGED or ANY (the default); REG_EINVALID after recording
 * InvalidParameterException. */
int ecr_tag_status(ecr_call *c, json_t *in, const char **out);

/* imageScanningConfiguration.scanOnPush of the input (absent: false); REG_EINVALID after
 * recording InvalidParameterException. */
int ecr_scan_on_push_arg(ecr_call *c, json_t *in, int *out);

typedef json_t *(*ecr_op)(ecr_call *c, json_t *in);

json_t *ecr_create_repository(ecr_call *c, json_t *in);
json_t *ecr_describe_repositories(ecr_call *c, json_t *in);
json_t *ecr_delete_repository(ecr_call *c, json_t *in);
json_t *ecr_put_image_tag_mutability(ecr_call *c, json_t *in);
json_t *ecr_tag_resource(ecr_call *c, json_t *in);
json_t *ecr_untag_resource(ecr_call *c, json_t *in);
json_t *ecr_list_tags_for_resource(ecr_call *c, json_t *in);
json_t *ecr_describe_registry(ecr_call *c, json_t *in);

json_t *ecr_list_images(ecr_call *c, json_t *in);
json_t *ecr_describe_images(ecr_call *c, json_t *in);
json_t *ecr_batch_get_image(ecr_call *c, json_t *in);
json_t *ecr_batch_delete_image(ecr_call *c, json_t *in);

json_t *ecr_put_lifecycle_policy(ecr_call *c, json_t *in);
json_t *ecr_get_lifecycle_policy(ecr_call *c, json_t *in);
json_t *ecr_delete_lifecycle_policy(ecr_call *c, json_t *in);
json_t *ecr_start_lifecycle_policy_preview(ecr_call *c, json_t *in);
json_t *ecr_get_lifecycle_policy_preview(ecr_call *c, json_t *in);

json_t *ecr_set_repository_policy(ecr_call *c, json_t *in);
json_t *ecr_get_repository_policy(ecr_call *c, json_t *in);
json_t *ecr_delete_repository_policy(ecr_call *c, json_t *in);
json_t *ecr_put_registry_policy(ecr_call *c, json_t *in);
json_t *ecr_get_registry_policy(ecr_call *c, json_t *in);
json_t *ecr_delete_registry_policy(ecr_call *c, json_t *in);

json_t *ecr_get_authorization_token(ecr_call *c, json_t *in);

/* The layer API (ecr_layers.c) over the OCI API's upload sessions. A part is at most this
 * many bytes (LayerPartBlob's bound in the ECR model). */
#define ECR_LAYER_PART_MAX (20u << 20)
json_t *ecr_batch_check_layer_availability(ecr_call *c, json_t *in);
json_t *ecr_initiate_layer_upload(ecr_call *c, json_t *in);
json_t *ecr_upload_layer_part(ecr_call *c, json_t *in);
json_t *ecr_complete_layer_upload(ecr_call *c, json_t *in);
json_t *ecr_get_download_url_for_layer(ecr_call *c, json_t *in);
/* Whether the caller may do `actions` on `repo` and it exists; when not, the error
 * (AccessDenied, RepositoryNotFound) has been recorded. */
int ecr_repo_ready(ecr_call *c, const char *repo, unsigned actions);

json_t *ecr_put_image(ecr_call *c, json_t *in); /* ecr_put_image.c */

json_t *ecr_put_image_scanning_configuration(ecr_call *c, json_t *in);
json_t *ecr_batch_get_repository_scanning_configuration(ecr_call *c, json_t *in);
json_t *ecr_get_registry_scanning_configuration(ecr_call *c, json_t *in);
json_t *ecr_put_registry_scanning_configuration(ecr_call *c, json_t *in);
json_t *ecr_start_image_scan(ecr_call *c, json_t *in);
json_t *ecr_describe_image_scan_findings(ecr_call *c, json_t *in);

/* Pull-through cache rules (ecr_cache_rules.c). */
json_t *ecr_create_pull_through_cache_rule(ecr_call *c, json_t *in);
json_t *ecr_describe_pull_through_cache_rules(ecr_call *c, json_t *in);
json_t *ecr_delete_pull_through_cache_rule(ecr_call *c, json_t *in);

/* Replication (ecr_replication.c). The stored configuration ({"rules": [...]}), as
 * DescribeRegistry and PutReplicationConfiguration answer it; NULL after a ServerException. */
json_t *ecr_put_replication_configuration(ecr_call *c, json_t *in);
json_t *ecr_describe_image_replication_status(ecr_call *c, json_t *in);
json_t *ecr_replication_configuration(ecr_call *c);

/* Handler for POST / (registered in the router). */
void handle_ecr(request *req);

#endif
