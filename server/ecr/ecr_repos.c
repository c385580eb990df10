/* ecr_repos.c - ECR repository operations: Create/Describe/DeleteRepository,
 * PutImageTagMutability, Tag/Untag/ListTagsForResource, DescribeRegistry. */
#include "auth/scope.h"
#include "server/ecr/ecr.h"
#include "storage/index/index_repos.h"
#include "storage/base/reg_error.h"

#include <stdlib.h>
#include <string.h>

typedef struct repo_list {
    ecr_call *c;
    json_t *items;
    const char *last; /* last repository put on the page */
    int filter;       /* only repositories the caller may pull */
    int64_t limit;    /* page size; one more visible repository means a next page */
    int more;
} repo_list;

static json_t *repo_json(ecr_call *c, const repo_info *r)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:{s:b}, s:{s:s}}", "repositoryArn",
                     ecr_repo_arn(c, r->name), "registryId", ecr_registry_id(c), "repositoryName",
                     r->name, "repositoryUri", ecr_repo_uri(c, r->name), "createdAt",
                     (json_int_t)r->created_at, "imageTagMutability", r->mutability,
                     "imageScanningConfiguration", "scanOnPush", r->scan_on_push,
                     "encryptionConfiguration", "encryptionType", "AES256");
}

static int add_repo(void *ctx, const repo_info *r)
{
    repo_list *l = ctx;
    if (l->filter) {
        const char *saved = l->c->error_type;
        int ok = ecr_allowed(l->c, r->name, ACTION_PULL);
        l->c->error_type = saved;
        if (!ok)
            return REG_OK;
    }
    if (l->limit && (int64_t)json_array_size(l->items) == l->limit) {
        l->more = 1;
        return REG_EBUSY; /* stop: the page is full */
    }
    l->last = arena_strdup(&l->c->req->mem, r->name);
    return json_array_append_new(l->items, repo_json(l->c, r)) == 0 ? REG_OK : REG_ERROR;
}

/* One repository's description, or NULL after RepositoryNotFoundException. */
static json_t *describe_one(ecr_call *c, const char *name)
{
    repo_list l = {.c = c, .items = json_array()};
    int err = index_repo_infos(c->ix, name, NULL, 1, add_repo, &l);
    json_t *one = json_incref(json_array_get(l.items, 0));
    json_decref(l.items);
    if (err == REG_ENOTFOUND || (err == REG_OK && !one))
        return ecr_fail(c, "RepositoryNotFoundException",
                        "The repository with name '%s' does not exist in the registry with id "
                        "'%s'",
                        name, ecr_registry_id(c));
    if (err < 0)
        return json_decref(one), ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    return one;
}

/* Resource tags, as ECR bounds them: a Key of 1-128 characters, an optional Value (absent is
 * "") of at most 256, at most 50 on a repository. */
#define ECR_TAGS_MAX      50
#define ECR_TAG_KEY_MAX   128
#define ECR_TAG_VALUE_MAX 256

typedef struct tag_input {
    size_t n;
    const char **keys;
    const char **values;
} tag_input;

static int tag_key_ok(const char *key)
{
    return key && *key && strlen(key) <= ECR_TAG_KEY_MAX;
}

/* The `tags` input checked (NULL is none): its arrays point into `tags`. More than the
 * maximum in one request is refused here, before anything is stored. */
