/* ecr_replication.c - ECR's replication API: PutReplicationConfiguration (rules checked
 * against the model's limits), the configuration DescribeRegistry shows, and
 * DescribeImageReplicationStatus (each image's status per destination, which the push engine,
 * storage/replicate, records). Where a destination is, ocireg's own map says (`ocireg
 * replication destination add`). */
#include "server/ecr/ecr.h"
#include "auth/destinations.h"
#include "auth/policy.h"
#include "auth/scope.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"
#include "storage/index/index_replication.h"

#include <string.h>

/* The model's bounds: ReplicationRuleList max 10, ReplicationDestinationList max 25,
 * RepositoryFilterList 1 to 100, RepositoryFilterValue 2 to 256 characters. */
#define RULES_MAX        10
#define DESTINATIONS_MAX 25
#define FILTERS_MAX      100
#define FILTER_LEN_MIN   2
#define FILTER_LEN_MAX   256

/* RepositoryFilterValue's pattern,
 * ^(?:[a-z0-9]+(?:[._-][a-z0-9]*)*\/)*[a-z0-9]*(?:[._-][a-z0-9]*)*$: characters [a-z0-9._-] in
 * segments split by '/', each but the last starting with [a-z0-9]. */
static int filter_ok(const char *f)
{
    size_t n = strlen(f);
    int segment_start = 1;
    if (n < FILTER_LEN_MIN || n > FILTER_LEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int alnum = (f[i] >= 'a' && f[i] <= 'z') || (f[i] >= '0' && f[i] <= '9');
        if (f[i] == '/') {
            if (segment_start)
                return 0;
            segment_start = 1;
            continue;
        }
        if (!alnum && !strchr("._-", f[i]))
            return 0;
        if (segment_start && !alnum && strchr(f + i, '/'))
            return 0;
        segment_start = 0;
    }
    return 1;
}

/* One rule's destinations, checked, into regions and ids (DESTINATIONS_MAX each); REG_EINVALID
 * after an error. */
static int destinations_or_fail(ecr_call *c, json_t *list, const char **regions, const char **ids,
                                size_t *n_out)
{
    size_t i, j;
    json_t *d;
    if (!json_is_array(list))
        return ecr_fail(c, "InvalidParameterException", "each rule needs a destinations list"),
               REG_EINVALID;
    if (!ecr_list_sized(list, DESTINATIONS_MAX))
        return ecr_fail(c, "ValidationException", "a rule has 1 to %d destinations",
                        DESTINATIONS_MAX),
               REG_EINVALID;
    json_array_foreach(list, i, d)
    {
        const char *region = json_string_value(json_object_get(d, "region"));
        const char *id = json_string_value(json_object_get(d, "registryId"));
        if (!region || !id)
            return ecr_fail(c, "InvalidParameterException",
                            "each destination needs a region and a registryId"),
                   REG_EINVALID;
        if (!destination_region_valid(region) || !destination_registry_id_valid(id))
            return ecr_fail(c, "ValidationException",
                            "destination %s/%s: a region is 2 to 25 of [0-9a-z-] and a registryId "
                            "12 digits",
                            region, id),
                   REG_EINVALID;
        if (!strcmp(id, ecr_registry_id(c)) && c->region && !strcmp(region, c->region))
            return ecr_fail(c, "ValidationException",
                            "destination %s/%s is this registry: a registry does not replicate "
                            "to itself",
                            region, id),
                   REG_EINVALID;
        for (j = 0; j < i; j++)
            if (!strcmp(regions[j], region) && !strcmp(ids[j], id))
                return ecr_fail(c, "ValidationException",
                                "destination %s/%s is listed twice in a rule", region, id),
                       REG_EINVALID;
        regions[i] = region;
        ids[i] = id;
    }
    *n_out = json_array_size(list);
    return REG_OK;
}

static int filters_or_fail(ecr_call *c, json_t *list, const char **filters, size_t *n_out)
{
    size_t i;
    json_t *f;
    *n_out = 0;
    if (!list)
        return REG_OK;
    if (!ecr_list_sized(list, FILTERS_MAX))
        return ecr_fail(c, "ValidationException", "repositoryFilters lists 1 to %d filters",
                        FILTERS_MAX),
               REG_EINVALID;
    json_array_foreach(list, i, f)
    {
        const char *value = json_string_value(json_object_get(f, "filter"));
        const char *type = json_string_value(json_object_get(f, "filterType"));
        if (!value || !type)
            return ecr_fail(c, "InvalidParameterException",
                            "each repository filter needs filter and filterType"),
                   REG_EINVALID;
        if (strcmp(type, REPLICATION_PREFIX_MATCH) != 0)
            return ecr_fail(c, "ValidationException", "filterType must be PREFIX_MATCH"),
                   REG_EINVALID;
        if (!filter_ok(value))
            return ecr_fail(c, "ValidationException",
                            "filter '%s': %d to %d characters of a repository name's prefix "
                            "([a-z0-9._-] and '/')",
                            value, FILTER_LEN_MIN, FILTER_LEN_MAX),
                   REG_EINVALID;
        filters[i] = value;
    }
    *n_out = json_array_size(list);
    return REG_OK;
}

/* The rules' strings point into the input, which outlives them. */
typedef struct rule_arrays {
    const char *regions[DESTINATIONS_MAX], *ids[DESTINATIONS_MAX], *filters[FILTERS_MAX];
} rule_arrays;

