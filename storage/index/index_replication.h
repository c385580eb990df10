/* index_replication.h - SQL for replication: the registry's rules (ECR's replication
 * configuration), ocireg's map of a destination (region + registry id) to a URL and sealed
 * credentials, and each image's status per destination. */
#ifndef OCIREG_INDEX_REPLICATION_H
#define OCIREG_INDEX_REPLICATION_H

#include "storage/index/index.h"

#include <stddef.h>
#include <stdint.h>

#define REPLICATION_REGION_MAX      25 /* ECR's Region: [0-9a-z-]{2,25} */
#define REPLICATION_REGISTRY_ID_LEN 12 /* ECR's RegistryId: [0-9]{12} */
#define REPLICATION_PREFIX_MATCH    "PREFIX_MATCH"

#define REPLICATION_IN_PROGRESS "IN_PROGRESS"
#define REPLICATION_COMPLETE    "COMPLETE"
#define REPLICATION_FAILED      "FAILED"

/* One rule: its destinations (regions[i], registry_ids[i]) and PREFIX_MATCH filters (none:
 * every repository). */
typedef struct replication_rule {
    size_t ndestinations;
    const char *const *regions;
    const char *const *registry_ids;
    size_t nfilters;
    const char *const *filters;
} replication_rule;

/* Replace the whole configuration with `rules`, in a write transaction of its own. */
int index_replication_config_put(index_db *ix, const replication_rule *rules, size_t n);

/* The configuration's rows in order: each rule's destinations, then each rule's filters. */
typedef int (*index_replication_dest_cb)(void *ctx, int64_t rule, const char *region,
                                         const char *registry_id);
typedef int (*index_replication_filter_cb)(void *ctx, int64_t rule, const char *filter,
                                           const char *filter_type);
int index_replication_rule_destinations(index_db *ix, index_replication_dest_cb cb, void *ctx);
int index_replication_rule_filters(index_db *ix, index_replication_filter_cb cb, void *ctx);

/* The distinct destinations the rules send `repo` to, in (region, registry id) order. Runs
 * inside the caller's transaction when one is open (a push queueing its replication). */
typedef int (*index_replication_target_cb)(void *ctx, const char *region, const char *registry_id);
int index_replication_targets(index_db *ix, const char *repo, index_replication_target_cb cb,
                              void *ctx);

/* Inside the write transaction of a push of image (repo, digest): one "replication" outbox
 * entry (index_outbox.h) per destination the rules give repo, target "REGION/REGISTRY_ID",
 * with `payload`, and the image's status there IN_PROGRESS. *queued_out grows by the count. */
int index_replication_queue(int *queued_out, index_db *ix, const char *repo, const char *digest,
                            const char *payload, int64_t now_ms);

/* A destination's address and credentials; the password is sealed (auth/secretbox). */
typedef struct replication_destination {
    const char *region;
    const char *registry_id;
    const char *url;
    const char *username;          /* NULL: anonymous */
    const unsigned char *password; /* sealed; NULL when none */
    size_t password_len;
    const char *ca_file; /* NULL: the system's CAs */
    int64_t created_at;
} replication_destination;

/* Add a destination, or replace the one with its region and registry id. */
int index_replication_destination_put(index_db *ix, const replication_destination *d);
/* One destination (REG_ENOTFOUND when none), or all in (region, registry id) order. The row
 * passed to cb is valid during the call only. */
typedef int (*index_replication_destination_cb)(void *ctx, const replication_destination *d);
int index_replication_destination_get(index_db *ix, const char *region, const char *registry_id,
                                      index_replication_destination_cb cb, void *ctx);
int index_replication_destinations(index_db *ix, index_replication_destination_cb cb, void *ctx);
/* REG_ENOTFOUND when there is none. */
int index_replication_destination_delete(index_db *ix, const char *region, const char *registry_id);

/* Record image (repo, digest)'s status at a destination: REPLICATION_IN_PROGRESS, _COMPLETE or
 * _FAILED with a reason (NULL otherwise). */
int index_replication_status_set(index_db *ix, const char *repo, const char *digest,
                                 const char *region, const char *registry_id, const char *status,
                                 const char *reason);
typedef int (*index_replication_status_cb)(void *ctx, const char *region, const char *registry_id,
                                           const char *status, const char *reason,
                                           int64_t updated_at);
int index_replication_statuses(index_db *ix, const char *repo, const char *digest,
                               index_replication_status_cb cb, void *ctx);

/* The tags of image (repo, digest), in name order. */
int index_replication_image_tags(index_db *ix, const char *repo, const char *digest,
                                 index_name_cb cb, void *ctx);
/* Another repository than `repo` that holds blob `digest` (out: at least 256 bytes), or
 * REG_ENOTFOUND: a destination may have it there to mount. */
int index_replication_mount_source(char *out, size_t n, index_db *ix, const char *repo,
                                   const char *digest);

#endif
