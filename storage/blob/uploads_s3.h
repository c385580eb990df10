/* uploads_s3.h - upload sessions of the S3 blob backend, shared by every registry instance:
 * the session row (offset, resumable hash state, multipart upload id and parts) lives in the
 * index, full parts go to an S3 multipart upload of the blob's final key, and the bytes past
 * the last part (the tail, < one part) to the object uploads/<id>/tail. Any instance can take
 * the next PATCH; a lease in the row keeps two requests from appending at once. Only
 * uploads.c includes this; see uploads.h for the meaning of each operation. */
#ifndef OCIREG_UPLOADS_S3_H
#define OCIREG_UPLOADS_S3_H

#include "storage/blob/blobstore.h"
#include "storage/index/index.h"

#include <time.h>

typedef struct s3_uploads s3_uploads;
typedef struct s3_session s3_session;

int s3u_new(s3_uploads **out, blobstore *bs, const char *index_location);
void s3u_free(s3_uploads *t);

int s3u_create(s3_session **out, char *id_out, s3_uploads *t, const char *repo);
int s3u_acquire(s3_session **out, unsigned *generation, s3_uploads *t, const char *id,
                const char *repo);
int s3u_peek(uint64_t *offset_out, s3_uploads *t, const char *id, const char *repo);
void s3u_release(s3_uploads *t, s3_session *s, unsigned generation);
int s3u_owned(const s3_session *s, unsigned generation);
void s3u_discard(s3_uploads *t, s3_session *s);
uint64_t s3u_offset(const s3_session *s);
const char *s3u_id(const s3_session *s);
int s3u_append(s3_session *s, unsigned generation, const void *data, size_t len);
int s3u_flush(s3_session *s);
int s3u_digest(digest *out, s3_session *s, digest_alg alg);
int s3u_count(s3_uploads *t);
int s3u_expire(s3_uploads *t, time_t max_idle);

/* Finishing: upload what is left as the last part (outside the index transaction), then make
 * the object d appear (inside it). The digest was checked before. */
int s3u_publish_prepare(s3_session *s, const digest *d);
int s3u_publish(s3_session *s, const digest *d);

#endif
