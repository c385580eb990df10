/* backend_s3.h - the blob backend of an S3 bucket (see backend.h): blobs are objects
 * blobs/<alg>/<xx>/<hex> in one bucket. Only storage/blob (its S3 upload sessions) uses this. */
#ifndef OCIREG_BACKEND_S3_H
#define OCIREG_BACKEND_S3_H

#include "storage/blob/backend.h"
#include "storage/s3/s3.h"

s3_client *bs3_client(blob_backend *b);

/* The object key of blob d (BLOBSTORE_KEY_MAX bytes). */
#define BLOBSTORE_KEY_MAX 200
void bs3_key(char *out, const digest *d);

/* PutObject of blob d from memory (its digest verified by the caller). */
int bs3_put(blob_backend *b, const digest *d, const void *data, size_t len);

/* Upload sessions of this backend (uploads_s3.c). */
int s3u_new(upload_table **out, blob_backend *b, const char *index_location);

#endif
