/* ecr_scanning.c - ECR image scanning configuration, kept in the index: a repository's
 * scanOnPush and the registry's scanning rules, stored and answered as set. ocireg has no
 * vulnerability scanner, so StartImageScan and DescribeImageScanFindings say so with the
 * model's errors instead of inventing results. */
#include "auth/policy.h"
#include "auth/scope.h"
#include "server/ecr/ecr.h"
#include "storage/index/index_repos.h"
#include "storage/base/reg_error.h"

#include <stdlib.h>
#include <string.h>

/* The model's bounds. */
#define SCAN_BATCH_NAMES_MAX 25  /* BatchGetRepositoryScanningConfiguration repositoryNames */
#define SCAN_RULES_MAX       2   /* RegistryScanningRuleList */
#define SCAN_FILTERS_MAX     100 /* ScanningRepositoryFilterList */
#define SCAN_FILTER_LEN_MAX  255 /* ScanningRepositoryFilterValue */

#define REGISTRY_SCANNING_SETTING "ecr.registry_scanning"
#define NO_SCANNER                                                                                 \
    "ocireg has no vulnerability scanner: image scanning is not available (scanning "              \
    "configuration is stored only)"

int ecr_scan_on_push_arg(ecr_call *c, json_t *in, int *out)
{
    json_t *cfg = json_object_get(in, "imageScanningConfiguration");
    json_t *flag = json_object_get(cfg, "scanOnPush");
    *out = json_is_true(flag);
    if ((cfg && !json_is_object(cfg)) || (flag && !json_is_boolean(flag)))
        return ecr_fail(c, "InvalidParameterException",
                        "imageScanningConfiguration.scanOnPush must be true or false"),
               REG_EINVALID;
    return REG_OK;
}

static int keep_scan_flag(void *ctx, const repo_info *r)
{
    *(int *)ctx = r->scan_on_push;
    return REG_OK;
}

/* A repository's scanOnPush; REG_ENOTFOUND (nothing recorded) or an error recorded. */
static int repo_scan_on_push(ecr_call *c, const char *name, int *out)
{
    int err = index_repo_infos(c->ix, name, NULL, 1, keep_scan_flag, out);
    if (err < 0 && err != REG_ENOTFOUND)
        ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    return err;
}

static json_t *repo_not_found(ecr_call *c, const char *name)
{
    return ecr_fail(c, "RepositoryNotFoundException",
                    "The repository with name '%s' does not exist in the registry with id '%s'",
                    name, ecr_registry_id(c));
}

json_t *ecr_put_image_scanning_configuration(ecr_call *c, json_t *in)
{
    const char *name = ecr_repo_name(c, in);
    int flag;
    if (!name || !ecr_allowed(c, name, ACTION_PUSH) || ecr_scan_on_push_arg(c, in, &flag) < 0)
        return NULL;
    if (!json_is_object(json_object_get(in, "imageScanningConfiguration")))
        return ecr_fail(c, "InvalidParameterException", "imageScanningConfiguration is required");
    int err = index_repo_set_scan_on_push(c->ix, name, flag);
    if (err == REG_ENOTFOUND)
        return repo_not_found(c, name);
    if (err < 0)
        return ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    return json_pack("{s:s, s:s, s:{s:b}}", "registryId", ecr_registry_id(c), "repositoryName",
                     name, "imageScanningConfiguration", "scanOnPush", flag);
}

/* The stored registry configuration, or the default (BASIC, no rules); NULL after an error. */
static json_t *registry_scanning(ecr_call *c)
{
    char *text = NULL;
    int err = index_registry_setting(&text, c->ix, REGISTRY_SCANNING_SETTING);
    if (err == REG_ENOTFOUND)
        return json_pack("{s:s, s:[]}", "scanType", "BASIC", "rules");
    if (err < 0)
        return ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    json_t *cfg = json_loads(text, 0, NULL);
    free(text);
    return cfg ? cfg
               : ecr_fail(c, "ServerException", "the stored scanning configuration is unreadable");
}

/* A repository's configuration: the first registry rule with a filter matching its name
 * decides the frequency (and lists those filters), else its own scanOnPush. */
