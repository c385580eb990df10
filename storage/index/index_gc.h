/* index_gc.h - the queries garbage collection needs: unreferenced manifests and blobs older
 * than a cutoff, blob row deletion, child listing, and the record of gc runs. */
#ifndef OCIREG_INDEX_GC_H
#define OCIREG_INDEX_GC_H

#include "storage/index/index.h"

#include <stdint.h>

typedef struct gc_manifest {
    char repo[256];
    char digest[DIGEST_MAX];
} gc_manifest;

/* Up to `max` manifests pushed before `cutoff` that nothing keeps: no tag, not listed by an
 * index of their repository, not a referrer of a manifest still there. */
int index_gc_untagged(gc_manifest *out, size_t max, size_t *count, index_db *ix, int64_t cutoff);

/* Manifests of repo that `digest` lists (index children) or that refer to it (referrers). */
int index_gc_dependents(gc_manifest *out, size_t max, size_t *count, index_db *ix, const char *repo,
                        const char *digest);
/* Whether a manifest is still kept by a tag, an index or an existing subject. */
int index_gc_is_kept(int *out, index_db *ix, const char *repo, const char *digest);

typedef struct gc_blob {
    digest dg;
    int64_t size;
    int held; /* the index held its bytes (index_gc_delete_blob): there is no file */
} gc_blob;

/* Up to `max` blobs, after `after` in digest order, created and last linked before `cutoff`,
 * that no manifest is or references. */
int index_gc_unreferenced_blobs(gc_blob *out, size_t max, size_t *count, index_db *ix,
                                int64_t cutoff, const char *after);
/* The same blobs, each handed to cb as its row is read (all from one statement, so one
 * snapshot of the index); a failing cb's error ends the listing and is returned. */
typedef int (*gc_blob_cb)(void *ctx, const gc_blob *b);
int index_gc_unreferenced_each(index_db *ix, int64_t cutoff, const char *after, size_t max,
                               gc_blob_cb cb, void *ctx);
/* Delete a blob's row, its repository links and the bytes the index holds; *held_out (if not
 * NULL) says whether it held some. */
int index_gc_delete_blob(int *held_out, index_db *ix, const char *digest);
/* Whether the index has a row for this blob. */
int index_gc_blob_known(int *out, index_db *ix, const char *digest);

typedef struct gc_totals {
    int64_t started_at, finished_at;
    int dry_run;
    int64_t manifests_deleted, blobs_deleted, bytes_freed, uploads_deleted;
} gc_totals;

int index_gc_record(index_db *ix, const gc_totals *t);
/* Over every recorded (non dry-run) gc: runs, blobs deleted, bytes freed, and when the last
 * one finished (Unix seconds, 0 when none did). */
int index_gc_summary(int64_t *runs, int64_t *blobs, int64_t *bytes, int64_t *last_finished,
                     index_db *ix);
/* Total size of all blobs. */
int index_storage_bytes(int64_t *out, index_db *ix);

#endif
