/* ocilayout.h - names inside an OCI image layout (oci-layout, index.json, blobs/<alg>/<hex>),
 * which the backup archive shares for its blobs: building a blob's entry name and telling
 * what an archive entry is. Nothing else is ever accepted as a path. */
#ifndef OCIREG_OCILAYOUT_H
#define OCIREG_OCILAYOUT_H

#include "storage/base/digest.h"

#include <stddef.h>

#define LAYOUT_REF_NAME "org.opencontainers.image.ref.name"
#define LAYOUT_FILE     "oci-layout"
#define LAYOUT_INDEX    "index.json"
#define LAYOUT_VERSION  "1.0.0"

typedef enum {
    LAYOUT_OTHER,  /* anything else: the caller decides (import refuses it) */
    LAYOUT_DIR,    /* ".", "blobs", "blobs/sha256", "blobs/sha512" */
    LAYOUT_MARKER, /* oci-layout */
    LAYOUT_INDEX_JSON,
    LAYOUT_BLOB, /* blobs/<alg>/<hex> with a valid digest */
} layout_kind;

/* "blobs/<alg>/<hex>" (DIGEST_MAX + 8 bytes are enough). */
void layout_blob_name(char *out, size_t n, const digest *d);

/* Classify an entry name. A leading "./" and a trailing "/" are dropped first; the result is
 * in norm_out (TAR_NAME_MAX bytes are enough). For LAYOUT_BLOB the digest is in dg_out. */
layout_kind layout_classify(digest *dg_out, char *norm_out, size_t n, const char *name);

#endif
