/* reference.h - validation of repository names and tags, and parsing of a manifest
 * reference (tag or digest), exactly as the OCI Distribution Spec defines them. */
#ifndef OCIREG_REFERENCE_H
#define OCIREG_REFERENCE_H

#include "storage/base/digest.h"

#define REPO_NAME_MAX 255
#define TAG_MAX       128

/* REG_OK for `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`
 * of at most REPO_NAME_MAX bytes, REG_EINVALID otherwise. */
int reference_check_name(const char *name);

/* REG_OK for `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`, REG_EINVALID otherwise. */
int reference_check_tag(const char *tag);

typedef struct reference {
    int is_digest;
    const char *tag; /* points into the parsed text when !is_digest */
    digest dg;       /* when is_digest */
} reference;

/* A reference with a ':' is a digest (REG_EINVALID if malformed), otherwise a tag. */
int reference_parse(reference *out, const char *text);

#endif
