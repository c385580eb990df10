/* backup.h - online backup of a whole data folder into one .tar.zst (a consistent snapshot of
 * the index through SQLite's backup API, every blob it lists, and keys/ with their modes), and
 * restore of such a file into an empty folder with every blob digest verified. */
#ifndef OCIREG_BACKUP_H
#define OCIREG_BACKUP_H

#include "storage/archive/archive.h"
#include "storage/store.h"

#define BACKUP_MARKER "ocireg-backup.json"
#define BACKUP_DB     "meta.db"

typedef struct backup_report {
    int64_t blobs;             /* blob files archived or restored */
    uint64_t bytes;            /* their total size */
    int64_t keys;              /* files of keys/ */
    int64_t vanished;          /* blobs gone between the snapshot and their copy */
    int64_t manifests_dropped; /* manifests left out of the snapshot with them */
    uint64_t compressed;       /* size of the archive written */
    char warning[ARCHIVE_ERROR_MAX];
} backup_report;

/* Back up the data folder of `s` while a server may be serving it. A blob the snapshot lists
 * but that is gone when its turn comes (gc removed it after its rows, which only happens once
 * no manifest needs it) is left out, and so are the snapshot's manifests that need it, their
 * tags and indexes listing them: the backup is then the snapshot minus what was deleted
 * while it ran, and still consistent (reported in vanished, manifests_dropped, warning).
 * A failure's reason is in reg_error_last(). */
int backup_write(backup_report *out, store *s, index_db *ix, const char *path,
                 const archive_options *opt);

/* Restore into data_dir, which must be empty or not exist. Every blob is verified; the index
 * appears last, and only when every blob it lists is in place. On failure the folder is left
 * empty again and reg_error_last() says why. */
int backup_restore(backup_report *out, const char *path, const char *data_dir,
                   const archive_options *opt);

#endif