static json_t *repo_scanning(ecr_call *c, json_t *registry, const char *name, int scan_on_push)
{
    const char *frequency = scan_on_push ? "SCAN_ON_PUSH" : "MANUAL";
    json_t *applied = json_array();
    size_t i, j;
    json_t *rule, *filter;
    json_array_foreach(json_object_get(registry, "rules"), i, rule)
    {
        json_array_foreach(json_object_get(rule, "repositoryFilters"), j, filter)
        {
            const char *pattern = json_string_value(json_object_get(filter, "filter"));
            if (pattern && pattern_match(pattern, name))
                json_array_append(applied, filter);
        }
        if (json_array_size(applied)) {
            frequency = json_string_value(json_object_get(rule, "scanFrequency"));
            break;
        }
    }
    return json_pack("{s:s, s:s, s:b, s:s, s:o}", "repositoryArn", ecr_repo_arn(c, name),
                     "repositoryName", name, "scanOnPush", !strcmp(frequency, "SCAN_ON_PUSH"),
                     "scanFrequency", frequency, "appliedScanFilters", applied);
}

json_t *ecr_batch_get_repository_scanning_configuration(ecr_call *c, json_t *in)
{
    json_t *names = json_object_get(in, "repositoryNames");
    size_t i;
    json_t *n;
    if (!ecr_list_sized(names, SCAN_BATCH_NAMES_MAX))
        return ecr_fail(c, "InvalidParameterException",
                        "repositoryNames must be a list of 1 to %d names", SCAN_BATCH_NAMES_MAX);
    json_t *registry = registry_scanning(c);
    json_t *found = json_array(), *failures = json_array();
    json_t *out = NULL;
    json_array_foreach(names, i, n)
    {
        json_t *shim = json_pack("{s:O}", "repositoryName", n);
        const char *name = registry ? ecr_repo_name(c, shim) : NULL;
        int flag = 0, err = name && ecr_allowed(c, name, ACTION_PULL)
                                ? repo_scan_on_push(c, name, &flag)
                                : REG_EINVALID;
        if (err == REG_OK)
            json_array_append_new(found, repo_scanning(c, registry, name, flag));
        else if (err == REG_ENOTFOUND)
            json_array_append_new(failures,
                                  json_pack("{s:s, s:s, s:s}", "repositoryName", name,
                                            "failureCode", "REPOSITORY_NOT_FOUND", "failureReason",
                                            "The repository does not exist in this registry"));
        json_decref(shim);
        if (err < 0 && err != REG_ENOTFOUND)
            goto done;
    }
    out = json_pack("{s:O, s:O}", "scanningConfigurations", found, "failures", failures);
done:
    json_decref(registry);
    json_decref(found);
    json_decref(failures);
    return out;
}

json_t *ecr_get_registry_scanning_configuration(ecr_call *c, json_t *in)
{
    if (!ecr_registry_allowed(c, ACTION_PULL))
        return NULL;
    json_t *cfg = registry_scanning(c);
    return cfg ? json_pack("{s:s, s:o}", "registryId", ecr_registry_id(c), "scanningConfiguration",
                           cfg)
               : NULL;
}

/* The model's ScanningRepositoryFilterValue, ^[a-z0-9*](?:[._\-/a-z0-9*]?[a-z0-9*]+)*$: name
 * characters and '*', starting and ending with one that is not a separator, no two separators
 * together. */
static int filter_ok(const char *f)
{
    size_t n = f ? strlen(f) : 0;
    if (n < 1 || n > SCAN_FILTER_LEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int word = (f[i] >= 'a' && f[i] <= 'z') || (f[i] >= '0' && f[i] <= '9') || f[i] == '*';
        if (word)
            continue;
        if (!strchr("._-/", f[i]) || i == 0 || i == n - 1 || strchr("._-/", f[i + 1]))
            return 0;
    }
    return 1;
}