static int tags_or_fail(ecr_call *c, json_t *tags, tag_input *out)
{
    size_t i;
    json_t *t;
    memset(out, 0, sizeof(*out));
    if (tags && !json_is_array(tags))
        return ecr_fail(c, "InvalidParameterException", "tags must be a list"), REG_EINVALID;
    if (json_array_size(tags) > ECR_TAGS_MAX)
        return ecr_fail(c, "TooManyTagsException",
                        "%zu tags given; a repository can have at most %d", json_array_size(tags),
                        ECR_TAGS_MAX),
               REG_ETOOLARGE;
    out->keys = arena_alloc(&c->req->mem, (json_array_size(tags) + 1) * sizeof(char *));
    out->values = arena_alloc(&c->req->mem, (json_array_size(tags) + 1) * sizeof(char *));
    if (!out->keys || !out->values)
        return ecr_fail(c, "ServerException", "out of memory"), REG_ERROR;
    json_array_foreach(tags, i, t)
    {
        json_t *value = json_object_get(t, "Value");
        const char *k = json_string_value(json_object_get(t, "Key"));
        const char *v = value ? json_string_value(value) : "";
        if (!tag_key_ok(k) || !v || strlen(v) > ECR_TAG_VALUE_MAX)
            return ecr_fail(c, "InvalidTagParameterException",
                            "each tag needs a Key of 1 to %d characters and at most a Value of "
                            "%d",
                            ECR_TAG_KEY_MAX, ECR_TAG_VALUE_MAX),
                   REG_EINVALID;
        out->keys[out->n] = k;
        out->values[out->n++] = v;
    }
    return REG_OK;
}

/* Store checked tags; the limit counts the tags the repository has already. */
static int apply_tags(ecr_call *c, const char *repo, const tag_input *tags)
{
    if (!tags->n)
        return REG_OK;
    int err = index_repo_tags_add(c->ix, repo, tags->n, tags->keys, tags->values, ECR_TAGS_MAX);
    if (err == REG_ETOOLARGE)
        return ecr_fail(c, "TooManyTagsException", "%s", reg_error_last("too many tags")), err;
    if (err < 0)
        return ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix)), err;
    return REG_OK;
}

/* Repositories are AES256: S3 objects with server-side encryption, local blobs as the disk
 * keeps them (README). There is no KMS to hold a customer key, so KMS is refused rather than
 * stored as something it is not. */
static int encryption_or_fail(ecr_call *c, json_t *in)
{
    json_t *cfg = json_object_get(in, "encryptionConfiguration");
    const char *type = json_string_value(json_object_get(cfg, "encryptionType"));
    if (!cfg)
        return REG_OK;
    if (type && !strcmp(type, "KMS"))
        return ecr_fail(c, "KmsException",
                        "KMS is not available in this registry: repositories are encrypted "
                        "with AES256 only"),
               REG_EINVALID;
    if (!type || strcmp(type, "AES256") != 0 || json_object_get(cfg, "kmsKey"))
        return ecr_fail(c, "InvalidParameterException",
                        "encryptionConfiguration.encryptionType must be AES256 (without "
                        "kmsKey)"),
               REG_EINVALID;
    return REG_OK;
}

json_t *ecr_create_repository(ecr_call *c, json_t *in)
{
    const char *name = ecr_repo_name(c, in);
    const char *m = json_string_value(json_object_get(in, "imageTagMutability"));
    tag_input tags;
    if (!name || !ecr_allowed(c, name, ACTION_PUSH))
        return NULL;
    if (m && strcmp(m, MUTABLE) != 0 && strcmp(m, IMMUTABLE) != 0)
        return ecr_fail(c, "InvalidParameterException",
                        "imageTagMutability must be MUTABLE or IMMUTABLE");
    int scan_on_push;
    if (tags_or_fail(c, json_object_get(in, "tags"), &tags) < 0 ||
        ecr_scan_on_push_arg(c, in, &scan_on_push) < 0 || encryption_or_fail(c, in) < 0)
        return NULL;
    int err = index_repo_create_scanning(c->ix, name, m ? m : MUTABLE, scan_on_push);
    if (err == REG_ECONFLICT)
        return ecr_fail(c, "RepositoryAlreadyExistsException",
                        "The repository with name '%s' already exists in the registry with id "
                        "'%s'",
                        name, ecr_registry_id(c));
    if (err < 0)
        return ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    if (apply_tags(c, name, &tags) < 0)
        return NULL;
    json_t *repo = describe_one(c, name);
    return repo ? json_pack("{s:o}", "repository", repo) : NULL;
}

