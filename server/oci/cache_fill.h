/* cache_fill.h - the OCI API's side of the pull-through cache (storage/pullthrough.h): which
 * rule a repository falls under, whether the caller may fill it, the upstream's password
 * opened for the fill, and the OCI errors of a fill that failed. */
#ifndef OCIREG_CACHE_FILL_H
#define OCIREG_CACHE_FILL_H

#include "server/http/http.h"
#include "storage/base/reference.h"

typedef enum {
    CACHE_AS_IS,   /* answer from what the repository holds now (no rule, the caller may
                    * not fill, or the cached copy is fresh) */
    CACHE_READY,   /* look it up again: it is stored (and fresh) now */
    CACHE_REPLIED, /* the answer has been sent */
} cache_result;

/* A manifest GET/HEAD: `cached` when the repository holds `ref` now. */
cache_result cache_manifest_or_reply(request *req, index_db *ix, const reference *ref, int cached);

/* A blob GET/HEAD of a blob the repository does not hold: a GET is answered with the bytes as
 * they come (CACHE_REPLIED), a HEAD once the blob is stored (CACHE_READY). */
cache_result cache_blob_or_reply(request *req, index_db *ix, const digest *d);

#endif
