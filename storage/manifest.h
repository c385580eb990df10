/* manifest.h - parsing and validation of pushed manifests (OCI image manifest and index,
 * Docker schema2 manifest and manifest list, artifacts) with jansson. The bytes themselves are
 * never rewritten: this only extracts what the index needs and rejects what is malformed. */
#ifndef OCIREG_MANIFEST_H
#define OCIREG_MANIFEST_H

#include "storage/base/digest.h"

#include <stddef.h>
#include <stdint.h>

#define MANIFEST_MAX_BYTES (4u << 20)
/* The largest size a descriptor may declare: 2^53 - 1, the largest integer every JSON reader
 * holds exactly (sums of sizes are checked for overflow where they are made: store.c). */
#define MANIFEST_MAX_DESCRIPTOR_SIZE ((UINT64_C(1) << 53) - 1)

#define MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_EMPTY       "application/vnd.oci.empty.v1+json"

typedef enum { REF_CONFIG, REF_LAYER, REF_MANIFEST } manifest_ref_kind;

typedef struct manifest_ref {
    manifest_ref_kind kind;
    digest dg;
    uint64_t size;
    int foreign; /* a non-distributable layer with urls: not required to be in the registry */
} manifest_ref;

typedef struct manifest_info {
    char media_type[128];
    char *artifact_type; /* owned; NULL when none */
    char *annotations;   /* owned JSON object text; NULL when none */
    int has_subject;
    digest subject;
    manifest_ref *refs; /* owned */
    size_t nrefs;
} manifest_info;

/* Parse `body` sent with Content-Type `content_type` (may be NULL). REG_EINVALID, with a
 * message for the client in reg_error_last(), when it is not an acceptable manifest. */
int manifest_parse(manifest_info **out, const char *content_type, const char *body, size_t len);
void manifest_info_free(manifest_info *m);

/* The kind recorded in the index: "config", "layer", "manifest", or "foreign" for a layer
 * fetched from its urls (which pins no blob and needs none). */
const char *manifest_ref_kind_name(const manifest_ref *r);
int manifest_is_index(const char *media_type);
/* An OCI non-distributable or Docker foreign layer media type. */
int manifest_is_nondistributable(const char *media_type);

#endif