/* DescribeRepositories' bounds (the model's): maxResults 1-1000, 100 without it, at most 100
 * repositoryNames. */
#define DESCRIBE_MAX_RESULTS  1000
#define DESCRIBE_DEFAULT_PAGE 100
#define DESCRIBE_MAX_NAMES    100

json_t *ecr_describe_repositories(ecr_call *c, json_t *in)
{
    json_t *names = json_object_get(in, "repositoryNames");
    int64_t limit;
    const char *cursor;
    if (ecr_page_args(c, in, DESCRIBE_MAX_RESULTS, &limit, &cursor) < 0)
        return NULL;
    if (!json_object_get(in, "maxResults"))
        limit = DESCRIBE_DEFAULT_PAGE;
    if (names && (json_object_get(in, "maxResults") || cursor))
        return ecr_fail(c, "InvalidParameterException",
                        "maxResults and nextToken cannot be used together with repositoryNames");
    if (names && !ecr_list_sized(names, DESCRIBE_MAX_NAMES))
        return ecr_fail(c, "InvalidParameterException",
                        "repositoryNames must be a list of 1 to %d names", DESCRIBE_MAX_NAMES);
    json_t *items = json_array();
    if (names) {
        size_t i;
        json_t *n;
        json_array_foreach(names, i, n)
        {
            json_t *shim = json_pack("{s:O}", "repositoryName", n);
            const char *name = ecr_repo_name(c, shim);
            json_t *one = name && ecr_allowed(c, name, ACTION_PULL) ? describe_one(c, name) : NULL;
            json_decref(shim);
            if (!one)
                return json_decref(items), NULL;
            json_array_append_new(items, one);
        }
        return json_pack("{s:o}", "repositories", items);
    }
    repo_list l = {.c = c, .items = items, .filter = 1, .limit = limit};
    int err = index_repo_infos(c->ix, NULL, cursor, INT64_MAX, add_repo, &l);
    if (err < 0 && err != REG_EBUSY)
        return json_decref(items), ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    json_t *out = json_pack("{s:o}", "repositories", items);
    if (l.more && l.last) {
        char *token = ecr_next_token(l.last);
        json_object_set_new(out, "nextToken", json_string(token));
        free(token);
    }
    return out;
}

json_t *ecr_delete_repository(ecr_call *c, json_t *in)
{
    const char *name = ecr_repo_name(c, in);
    if (!name || !ecr_allowed(c, name, ACTION_DELETE))
        return NULL;
    json_t *repo = describe_one(c, name);
    if (!repo)
        return NULL;
    int err = index_repo_delete(c->ix, name, json_is_true(json_object_get(in, "force")));
    if (err == REG_ECONFLICT)
        return json_decref(repo),
               ecr_fail(c, "RepositoryNotEmptyException",
                        "The repository with name '%s' in registry with id '%s' cannot be "
                        "deleted because it still contains images",
                        name, ecr_registry_id(c));
    if (err < 0)
        return json_decref(repo), ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    return json_pack("{s:o}", "repository", repo);
}

json_t *ecr_put_image_tag_mutability(ecr_call *c, json_t *in)
{
    const char *name = ecr_repo_name(c, in);
    const char *m = json_string_value(json_object_get(in, "imageTagMutability"));
    if (!name || !ecr_allowed(c, name, ACTION_PUSH))
        return NULL;
    if (!m || (strcmp(m, MUTABLE) != 0 && strcmp(m, IMMUTABLE) != 0))
        return ecr_fail(c, "InvalidParameterException",
                        "imageTagMutability must be MUTABLE or IMMUTABLE");
    int err = index_repo_set_mutability(c->ix, name, m);
    if (err == REG_ENOTFOUND)
        return ecr_fail(c, "RepositoryNotFoundException",
                        "The repository with name '%s' does not exist", name);
    if (err < 0)
        return ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    return json_pack("{s:s, s:s, s:s}", "registryId", ecr_registry_id(c), "repositoryName", name,
                     "imageTagMutability", m);
}

