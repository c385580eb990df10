/* ecr_api.c - the ECR JSON API's front door (see ecr.h): reads the body, verifies the AWS
 * Signature Version 4 against the caller's access key, dispatches on X-Amz-Target, and writes
 * AWS-shaped results and errors. Also GetAuthorizationToken and the shared helpers. */
#include "server/ecr/ecr.h"
#include "auth/access_keys.h"
#include "auth/base64url.h"
#include "auth/policy.h"
#include "auth/sigv4_verify.h"
#include "auth/token.h"
#include "server/http/auth.h"
#include "server/http/log.h"
#include "storage/base/buf.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ECR_TARGET_PREFIX "AmazonEC2ContainerRegistry_V20150921."
#define ECR_BODY_MAX      (1 << 20)
/* UploadLayerPart carries up to ECR_LAYER_PART_MAX bytes in base64, plus its other members. */
#define ECR_PART_BODY_MAX ((ECR_LAYER_PART_MAX + 2) / 3 * 4 + (64 << 10))
#define ECR_PART_TARGET   ECR_TARGET_PREFIX "UploadLayerPart"
/* PutImage carries a manifest of up to MANIFEST_MAX_BYTES as a JSON string: escaping (\uXXXX
 * for non-ASCII, as botocore writes it) at most triples it. */
#define ECR_PUT_IMAGE_BODY_MAX (3 * MANIFEST_MAX_BYTES + (64 << 10))
#define ECR_PUT_IMAGE_TARGET   ECR_TARGET_PREFIX "PutImage"
#define ECR_MAX_SKEW           300
#define ECR_LOGIN_TTL          (12 * 3600)
#define ECR_CONTENT_TYPE       "application/x-amz-json-1.1"
/* GetAuthorizationToken's registryIds: 1 to 10 (the model's bounds) */
#define REGISTRY_IDS_MAX 10

static const struct {
    const char *name;
    ecr_op op;
} operations[] = {
    {"CreateRepository", ecr_create_repository},
    {"DescribeRepositories", ecr_describe_repositories},
    {"DeleteRepository", ecr_delete_repository},
    {"PutImageTagMutability", ecr_put_image_tag_mutability},
    {"TagResource", ecr_tag_resource},
    {"UntagResource", ecr_untag_resource},
    {"ListTagsForResource", ecr_list_tags_for_resource},
    {"DescribeRegistry", ecr_describe_registry},
    {"ListImages", ecr_list_images},
    {"DescribeImages", ecr_describe_images},
    {"BatchGetImage", ecr_batch_get_image},
    {"BatchDeleteImage", ecr_batch_delete_image},
    {"PutLifecyclePolicy", ecr_put_lifecycle_policy},
    {"GetLifecyclePolicy", ecr_get_lifecycle_policy},
    {"DeleteLifecyclePolicy", ecr_delete_lifecycle_policy},
    {"StartLifecyclePolicyPreview", ecr_start_lifecycle_policy_preview},
    {"GetLifecyclePolicyPreview", ecr_get_lifecycle_policy_preview},
    {"SetRepositoryPolicy", ecr_set_repository_policy},
    {"GetRepositoryPolicy", ecr_get_repository_policy},
    {"DeleteRepositoryPolicy", ecr_delete_repository_policy},
    {"PutRegistryPolicy", ecr_put_registry_policy},
    {"GetRegistryPolicy", ecr_get_registry_policy},
    {"DeleteRegistryPolicy", ecr_delete_registry_policy},
    {"GetAuthorizationToken", ecr_get_authorization_token},
    {"BatchCheckLayerAvailability", ecr_batch_check_layer_availability},
    {"InitiateLayerUpload", ecr_initiate_layer_upload},
    {"UploadLayerPart", ecr_upload_layer_part},
    {"CompleteLayerUpload", ecr_complete_layer_upload},
    {"GetDownloadUrlForLayer", ecr_get_download_url_for_layer},
    {"PutImage", ecr_put_image},
    {"PutImageScanningConfiguration", ecr_put_image_scanning_configuration},
    {"BatchGetRepositoryScanningConfiguration", ecr_batch_get_repository_scanning_configuration},
    {"GetRegistryScanningConfiguration", ecr_get_registry_scanning_configuration},
    {"PutRegistryScanningConfiguration", ecr_put_registry_scanning_configuration},
    {"StartImageScan", ecr_start_image_scan},
    {"DescribeImageScanFindings", ecr_describe_image_scan_findings},
    {"CreatePullThroughCacheRule", ecr_create_pull_through_cache_rule},
    {"DescribePullThroughCacheRules", ecr_describe_pull_through_cache_rules},
    {"DeletePullThroughCacheRule", ecr_delete_pull_through_cache_rule},
    {"PutReplicationConfiguration", ecr_put_replication_configuration},
    {"DescribeImageReplicationStatus", ecr_describe_image_replication_status},
};

