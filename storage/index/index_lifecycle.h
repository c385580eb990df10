/* index_lifecycle.h - lifecycle policy previews (ECR StartLifecyclePolicyPreview) kept in the
 * index, the last one of each repository, so that every instance on the index answers
 * GetLifecyclePolicyPreview and a restart keeps them. */
#ifndef OCIREG_INDEX_LIFECYCLE_H
#define OCIREG_INDEX_LIFECYCLE_H

#include "storage/index/index.h"

#include <stdint.h>

/* A repository's preview; the strings are malloc'd and freed with index_preview_clear. */
typedef struct index_preview {
    char *status;  /* COMPLETE, or another LifecyclePolicyPreviewStatus */
    char *policy;  /* the policy text that was evaluated */
    char *results; /* JSON array of the preview's results */
} index_preview;

/* Replace the preview of repo. REG_ENOTFOUND when the repository does not exist. */
int index_preview_set(index_db *ix, const char *repo, const char *status, const char *policy,
                      const char *results, int64_t now);
/* The preview of repo; REG_ENOTFOUND when it has none (or does not exist). */
int index_preview_get(index_preview *out, index_db *ix, const char *repo);
void index_preview_clear(index_preview *p);

#endif
