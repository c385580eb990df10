/* blobstore_s3.h - the blob store's S3 half (see blobstore.h): blobs are objects
 * blobs/<alg>/<xx>/<hex> in one bucket; small blobs read through a local cache folder. Only
 * blobstore.c and the S3 upload sessions include this. */
#ifndef OCIREG_BLOBSTORE_S3_H
#define OCIREG_BLOBSTORE_S3_H

#include "storage/blob/blobstore.h"
#include "storage/s3/s3.h"

typedef struct blobstore_s3 blobstore_s3;

int bs3_open(blobstore_s3 **out, const char *data_dir, const char *url, char *err, size_t errlen);
void bs3_close(blobstore_s3 *b);
s3_client *bs3_client(blobstore_s3 *b);

/* The object key of blob d (BLOBSTORE_KEY_MAX bytes). */
#define BLOBSTORE_KEY_MAX 200
void bs3_key(char *out, const digest *d);

int bs3_open_blob(int *fd_out, uint64_t *size_out, blobstore_s3 *b, const digest *d);
int bs3_put(blobstore_s3 *b, const digest *d, const void *data, size_t len);
int bs3_read(blobstore_s3 *b, const digest *d, uint64_t off, uint64_t len, s3_data_cb cb,
             void *ctx);
int bs3_presign(char **url_out, blobstore_s3 *b, const digest *d, int expires);
int bs3_stat(uint64_t *size_out, int64_t *mtime_out, blobstore_s3 *b, const digest *d);
int bs3_remove(blobstore_s3 *b, const digest *d);
int bs3_remove_many(blobstore_s3 *b, const digest *ds, size_t n);
int bs3_walk(blobstore_s3 *b, blobstore_walk_cb cb, void *ctx);

#endif