json_t *ecr_fail(ecr_call *c, const char *type, const char *fmt, ...)
{
    char message[REG_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap); /* apart: an argument may be the route's */
    va_end(ap);
    c->error_type = type;
    reg_error_set(REG_ERROR, "%s", message);
    return NULL;
}

/* Every ECR answer, result or error, names its request as AWS does: the same id is the
 * access log's request_id. */
static void send_ecr(request *req, unsigned status, struct MHD_Response *r)
{
    response_header(r, "x-amzn-RequestId", req->id);
    request_send(req, status, r);
}

/* `fields`: more members of the error (borrowed; may be NULL). */
static void reply_aws_error_fields(request *req, unsigned status, const char *type, const char *msg,
                                   json_t *fields)
{
    json_t *body = json_pack("{s:s, s:s}", "__type", type, "message", msg);
    if (body && fields)
        json_object_update_missing(body, fields);
    struct MHD_Response *r = response_json(req, body, ECR_CONTENT_TYPE);
    response_header(r, "x-amzn-ErrorType", type);
    send_ecr(req, status, r);
}

static void reply_aws_error(request *req, unsigned status, const char *type, const char *msg)
{
    reply_aws_error_fields(req, status, type, msg, NULL);
}

int ecr_allowed(ecr_call *c, const char *repo, unsigned actions)
{
    if (!c->policy && policy_load_for(&c->policy, c->ix, c->user, ecr_registry_id(c)) < 0) {
        ecr_fail(c, "ServerException", "could not load the access policy: %s",
                 reg_error_last("internal error"));
        return 0;
    }
    const char *action = arena_printf(&c->req->mem, "ecr:%s", c->operation);
    if (action && policy_permits(c->policy, repo, action, actions))
        return 1;
    ecr_fail(c, "AccessDeniedException",
             "User: %s is not authorized to perform %s on repository %s", c->user,
             action ? action : "this action", repo);
    return 0;
}

int ecr_registry_allowed(ecr_call *c, unsigned actions)
{
    if (!c->policy && policy_load_for(&c->policy, c->ix, c->user, ecr_registry_id(c)) < 0) {
        ecr_fail(c, "ServerException", "could not load the access policy");
        return 0;
    }
    if ((policy_actions(c->policy, "*") & actions) == actions)
        return 1;
    ecr_fail(c, "AccessDeniedException",
             "User: %s is not authorized to perform this action on registry %s (it needs a "
             "grant on '*')",
             c->user, ecr_registry_id(c));
    return 0;
}

int ecr_list_sized(const json_t *v, size_t max)
{
    return json_is_array(v) && json_array_size(v) >= 1 && json_array_size(v) <= max;
}

const char *ecr_repo_name(ecr_call *c, json_t *in)
{
    const char *name = json_string_value(json_object_get(in, "repositoryName"));
    if (!name)
        return ecr_fail(c, "InvalidParameterException", "repositoryName is required"), NULL;
    if (reference_check_name(name) < 0 || strlen(name) < 2)
        return ecr_fail(c, "InvalidParameterException",
                        "Invalid parameter at 'repositoryName' failed to satisfy constraint: "
                        "'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*"
                        "[a-z0-9]+(?:[._-][a-z0-9]+)*' and be 2 to 256 characters'"),
               NULL;
    return name;
}

const char *ecr_registry_id(ecr_call *c)
{
    return c->req->srv->cfg.registry_id;
}

/* registryId (registryIds for GetAuthorizationToken), when given, must be this registry's. A
 * well-formed id of another account names a registry that holds none of our repositories:
 * RepositoryNotFoundException where the operation names one (as ECR answers for a repository
 * missing from the registry it was asked in), InvalidParameterException otherwise. */