/* One rule of the input, checked and rebuilt (unknown members dropped); NULL after an error. */
static json_t *rule_or_fail(ecr_call *c, json_t *rule)
{
    const char *frequency = json_string_value(json_object_get(rule, "scanFrequency"));
    json_t *filters = json_object_get(rule, "repositoryFilters");
    size_t i;
    json_t *f;
    if (!frequency || !json_is_array(filters))
        return ecr_fail(c, "InvalidParameterException",
                        "each rule needs scanFrequency and repositoryFilters");
    if (strcmp(frequency, "SCAN_ON_PUSH") != 0 && strcmp(frequency, "MANUAL") != 0)
        return ecr_fail(c, "ValidationException",
                        "scanFrequency %s is not available: BASIC scanning takes SCAN_ON_PUSH "
                        "or MANUAL",
                        frequency);
    if (json_array_size(filters) > SCAN_FILTERS_MAX)
        return ecr_fail(c, "InvalidParameterException", "a rule has at most %d filters",
                        SCAN_FILTERS_MAX);
    json_t *out = json_array();
    json_array_foreach(filters, i, f)
    {
        const char *value = json_string_value(json_object_get(f, "filter"));
        const char *type = json_string_value(json_object_get(f, "filterType"));
        if (!filter_ok(value) || !type || strcmp(type, "WILDCARD") != 0)
            return json_decref(out),
                   ecr_fail(c, "InvalidParameterException",
                            "each repository filter needs filterType WILDCARD and a filter of 1 "
                            "to %d characters [a-z0-9._/-] and '*'",
                            SCAN_FILTER_LEN_MAX);
        json_array_append_new(out, json_pack("{s:s, s:s}", "filter", value, "filterType", type));
    }
    return json_pack("{s:s, s:o}", "scanFrequency", frequency, "repositoryFilters", out);
}

/* The input's configuration, checked and rebuilt; NULL after an error. */
static json_t *registry_config_or_fail(ecr_call *c, json_t *in)
{
    const char *type = json_string_value(json_object_get(in, "scanType"));
    json_t *rules = json_object_get(in, "rules");
    size_t i;
    json_t *r;
    if (json_object_get(in, "scanType") && !type)
        return ecr_fail(c, "InvalidParameterException", "scanType must be BASIC or ENHANCED");
    if (type && !strcmp(type, "ENHANCED"))
        return ecr_fail(c, "ValidationException",
                        "ENHANCED scanning (Amazon Inspector) is not available in this registry");
    if (type && strcmp(type, "BASIC") != 0)
        return ecr_fail(c, "InvalidParameterException", "scanType must be BASIC or ENHANCED");
    if (rules && (!json_is_array(rules) || json_array_size(rules) > SCAN_RULES_MAX))
        return ecr_fail(c, "InvalidParameterException", "rules must be a list of at most %d",
                        SCAN_RULES_MAX);
    json_t *out = json_array();
    json_array_foreach(rules, i, r)
    {
        json_t *rule = rule_or_fail(c, r);
        if (!rule)
            return json_decref(out), NULL;
        json_array_append_new(out, rule);
    }
    return json_pack("{s:s, s:o}", "scanType", "BASIC", "rules", out);
}

json_t *ecr_put_registry_scanning_configuration(ecr_call *c, json_t *in)
{
    if (!ecr_registry_allowed(c, ACTION_ADMIN))
        return NULL;
    json_t *cfg = registry_config_or_fail(c, in);
    char *text = cfg ? json_dumps(cfg, JSON_COMPACT) : NULL;
    int err = text ? index_registry_setting_set(c->ix, REGISTRY_SCANNING_SETTING, text) : REG_OK;
    free(text);
    if (!cfg)
        return NULL;
    if (err < 0 || !text)
        return json_decref(cfg), ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    return json_pack("{s:o}", "registryScanningConfiguration", cfg);
}

/* The repository named, checked: allowed and present; NULL after an error. */
static const char *scan_target(ecr_call *c, json_t *in, unsigned actions)
{
    const char *name = ecr_repo_name(c, in);
    int flag;
    if (!name || !ecr_allowed(c, name, actions))
        return NULL;
    int err = repo_scan_on_push(c, name, &flag);
    if (err == REG_ENOTFOUND)
        return repo_not_found(c, name), NULL;
    return err < 0 ? NULL : name;
}

json_t *ecr_start_image_scan(ecr_call *c, json_t *in)
{
    if (!scan_target(c, in, ACTION_PUSH))
        return NULL;
    return ecr_fail(c, "ValidationException", "%s", NO_SCANNER);
}

json_t *ecr_describe_image_scan_findings(ecr_call *c, json_t *in)
{
    if (!scan_target(c, in, ACTION_PULL))
        return NULL;
    return ecr_fail(c, "ScanNotFoundException",
                    "no scan findings for this image: %s, so no image is ever scanned", NO_SCANNER);
}
