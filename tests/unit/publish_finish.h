/* publish_finish.h - the end of a blob publication in the blob tests (test_publish,
 * test_blob_backend): prepare it, commit it without an index, free it. */
#ifndef OCIREG_TEST_PUBLISH_FINISH_H
#define OCIREG_TEST_PUBLISH_FINISH_H

#include "storage/blob/blobstore.h"
#include "storage/base/reg_error.h"

/* Finish publication p, whose start returned err (p is freed either way): REG_OK once the blob
 * is in place, else the first error. */
static inline int publish_finish(blob_publish *p, int err)
{
    if (err == REG_OK && (err = blob_publish_prepare(p)) == REG_OK)
        err = blob_publish_commit(p, NULL);
    blob_publish_free(p);
    return err;
}

#endif