static int registry_or_fail(ecr_call *c, json_t *in, ecr_op op)
{
    json_t *ids = json_object_get(in, "registryIds");
    json_t *one = json_object_get(in, "registryId");
    json_t *id;
    size_t i;
    if (ids && !ecr_list_sized(ids, REGISTRY_IDS_MAX))
        return ecr_fail(c, "InvalidParameterException",
                        "registryIds must be a list of 1 to %d registry ids", REGISTRY_IDS_MAX),
               REG_EINVALID;
    json_array_foreach(
        ids, i, id) if (!json_is_string(id) ||
                        strcmp(json_string_value(id), ecr_registry_id(c)) !=
                            0) return ecr_fail(c, "InvalidParameterException",
                                               "registryIds may only name this registry, '%s'",
                                               ecr_registry_id(c)),
        REG_EINVALID;
    if (!one)
        return REG_OK;
    const char *text = json_string_value(one);
    if (!text || strlen(text) != 12 || strspn(text, "0123456789") != 12)
        return ecr_fail(c, "InvalidParameterException",
                        "Invalid parameter at 'registryId' failed to satisfy constraint: "
                        "'must satisfy regular expression '[0-9]{12}''"),
               REG_EINVALID;
    if (!strcmp(text, ecr_registry_id(c)))
        return REG_OK;
    const char *repo = json_string_value(json_object_get(in, "repositoryName"));
    if (!repo)
        repo = json_string_value(json_array_get(json_object_get(in, "repositoryNames"), 0));
    if (repo && op != ecr_create_repository)
        return ecr_fail(c, "RepositoryNotFoundException",
                        "The repository with name '%s' does not exist in the registry with id "
                        "'%s'",
                        repo, text),
               REG_ENOTFOUND;
    return ecr_fail(c, "InvalidParameterException",
                    "registry '%s' is not served here; this registry's id is '%s'", text,
                    ecr_registry_id(c)),
           REG_EINVALID;
}

const char *ecr_registry_host(ecr_call *c)
{
    const char *base = request_base_url(c->req);
    const char *sep = strstr(base, "://");
    return sep ? sep + 3 : base;
}

const char *ecr_repo_arn(ecr_call *c, const char *repo)
{
    return arena_printf(&c->req->mem, "arn:aws:ecr:%s:%s:repository/%s", c->region,
                        ecr_registry_id(c), repo);
}

const char *ecr_repo_uri(ecr_call *c, const char *repo)
{
    return arena_printf(&c->req->mem, "%s/%s", ecr_registry_host(c), repo);
}

int ecr_page_args(ecr_call *c, json_t *in, int64_t max, int64_t *limit, const char **cursor)
{
    json_t *mr = json_object_get(in, "maxResults");
    json_t *nt = json_object_get(in, "nextToken");
    *limit = max;
    *cursor = NULL;
    if (mr &&
        (!json_is_integer(mr) || json_integer_value(mr) < 1 || json_integer_value(mr) > max)) {
        ecr_fail(c, "InvalidParameterException", "maxResults must be an integer between 1 and %lld",
                 (long long)max);
        return REG_EINVALID;
    }
    if (mr)
        *limit = json_integer_value(mr);
    if (nt) {
        size_t n = 0;
        const char *text = json_string_value(nt);
        unsigned char *raw = text ? base64_decode(text, strlen(text), &n) : NULL;
        if (!raw || n == 0 || n > 1024 || memchr(raw, '\0', n)) {
            free(raw);
            ecr_fail(c, "InvalidParameterException", "nextToken is invalid");
            return REG_EINVALID;
        }
        *cursor = arena_strndup(&c->req->mem, (char *)raw, n);
        free(raw);
    }
    return REG_OK;
}

char *ecr_next_token(const char *cursor)
{
    return base64url_encode((const unsigned char *)cursor, strlen(cursor));
}

