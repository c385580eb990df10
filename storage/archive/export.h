/* export.h - write images of the registry as an OCI image layout in a .tar.zst: oci-layout,
 * index.json (one entry per tag, annotated "REPO:TAG", or "REPO@DIGEST" for an untagged
 * manifest) and blobs/, with the children of indexes and the referrers of every exported
 * manifest. Blob files are streamed and their digests checked on the way. */
#ifndef OCIREG_EXPORT_H
#define OCIREG_EXPORT_H

#include "storage/archive/archive.h"
#include "storage/store.h"

typedef struct export_report {
    int64_t images;      /* index.json entries */
    int64_t manifests;   /* manifests written, children and referrers included */
    int64_t blobs;       /* files under blobs/ (manifests included) */
    uint64_t bytes;      /* their total size */
    uint64_t compressed; /* size of the archive */
} export_report;

/* refs: "REPO" (every tag), "REPO:TAG" or "REPO@DIGEST". path "-" writes to stdout.
 * REG_ENOTFOUND for a reference that does not exist; any failure leaves no file behind and
 * its reason in reg_error_last(). */
int export_images(export_report *out, store *s, index_db *ix, const char *const *refs, size_t nrefs,
                  const char *path, const archive_options *opt);

#endif
