/* gc.h - online garbage collection: apply lifecycle policies, optionally delete untagged
 * manifests, sweep unreferenced blobs older than a grace period, remove orphan files and
 * expired upload sessions. Safe against a live server: every deletion is a write transaction
 * that re-checks what it deletes, and a file goes only after its row. */
#ifndef OCIREG_GC_H
#define OCIREG_GC_H

#include "storage/index/index_gc.h"
#include "storage/store.h"

typedef struct gc_options {
    int dry_run;           /* report only: everything runs in one transaction, rolled back */
    int untagged;          /* also delete manifests that no tag, index or subject keeps */
    int lifecycle;         /* apply repositories' lifecycle policies */
    int sweep;             /* sweep blobs, orphans and uploads (off for a policy preview) */
    int64_t grace;         /* seconds: younger blobs and manifests are kept */
    int64_t upload_expiry; /* seconds: older idle upload files go */
    const char *only_repo; /* lifecycle for this repository only (NULL: all) */
    /* A second connection to the same index, not attached to a server's writer, on which the
     * sweep lists unreferenced blobs beside the transaction that deletes them (gc_list.h);
     * NULL: the listing runs in that transaction. Not used by a dry run. */
    index_db *lister;
    /* Called now and then with the phase and a running count; may be NULL. */
    void (*progress)(void *ctx, const char *phase, int64_t count);
    void *progress_ctx;
    /* Called for each image a lifecycle rule expires; may be NULL. */
    void (*expired)(void *ctx, const char *repo, const char *digest, const char *tags, int rule);
    void *expired_ctx;
} gc_options;

typedef struct gc_report {
    gc_totals totals;        /* manifests, blobs, bytes, uploads */
    int64_t images_expired;  /* by lifecycle rules (their dependents counted in manifests) */
    int64_t orphans_deleted; /* blob files with no index row */
    int64_t orphan_bytes;
    char warning[256]; /* why a policy was skipped; "" when none was */
} gc_report;

/* On failure reg_error_last() says why. */
int gc_run(gc_report *out, store *st, index_db *ix, const gc_options *opt);

/* How many gc_run calls of this process failed (the /metrics alert on a failing gc). */
uint64_t gc_failed_runs(void);

/* The images of `repo` that lifecycle policy `policy_text` would expire now, without deleting
 * anything. REG_EINVALID, with the reason in reg_error_last(), when the policy is invalid. */
typedef int (*gc_expire_cb)(void *ctx, const char *digest, const char *const *tags, size_t ntags,
                            int64_t pushed_at, int rule);
int gc_lifecycle_preview(index_db *ix, const char *repo, const char *policy_text, gc_expire_cb cb,
                         void *ctx);

#endif