json_t *ecr_get_authorization_token(ecr_call *c, json_t *in)
{
    token_claims claims;
    char *jwt = NULL;
    time_t now = time(NULL);
    memset(&claims, 0, sizeof(claims));
    /* the password dies with the user's generation (a new password, or the user re-made) */
    if (index_user_generation(&claims.gen, c->ix, c->user) < 0)
        return ecr_fail(c, "ServerException", "could not look up user %s", c->user);
    snprintf(claims.sub, sizeof(claims.sub), "%s", c->user);
    snprintf(claims.aud, sizeof(claims.aud), "%s", ECR_LOGIN_AUDIENCE);
    claims.iat = claims.nbf = now;
    claims.exp = now + ECR_LOGIN_TTL;
    if (token_sign(&jwt, server_keys(c->req->srv), TOKEN_ISSUER, &claims) < 0)
        return ecr_fail(c, "ServerException", "could not sign the authorization token");
    char *login = arena_printf(&c->req->mem, "AWS:%s", jwt);
    free(jwt);
    char *b64 = login ? base64_encode((unsigned char *)login, strlen(login)) : NULL;
    json_t *out = json_pack("{s:[{s:s, s:I, s:s}]}", "authorizationData", "authorizationToken",
                            b64 ? b64 : "", "expiresAt", (json_int_t)claims.exp, "proxyEndpoint",
                            request_base_url(c->req));
    free(b64);
    return out;
}

/* ---- request handling ---- */

typedef struct header_list {
    sigv4_header items[SIGV4_MAX_HEADERS];
    size_t n;
    int overflow;
} header_list;

/* What the header checks found, kept until the body is read and the signature checked. */
typedef struct ecr_pending {
    header_list headers; /* point into libmicrohttpd's copy, valid for the request */
    sigv4_credential cred;
    const char *amz_date;
    char user[USER_NAME_MAX + 1];
    char secret[ACCESS_SECRET_LEN + 1];
} ecr_pending;

/* Signed by every SDK; a signature that leaves one out could be replayed as another call. */
static const char *const required_signed[] = {"host", "x-amz-date", "x-amz-target", NULL};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    header_list *h = cls;
    if (h->n == SIGV4_MAX_HEADERS) {
        h->overflow = 1;
        return MHD_NO;
    }
    h->items[h->n].name = key;
    h->items[h->n++].value = value ? value : "";
    return MHD_YES;
}

/* Refused before the body is read: answer at once, the body is not worth waiting for. */
static void refuse_early(request *req, unsigned status, const char *type, const char *msg)
{
    request_skip_body(req);
    reply_aws_error(req, status, type, msg);
}

/* Everything but the signature itself, which needs the body's hash: the Authorization header
 * parses, names a known access key, signs what matters and is dated now. Fills p; replies
 * itself on failure, before anything of the body is held. */
static int credentials_or_reply(request *req, ecr_pending *p)
{
    const char *authz = request_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
    index_db *ix;
    p->amz_date = request_header(req, "X-Amz-Date");
    if (!authz || !p->amz_date) {
        refuse_early(req, 403, "MissingAuthenticationTokenException",
                     "Missing Authentication Token");
        return REG_EDENIED;
    }
    if (sigv4_parse_authorization(&p->cred, authz) < 0) {
        refuse_early(req, 400, "IncompleteSignatureException",
                     "Authorization header requires Credential, SignedHeaders and Signature");
        return REG_EDENIED;
    }
    if (!(ix = request_index(req))) {
        refuse_early(req, 500, "ServerException", "the registry index cannot be opened");
        return REG_ERROR;
    }
    if (access_key_lookup(p->user, p->secret, ix, req->srv->master_key, p->cred.access_key) < 0) {
        log_msg(LOG_INFO, "auth: ecr denied key=%s reason=unknown access key", p->cred.access_key);
        refuse_early(req, 400, "UnrecognizedClientException",
                     "The security token included in the request is invalid.");
        return REG_EDENIED;
    }
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, collect_header, &p->headers);
    int err = p->headers.overflow
                  ? reg_error_set(REG_EDENIED, "too many headers")
                  : sigv4_verify_headers(&p->cred, p->headers.items, p->headers.n, required_signed,
                                         p->amz_date, time(NULL), ECR_MAX_SKEW);
    if (err < 0) {
        const char *why = reg_error_last("signature refused");
        log_msg(LOG_INFO, "auth: ecr denied user=%s reason=%s", p->user, why);
        refuse_early(req, 403, "InvalidSignatureException",
                     arena_printf(&req->mem, "Signature not accepted: %s", why));
        return REG_EDENIED;
    }
    return REG_OK;
}

/* Verify the signature over the body; on success c->user and c->region are set. Replies
 * itself on failure. */
