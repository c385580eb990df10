/* ecr_cache_rules.c - ECR's pull-through cache rules: Create/Describe/
 * DeletePullThroughCacheRule over the index's rules (index_cache.h), with the model's
 * validation and errors. A credentialArn (a Secrets Manager secret) is accepted and kept, but
 * ocireg cannot read Secrets Manager: credentials come from `ocireg cache-rule add
 * --username --password-stdin`. */
#include "auth/scope.h"
#include "server/ecr/ecr.h"
#include "storage/base/reg_error.h"
#include "storage/cache_rules.h"

#include <string.h>

/* DescribePullThroughCacheRules' ecrRepositoryPrefixes: 1 to 100 (the model's bounds); its
 * maxResults at most 1000. */
#define PREFIXES_MAX         100
#define DESCRIBE_MAX_RESULTS 1000

static json_t *rule_json(ecr_call *c, const cache_rule *r)
{
    return json_pack("{s:s, s:s, s:I, s:s}", "ecrRepositoryPrefix", r->prefix,
                     "upstreamRegistryUrl", r->upstream_url, "createdAt", (json_int_t)r->created_at,
                     "registryId", ecr_registry_id(c));
}

/* A prefix member (required or not): NULL after InvalidParameterException. */
static const char *prefix_arg(ecr_call *c, json_t *value)
{
    const char *p = json_string_value(value);
    if (!p)
        return ecr_fail(c, "InvalidParameterException", "ecrRepositoryPrefix must be a string"),
               NULL;
    if (cache_prefix_check(p) < 0)
        return ecr_fail(c, "InvalidParameterException", "%s", reg_error_last("invalid prefix")),
               NULL;
    return p;
}

/* An optional string member of at most max bytes into out ("" when absent). */
static int optional_text(ecr_call *c, char *out, size_t max, json_t *in, const char *key)
{
    json_t *v = json_object_get(in, key);
    out[0] = '\0';
    if (!v)
        return REG_OK;
    if (!json_is_string(v) || strlen(json_string_value(v)) > max) {
        ecr_fail(c, "InvalidParameterException", "%s must be a string of at most %zu characters",
                 key, max);
        return REG_EINVALID;
    }
    memcpy(out, json_string_value(v), strlen(json_string_value(v)) + 1);
    return REG_OK;
}

/* The rule the input describes; REG_EINVALID after recording the error. */
static int rule_from_input(ecr_call *c, cache_rule *r, json_t *in)
{
    const char *prefix = prefix_arg(c, json_object_get(in, "ecrRepositoryPrefix"));
    const char *url = json_string_value(json_object_get(in, "upstreamRegistryUrl"));
    memset(r, 0, sizeof(*r));
    if (!prefix)
        return REG_EINVALID;
    memcpy(r->prefix, prefix, strlen(prefix) + 1);
    if (!url) {
        ecr_fail(c, "InvalidParameterException", "upstreamRegistryUrl must be a string");
        return REG_EINVALID;
    }
    if (cache_url_normalize(r->upstream_url, sizeof(r->upstream_url), url) < 0) {
        ecr_fail(c, "UnsupportedUpstreamRegistryException", "%s",
                 reg_error_last("unsupported upstream"));
        return REG_EINVALID;
    }
    if (optional_text(c, r->credential_arn, CACHE_ARN_MAX, in, "credentialArn") < 0 ||
        optional_text(c, r->upstream_prefix, CACHE_UPSTREAM_PREFIX_MAX, in,
                      "upstreamRepositoryPrefix") < 0)
        return REG_EINVALID;
    if (cache_upstream_prefix_check(r->upstream_prefix) < 0) {
        ecr_fail(c, "InvalidParameterException", "%s", reg_error_last("invalid upstream prefix"));
        return REG_EINVALID;
    }
    r->ttl_seconds = CACHE_TTL_DEFAULT;
    return REG_OK;
}