/* The repository an ARN names, checked to be of this registry and the signed region and to
 * exist; NULL after an error. */
static const char *arn_repo(ecr_call *c, json_t *in, unsigned actions)
{
    const char *arn = json_string_value(json_object_get(in, "resourceArn"));
    const char *ours =
        arena_printf(&c->req->mem, "arn:aws:ecr:%s:%s:repository/", c->region, ecr_registry_id(c));
    if (!arn || strncmp(arn, "arn:aws:ecr:", 12) != 0 || !strstr(arn, ":repository/"))
        return ecr_fail(c, "InvalidParameterException", "resourceArn is not a repository ARN"),
               NULL;
    if (!ours || strncmp(arn, ours, strlen(ours)) != 0)
        return ecr_fail(c, "InvalidParameterException",
                        "resourceArn '%s' is not of this registry: its repositories are %s...", arn,
                        ours ? ours : "?"),
               NULL;
    json_t *shim = json_pack("{s:s}", "repositoryName", arn + strlen(ours));
    const char *name = ecr_repo_name(c, shim);
    name = name ? arena_strdup(&c->req->mem, name) : NULL;
    json_decref(shim);
    json_t *exists = name && ecr_allowed(c, name, actions) ? describe_one(c, name) : NULL;
    if (!exists)
        return NULL;
    json_decref(exists);
    return name;
}

json_t *ecr_tag_resource(ecr_call *c, json_t *in)
{
    const char *name = arn_repo(c, in, ACTION_PUSH);
    tag_input tags;
    if (!name || tags_or_fail(c, json_object_get(in, "tags"), &tags) < 0 ||
        apply_tags(c, name, &tags) < 0)
        return NULL;
    return json_object();
}

json_t *ecr_untag_resource(ecr_call *c, json_t *in)
{
    const char *name = arn_repo(c, in, ACTION_PUSH);
    json_t *keys = json_object_get(in, "tagKeys");
    size_t i;
    json_t *k;
    if (!name)
        return NULL;
    if (!json_is_array(keys))
        return ecr_fail(c, "InvalidParameterException", "tagKeys must be a list");
    json_array_foreach(keys, i, k) if (!tag_key_ok(json_string_value(k))) return ecr_fail(
        c, "InvalidTagParameterException", "each tag key has 1 to %d characters", ECR_TAG_KEY_MAX);
    json_array_foreach(keys, i, k) if (index_repo_tag_delete(c->ix, name, json_string_value(k)) <
                                       0) return ecr_fail(c, "ServerException", "%s",
                                                          index_errmsg(c->ix));
    return json_object();
}

static int add_tag(void *ctx, const char *key, const char *value)
{
    return json_array_append_new(ctx, json_pack("{s:s, s:s}", "Key", key, "Value", value)) == 0
               ? REG_OK
               : REG_ERROR;
}

json_t *ecr_list_tags_for_resource(ecr_call *c, json_t *in)
{
    const char *name = arn_repo(c, in, ACTION_PULL);
    json_t *tags = json_array();
    if (!name || index_repo_tags(c->ix, name, add_tag, tags) < 0) {
        json_decref(tags);
        return name ? ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix)) : NULL;
    }
    return json_pack("{s:o}", "tags", tags);
}

json_t *ecr_describe_registry(ecr_call *c, json_t *in)
{
    if (!ecr_registry_allowed(c, ACTION_PULL))
        return NULL;
    json_t *replication = ecr_replication_configuration(c);
    return replication ? json_pack("{s:s, s:o}", "registryId", ecr_registry_id(c),
                                   "replicationConfiguration", replication)
                       : NULL;
}