static int signature_or_reply(ecr_call *c, ecr_pending *p)
{
    request *req = c->req;
    digest body_hash;
    digest_buffer(&body_hash, DIGEST_SHA256, req->body.data ? req->body.data : "", req->body.len);
    sigv4_request sreq = {.method = req->method,
                          .path = "/",
                          .query = NULL,
                          .headers = p->headers.items,
                          .nheaders = p->headers.n,
                          .payload_sha256 = digest_hex(&body_hash)};
    int err = sigv4_verify(&sreq, &p->cred, p->amz_date, p->secret, time(NULL), ECR_MAX_SKEW);
    OPENSSL_cleanse(p->secret, sizeof(p->secret));
    if (err < 0) {
        log_msg(LOG_INFO, "auth: ecr denied user=%s reason=%s", p->user,
                reg_error_last("signature refused"));
        reply_aws_error(req, 403, "InvalidSignatureException",
                        "The request signature we calculated does not match the signature you "
                        "provided.");
        return REG_EDENIED;
    }
    c->user = arena_strdup(&req->mem, p->user);
    c->region = arena_strdup(&req->mem, p->cred.region);
    req->principal = c->user;
    return REG_OK;
}

/* The operation X-Amz-Target names; its name in *name. */
static ecr_op find_operation(const char **name, const char *target)
{
    size_t n = strlen(ECR_TARGET_PREFIX);
    if (!target || strncmp(target, ECR_TARGET_PREFIX, n) != 0)
        return NULL;
    for (size_t i = 0; i < sizeof(operations) / sizeof(operations[0]); i++)
        if (!strcmp(target + n, operations[i].name)) {
            *name = operations[i].name;
            return operations[i].op;
        }
    return NULL;
}

static void finish_ecr(request *req)
{
    ecr_pending *p = req->state;
    buf *body = &req->body;
    ecr_call c = {.req = req};
    json_error_t jerr;
    if (req->body_stopped) {
        reply_aws_error(req, 413, "InvalidParameterException", "request body too large");
        return;
    }
    if (!(c.ix = request_index(req))) {
        reply_aws_error(req, 500, "ServerException", "the registry index cannot be opened");
        return;
    }
    if (signature_or_reply(&c, p) < 0)
        return;
    const char *target = request_header(req, "X-Amz-Target");
    ecr_op op = find_operation(&c.operation, target);
    if (!op) {
        reply_aws_error(req, 400, "UnknownOperationException", "unknown operation");
        return;
    }
    json_t *in = json_loadb(body->data ? body->data : "{}", body->len ? body->len : 2, 0, &jerr);
    buf_free(body); /* a layer part's body is large: parsed, it is no longer needed */
    if (!json_is_object(in)) {
        json_decref(in);
        reply_aws_error(req, 400, "SerializationException", jerr.text);
        return;
    }
    json_t *out = registry_or_fail(&c, in, op) == REG_OK ? op(&c, in) : NULL;
    json_decref(in);
    policy_free(c.policy);
    req->auth_decision = out ? "allowed" : c.error_type;
    if (out)
        send_ecr(req, 200, response_json(req, out, ECR_CONTENT_TYPE));
    else
        reply_aws_error_fields(req, !strcmp(c.error_type, "ServerException") ? 500 : 400,
                               c.error_type, reg_error_last("internal error"), c.error_fields);
    json_decref(c.error_fields);
}

static void free_pending(request *req)
{
    ecr_pending *p = req->state;
    OPENSSL_cleanse(p->secret, sizeof(p->secret));
}

/* Most operations' bodies are small; two carry data. */
static size_t body_max(const char *target)
{
    if (target && !strcmp(target, ECR_PART_TARGET))
        return ECR_PART_BODY_MAX;
    if (target && !strcmp(target, ECR_PUT_IMAGE_TARGET))
        return ECR_PUT_IMAGE_BODY_MAX;
    return ECR_BODY_MAX;
}

/* The credentials are checked at the first call, before the body: a connection without them
 * holds no body buffer. */
void handle_ecr(request *req)
{
    ecr_pending *p = arena_alloc(&req->mem, sizeof(*p));
    if (!p) {
        refuse_early(req, 500, "ServerException", "out of memory");
        return;
    }
    size_t max = body_max(request_header(req, "X-Amz-Target"));
    memset(p, 0, sizeof(*p));
    req->state = p;
    req->on_cleanup = free_pending;
    if (credentials_or_reply(req, p) < 0)
        return;
    if (request_content_length(req) > (long long)max) {
        refuse_early(req, 413, "InvalidParameterException", "request body too large");
        return;
    }
    request_read_body(req, max, finish_ecr);
}
