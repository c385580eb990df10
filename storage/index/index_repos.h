/* index_repos.h - repository administration and image metadata in the index: explicit
 * create/delete, tag mutability, lifecycle policy text, per-image sizes and times, and the
 * batched recording of pulls. */
#ifndef OCIREG_INDEX_REPOS_H
#define OCIREG_INDEX_REPOS_H

#include "storage/index/index.h"

#include <stdint.h>

#define MUTABLE   "MUTABLE"
#define IMMUTABLE "IMMUTABLE"

typedef struct repo_info {
    const char *name;
    int64_t created_at;
    const char *mutability;
    int has_policy;
    int64_t image_count;
    int64_t tag_count;
    int64_t size_bytes; /* sum of the repository's distinct blob sizes */
    int scan_on_push;   /* ECR imageScanningConfiguration (stored only: no scanner runs) */
} repo_info;

/* REG_ECONFLICT if it exists already. */
int index_repo_create(index_db *ix, const char *name, const char *mutability);
/* The same with the repository's scanOnPush setting. */
int index_repo_create_scanning(index_db *ix, const char *name, const char *mutability,
                               int scan_on_push);
/* Remove a repository with its tags, manifests and blob links (files go with gc), in a write
 * transaction of its own (call it outside one). REG_ECONFLICT when it still has images and
 * !force; REG_ENOTFOUND when absent. */
int index_repo_delete(index_db *ix, const char *name, int force);

typedef int (*index_repo_cb)(void *ctx, const repo_info *info);
/* One repository (name) or all (name NULL), in name order, after `after` (NULL: start),
 * at most `limit`. */
int index_repo_infos(index_db *ix, const char *name, const char *after, int64_t limit,
                     index_repo_cb cb, void *ctx);

/* The repositories with a lifecycle policy (name NULL: all; else that one if it has one), in
 * name order: without counting their images as index_repo_infos does. */
int index_repos_with_policy(index_db *ix, const char *name, index_name_cb cb, void *ctx);

int index_repo_set_mutability(index_db *ix, const char *name, const char *mutability);
/* REG_ENOTFOUND when the repository does not exist. */
int index_repo_set_scan_on_push(index_db *ix, const char *name, int scan_on_push);
/* Whether tags of repo_id are immutable. */
int index_repo_immutable(int *out, index_db *ix, int64_t repo_id);

/* Lifecycle policy JSON text: *out is malloc'd (caller frees); REG_ENOTFOUND when none. */
int index_repo_policy(char **out, index_db *ix, const char *name);
/* Set (text) or remove (NULL) the policy; REG_ENOTFOUND when the repository does not exist. */
int index_repo_set_policy(index_db *ix, const char *name, const char *text);

typedef struct image_info {
    const char *digest;
    const char *media_type;
    const char *artifact_type; /* NULL when none */
    const char *tags;          /* comma-separated, sorted; NULL when untagged */
    const char *subject;       /* NULL unless a referrer */
    int64_t size;              /* manifest + config + layers */
    int64_t pushed_at;
    int64_t last_pulled_at; /* 0 when never pulled */
    int child;              /* listed by an index of the repository */
    int64_t tag_count;      /* all its tags (index_image_page; tags may list fewer) */
} image_info;

typedef int (*index_image_cb)(void *ctx, const image_info *img);
/* Every manifest of a repository, newest push first. REG_ENOTFOUND if no such repository. */
int index_images(index_db *ix, const char *repo, index_image_cb cb, void *ctx);

/* The digest a tag points at (DIGEST_MAX bytes), or REG_ENOTFOUND. */
int index_tag_target(char *out, index_db *ix, int64_t repo_id, const char *tag);
/* How many tags of repo_id point at digest. */
int index_image_tag_count(int64_t *out, index_db *ix, int64_t repo_id, const char *digest);
/* The recorded image size of one manifest of repo_id. */
int index_manifest_image_size(uint64_t *out, index_db *ix, int64_t repo_id, const char *digest);

/* Record that (repo, digest) was pulled at `when` (one statement; batch them in a
 * transaction). */
int index_record_pull(index_db *ix, const char *repo, const char *digest, int64_t when);

/* Registry-wide settings kept as text by name (ECR's registry scanning configuration):
 * *out is malloc'd (caller frees); REG_ENOTFOUND when never set. */
int index_registry_setting(char **out, index_db *ix, const char *name);
int index_registry_setting_set(index_db *ix, const char *name, const char *value);

/* Resource tags of a repository (ECR TagResource). */
int index_repo_tag_set(index_db *ix, const char *repo, const char *key, const char *value);
int index_repo_tag_delete(index_db *ix, const char *repo, const char *key);
/* Set n tags in one write transaction (call it outside one); REG_ETOOLARGE, with nothing
 * changed, when the repository would then have more than `max` tags. */
int index_repo_tags_add(index_db *ix, const char *repo, size_t n, const char *const *keys,
                        const char *const *values, int64_t max);
typedef int (*index_kv_cb)(void *ctx, const char *key, const char *value);
int index_repo_tags(index_db *ix, const char *repo, index_kv_cb cb, void *ctx);

#endif
