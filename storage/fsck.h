/* fsck.h - verify a data folder: SQLite's integrity, every blob file against its row (present,
 * size, digest), files with no row, and rows pointing at what is gone. --repair quarantines
 * corrupt files (never deletes them) and removes dangling rows only where that loses nothing. */
#ifndef OCIREG_FSCK_H
#define OCIREG_FSCK_H

#include "storage/store.h"

typedef struct fsck_options {
    int repair;
    /* Each problem: kind ("missing-blob", "corrupt-blob", "orphan-file", "dangling-tag",
     * "dangling-link", "manifest-without-blob", "missing-reference", "missing-child",
     * "index"), what it concerns, and what was done ("", "quarantined", "removed"). */
    void (*problem)(void *ctx, const char *kind, const char *what, const char *action);
    void *ctx;
    void (*progress)(void *ctx, int64_t blobs, int64_t bytes);
} fsck_options;

typedef struct fsck_report {
    int64_t blobs_checked, bytes_checked;
    int64_t problems;   /* found */
    int64_t repaired;   /* of those, fixed */
} fsck_report;

/* REG_OK when the check ran (healthy when problems == repaired). */
int fsck_run(fsck_report *out, store *st, index_db *ix, const fsck_options *opt);

#endif
