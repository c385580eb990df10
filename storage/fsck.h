/* fsck.h - verify a data folder: SQLite's integrity, every blob file against its row (present,
 * size, digest), rows pointing at what is gone (damage), and files with no row and upload
 * spools (garbage, which gc reclaims). --repair quarantines corrupt files (never deletes
 * them) and removes dangling rows only where that loses nothing. */
#ifndef OCIREG_FSCK_H
#define OCIREG_FSCK_H

#include "storage/store.h"

typedef struct fsck_options {
    int repair;
    /* Each problem (damage): kind ("missing-blob", "corrupt-blob", "invalid-digest-row",
     * "dangling-tag", "dangling-link", "manifest-without-blob", "missing-reference",
     * "missing-child", "index"), what it concerns, and what was done ("", "quarantined",
     * "removed"). */
    void (*problem)(void *ctx, const char *kind, const char *what, const char *action);
    /* Each piece of garbage, which gc reclaims and which is no damage: kind ("orphan-file", a
     * blob file without a row, as a crash between write and commit leaves; "upload-spool",
     * an upload session's bytes), what (digest or session id) and its size in bytes. */
    void (*garbage)(void *ctx, const char *kind, const char *what, int64_t size);
    void *ctx;
    void (*progress)(void *ctx, int64_t blobs, int64_t bytes);
} fsck_options;

typedef struct fsck_report {
    int64_t blobs_checked, bytes_checked;
    int64_t problems; /* damage found */
    int64_t repaired; /* of those, fixed */
    int64_t garbage, garbage_bytes;
} fsck_report;

/* REG_OK when the check ran (healthy when problems == repaired, whatever the garbage). */
int fsck_run(fsck_report *out, store *st, index_db *ix, const fsck_options *opt);

#endif