json_t *ecr_create_pull_through_cache_rule(ecr_call *c, json_t *in)
{
    cache_rule r;
    if (!ecr_registry_allowed(c, ACTION_ADMIN) || rule_from_input(c, &r, in) < 0)
        return NULL;
    int err = index_cache_rule_add(c->ix, &r);
    if (err == REG_ECONFLICT)
        return ecr_fail(c, "PullThroughCacheRuleAlreadyExistsException",
                        "A pull through cache rule with prefix '%s' already exists", r.prefix);
    if (err == REG_ETOOLARGE)
        return ecr_fail(c, "LimitExceededException", "%s", reg_error_last("too many rules"));
    if (err < 0)
        return ecr_fail(c, "ServerException", "%s", reg_error_last("the rule cannot be stored"));
    return rule_json(c, &r);
}

static json_t *not_found(ecr_call *c, const char *prefix)
{
    return ecr_fail(c, "PullThroughCacheRuleNotFoundException",
                    "The pull through cache rule with prefix '%s' does not exist in the registry "
                    "with id '%s'",
                    prefix, ecr_registry_id(c));
}

static int add_rule(void *ctx, const cache_rule *r)
{
    ecr_call *c = ((void **)ctx)[0];
    json_t *all = ((void **)ctx)[1];
    return json_array_append_new(all, rule_json(c, r)) == 0 ? REG_OK : REG_ERROR;
}

/* The rules named by ecrRepositoryPrefixes (every one must exist), else all of them, appended
 * to all; REG_EINVALID after recording the error. */
static int collect_rules(ecr_call *c, json_t *in, json_t *all)
{
    void *ctx[2] = {c, all};
    json_t *prefixes = json_object_get(in, "ecrRepositoryPrefixes"), *p;
    size_t i;
    if (!prefixes)
        return index_cache_rules(c->ix, NULL, add_rule, ctx) < 0
                   ? (ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix)), REG_ERROR)
                   : REG_OK;
    if (!ecr_list_sized(prefixes, PREFIXES_MAX)) {
        ecr_fail(c, "InvalidParameterException",
                 "ecrRepositoryPrefixes must be a list of 1 to %d prefixes", PREFIXES_MAX);
        return REG_EINVALID;
    }
    json_array_foreach(prefixes, i, p)
    {
        const char *prefix = prefix_arg(c, p);
        size_t before = json_array_size(all);
        if (!prefix)
            return REG_EINVALID;
        if (index_cache_rules(c->ix, prefix, add_rule, ctx) < 0) {
            ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
            return REG_ERROR;
        }
        if (json_array_size(all) == before) {
            not_found(c, prefix);
            return REG_EINVALID;
        }
    }
    return REG_OK;
}

json_t *ecr_describe_pull_through_cache_rules(ecr_call *c, json_t *in)
{
    int64_t limit;
    const char *cursor;
    if (!ecr_registry_allowed(c, ACTION_PULL) ||
        ecr_page_args(c, in, DESCRIBE_MAX_RESULTS, &limit, &cursor) < 0)
        return NULL;
    json_t *all = json_array(), *out = json_object();
    if (collect_rules(c, in, all) < 0 ||
        ecr_page_list(c, out, "pullThroughCacheRules", json_incref(all), cursor, limit) < 0) {
        json_decref(all);
        json_decref(out);
        return NULL;
    }
    json_decref(all);
    return out;
}

json_t *ecr_delete_pull_through_cache_rule(ecr_call *c, json_t *in)
{
    cache_rule r;
    const char *prefix;
    if (!ecr_registry_allowed(c, ACTION_ADMIN) ||
        !(prefix = prefix_arg(c, json_object_get(in, "ecrRepositoryPrefix"))))
        return NULL;
    int err = index_cache_rule_get(&r, c->ix, prefix);
    if (err == REG_OK)
        err = index_cache_rule_delete(c->ix, prefix);
    if (err == REG_ENOTFOUND)
        return not_found(c, prefix);
    if (err < 0)
        return ecr_fail(c, "ServerException", "%s", reg_error_last("the rule cannot be deleted"));
    return rule_json(c, &r);
}
