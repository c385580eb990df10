/* cache_rules.h - what a pull-through cache rule may say (prefix, upstream URL, upstream prefix)
 * and which upstream repository a cached repository stands for. */
#ifndef OCIREG_CACHE_RULES_H
#define OCIREG_CACHE_RULES_H

#include "storage/index/index_cache.h"

#include <stddef.h>

/* ECR's tag re-check interval: a pull by tag asks the upstream again after this long. */
#define CACHE_TTL_DEFAULT (24 * 3600)

/* REG_EINVALID (reg_error_last says why) unless `prefix` is 2 to 20 characters of
 * [a-z0-9]+(?:[._-][a-z0-9]+)* (ECR's PullThroughCacheRuleRepositoryPrefix). */
int cache_prefix_check(const char *prefix);

/* The upstream URL in the form kept: "host[:port]" becomes "https://host[:port]"; "http://"
 * and "https://" are kept; a trailing '/' goes. REG_EINVALID for another scheme, a path, a
 * query, credentials in the URL or a host that is not [A-Za-z0-9.-] (IPv6 in brackets ok). */
int cache_url_normalize(char *out, size_t n, const char *url);

/* REG_EINVALID unless `prefix` is "" or a repository name (reference_check_name). */
int cache_upstream_prefix_check(const char *prefix);

/* The upstream repository of cached repository `repo` under `rule` (repo starts with
 * "<rule prefix>/"): the rest of the name, under the upstream prefix when there is one. */
int cache_upstream_repo(char *out, size_t n, const cache_rule *rule, const char *repo);

#endif