json_t *ecr_put_replication_configuration(ecr_call *c, json_t *in)
{
    json_t *cfg = json_object_get(in, "replicationConfiguration");
    json_t *rules = json_object_get(cfg, "rules"), *r;
    replication_rule parsed[RULES_MAX];
    rule_arrays arrays[RULES_MAX];
    size_t i;
    if (!ecr_registry_allowed(c, ACTION_ADMIN))
        return NULL;
    if (!json_is_array(rules))
        return ecr_fail(c, "InvalidParameterException",
                        "replicationConfiguration needs a rules list");
    if (json_array_size(rules) > RULES_MAX)
        return ecr_fail(c, "ValidationException",
                        "a replication configuration has at most %d rules", RULES_MAX);
    json_array_foreach(rules, i, r)
    {
        replication_rule *p = &parsed[i];
        if (destinations_or_fail(c, json_object_get(r, "destinations"), arrays[i].regions,
                                 arrays[i].ids, &p->ndestinations) < 0 ||
            filters_or_fail(c, json_object_get(r, "repositoryFilters"), arrays[i].filters,
                            &p->nfilters) < 0)
            return NULL;
        p->regions = arrays[i].regions;
        p->registry_ids = arrays[i].ids;
        p->filters = arrays[i].filters;
    }
    if (index_replication_config_put(c->ix, parsed, json_array_size(rules)) < 0)
        return ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    json_t *stored = ecr_replication_configuration(c);
    return stored ? json_pack("{s:o}", "replicationConfiguration", stored) : NULL;
}

/* The rule object of number `rule` in `rules`, made with empty lists as needed. */
static json_t *rule_at(json_t *rules, int64_t rule)
{
    while ((int64_t)json_array_size(rules) <= rule)
        json_array_append_new(rules, json_pack("{s:[]}", "destinations"));
    return json_array_get(rules, (size_t)rule);
}

static int add_destination(void *ctx, int64_t rule, const char *region, const char *registry_id)
{
    json_t *r = rule_at(ctx, rule);
    return json_array_append_new(
               json_object_get(r, "destinations"),
               json_pack("{s:s, s:s}", "region", region, "registryId", registry_id)) < 0
               ? REG_ERROR
               : REG_OK;
}

static int add_filter(void *ctx, int64_t rule, const char *filter, const char *filter_type)
{
    json_t *r = rule_at(ctx, rule);
    json_t *filters = json_object_get(r, "repositoryFilters");
    if (!filters)
        json_object_set_new(r, "repositoryFilters", filters = json_array());
    return json_array_append_new(
               filters, json_pack("{s:s, s:s}", "filter", filter, "filterType", filter_type)) < 0
               ? REG_ERROR
               : REG_OK;
}

json_t *ecr_replication_configuration(ecr_call *c)
{
    json_t *rules = json_array();
    if (index_replication_rule_destinations(c->ix, add_destination, rules) < 0 ||
        index_replication_rule_filters(c->ix, add_filter, rules) < 0) {
        json_decref(rules);
        return ecr_fail(c, "ServerException", "%s", reg_error_last(index_errmsg(c->ix)));
    }
    return json_pack("{s:o}", "rules", rules);
}

/* The manifest an imageId names; REG_ENOTFOUND (or another code) after recording the error. */
static int image_or_fail(manifest_row *out, ecr_call *c, const char *repo, json_t *id)
{
    const char *dg = json_string_value(json_object_get(id, "imageDigest"));
    const char *tag = json_string_value(json_object_get(id, "imageTag"));
    digest d;
    int err;
    if (!dg && !tag)
        return ecr_fail(c, "InvalidParameterException", "imageId needs imageDigest or imageTag"),
               REG_EINVALID;
    if ((dg && digest_parse(&d, dg) < 0) || (tag && reference_check_tag(tag) < 0))
        return ecr_fail(c, "InvalidParameterException", "imageId has an invalid digest or tag"),
               REG_EINVALID;
    err = tag ? index_manifest_by_tag(out, c->ix, repo, tag)
              : index_manifest_by_digest(out, c->ix, repo, &d);
    if (err == REG_OK && tag && dg && strcmp(out->dg.str, dg) != 0)
        err = REG_ENOTFOUND;
    if (err == REG_ENOTFOUND)
        ecr_fail(c, "ImageNotFoundException",
                 "The image requested does not exist in the specified repository.");
    else if (err < 0)
        ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    return err;
}

static int add_status(void *ctx, const char *region, const char *registry_id, const char *status,
                      const char *reason, int64_t updated_at)
{
    json_t *s =
        json_pack("{s:s, s:s, s:s}", "region", region, "registryId", registry_id, "status", status);
    if (s && reason)
        json_object_set_new(s, "failureCode", json_string(reason));
    return json_array_append_new(ctx, s) < 0 ? REG_ERROR : REG_OK;
}

json_t *ecr_describe_image_replication_status(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in);
    json_t *id = json_object_get(in, "imageId");
    manifest_row m;
    if (!repo || !ecr_repo_ready(c, repo, ACTION_PULL))
        return NULL;
    if (!json_is_object(id))
        return ecr_fail(c, "InvalidParameterException", "imageId is required");
    if (image_or_fail(&m, c, repo, id) < 0)
        return NULL;
    json_t *statuses = json_array();
    if (index_replication_statuses(c->ix, repo, m.dg.str, add_status, statuses) < 0) {
        json_decref(statuses);
        return ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    }
    json_t *image_id = json_pack("{s:s}", "imageDigest", m.dg.str);
    const char *tag = json_string_value(json_object_get(id, "imageTag"));
    if (tag)
        json_object_set_new(image_id, "imageTag", json_string(tag));
    return json_pack("{s:s, s:o, s:o}", "repositoryName", repo, "imageId", image_id,
                     "replicationStatuses", statuses);
}
