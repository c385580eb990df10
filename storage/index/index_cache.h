/* index_cache.h - pull-through cache rules in the index (a repository prefix mapped to an
 * upstream registry, its password as a sealed box) and when each cached tag was last checked. */
#ifndef OCIREG_INDEX_CACHE_H
#define OCIREG_INDEX_CACHE_H

#include "storage/base/digest.h"
#include "storage/index/index.h"

#include <stddef.h>
#include <stdint.h>

#define CACHE_PREFIX_MAX          20 /* ECR's PullThroughCacheRuleRepositoryPrefix */
#define CACHE_URL_MAX             512
#define CACHE_UPSTREAM_PREFIX_MAX 255
#define CACHE_USERNAME_MAX        255
#define CACHE_PASSWORD_MAX        1024 /* plaintext bytes */
#define CACHE_SEALED_MAX          (CACHE_PASSWORD_MAX + 64)
#define CACHE_ARN_MAX             612
#define CACHE_CA_FILE_MAX         1024
#define CACHE_RULES_MAX           50 /* ECR's quota of rules per registry */

typedef struct cache_rule {
    char prefix[CACHE_PREFIX_MAX + 1];
    char upstream_url[CACHE_URL_MAX + 1];                /* "https://host[:port]" */
    char upstream_prefix[CACHE_UPSTREAM_PREFIX_MAX + 1]; /* "" for none */
    char username[CACHE_USERNAME_MAX + 1];               /* "" for anonymous */
    unsigned char password[CACHE_SEALED_MAX];            /* sealed; password_len 0: none */
    size_t password_len;
    char credential_arn[CACHE_ARN_MAX + 1]; /* kept as given, "" for none */
    int64_t ttl_seconds;
    char ca_file[CACHE_CA_FILE_MAX + 1]; /* "" for the system's CAs */
    int64_t created_at;
} cache_rule;

/* Add a rule (its created_at is set to now): REG_ECONFLICT when its prefix has one,
 * REG_ETOOLARGE when CACHE_RULES_MAX exist. */
int index_cache_rule_add(index_db *ix, cache_rule *rule);
/* The rule of `prefix`; REG_ENOTFOUND if none. */
int index_cache_rule_get(cache_rule *out, index_db *ix, const char *prefix);
/* The rule whose prefix is the first path components of `repo` (the longest such); REG_ENOTFOUND
 * if none. */
int index_cache_rule_match(cache_rule *out, index_db *ix, const char *repo);
/* Remove the rule of `prefix`; REG_ENOTFOUND if none. */
int index_cache_rule_delete(index_db *ix, const char *prefix);

typedef int (*index_cache_rule_cb)(void *ctx, const cache_rule *rule);
/* Every rule in prefix order (only `prefix`'s when not NULL). */
int index_cache_rules(index_db *ix, const char *prefix, index_cache_rule_cb cb, void *ctx);

/* The size of a blob the registry holds in any repository; REG_ENOTFOUND if none (a pull-through
 * fill links it instead of fetching it again). */
int index_cache_blob_size(uint64_t *out, index_db *ix, const digest *d);

/* When the tag was last checked against its upstream (0: never). */
int index_cache_tag_checked_at(int64_t *out, index_db *ix, const char *repo, const char *tag);
int index_cache_tag_checked(index_db *ix, const char *repo, const char *tag, int64_t when);

#endif
