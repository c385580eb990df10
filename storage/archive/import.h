/* import.h - load an OCI image layout archive (zstd-compressed or plain tar) into the registry.
 * Every blob is verified against its digest while it is spooled; nothing is committed until
 * the whole archive has been read and every manifest's references are found in the archive
 * or in the target repository. Then blobs, manifests (through store_put_manifest, so
 * validation and tag immutability apply) and tags are committed. */
#ifndef OCIREG_IMPORT_H
#define OCIREG_IMPORT_H

#include "storage/archive/archive.h"
#include "storage/store.h"

typedef struct import_options {
    const char *repo;        /* every image into this repository (required when the ref names
                              * are plain tags, as skopeo writes them) */
    const char *repo_prefix; /* prepended to the repository of every ref name */
} import_options;

typedef struct import_report {
    int64_t images;    /* index.json entries imported */
    int64_t manifests; /* manifests stored, children and referrers included */
    int64_t blobs;     /* blobs committed from the archive */
    uint64_t bytes;    /* their total size */
    int partial;       /* it failed after committing some of it (disk full, a race) */
} import_report;

/* path "-" reads stdin. REG_EINVALID (a malformed, truncated or unsafe archive, or an
 * unusable ref name), REG_EMISMATCH (a blob does not match its digest), REG_ENOTFOUND (a
 * reference is missing) and REG_ECONFLICT (an immutable tag would move) all leave the
 * registry as it was. Any failure's reason is in reg_error_last(). */
int import_archive(import_report *out, store *s, index_db *ix, const char *path,
                   const import_options *opt, const archive_options *aopt);

#endif
