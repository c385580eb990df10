/* s3.h - a small S3 client (AWS S3, Ceph RGW) for the S3 blob backend: objects, listings,
 * multipart uploads and presigned GETs over libcurl with SigV4, retried with backoff. */
#ifndef OCIREG_S3_H
#define OCIREG_S3_H

#include <stddef.h>
#include <stdint.h>

#define S3_MAX_KEY             1024   /* bytes of prefix + key, S3's own limit */
#define S3_MAX_DELETE          1000   /* keys per s3_delete_many */
#define S3_MAX_PARTS           10000  /* parts per multipart upload */
#define S3_UPLOAD_ID_MAX       1024   /* capacity that always holds an upload id */
#define S3_ETAG_MAX            80     /* capacity that always holds a part's ETag */
#define S3_PRESIGN_MAX_EXPIRES 604800 /* seconds: SigV4's limit of 7 days */

typedef struct s3_config {
    char *bucket;
    char *endpoint; /* "http(s)://host[:port]", no trailing slash, default port dropped */
    char *region;
    char *access_key;
    char *secret_key;
    char *prefix;       /* put before every key ("" for none); listings report keys without it */
    int path_style;     /* 1: endpoint/bucket/key (default); 0: bucket.host/key */
    long timeout_ms;    /* whole-request limit of small requests (default 30000) */
    int max_retries;    /* retries after the first attempt (default 4) */
    int list_page_size; /* ListObjectsV2 max-keys, 1..1000; 0: the server's default (1000) */
    int sse;            /* 1 (default): ask for server-side encryption (SSE-S3, AES256) on
                         * every object written; 0: leave it to the bucket's default */
} s3_config;

/* Parse "s3://BUCKET?endpoint=URL&region=R[&prefix=P][&path_style=0|1][&timeout_ms=N]
 * [&max_retries=N][&list_page_size=N][&sse=0|1][&access_key=K&secret_key=S]". Values may be
 * percent-encoded; unknown parameters are refused. Credentials default to the environment's
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; region defaults to AWS_REGION, then us-east-1.
 * REG_EINVALID with the reason set (reg_error_last) for bad input; on success *out owns
 * malloc'd strings (s3_config_free). */
int s3_config_parse(s3_config *out, const char *url);
void s3_config_free(s3_config *c);

/* A client is safe to share between threads: each request borrows a curl easy handle from a
 * small pool (its connections stay open for the next request) and all handles share DNS and
 * TLS session caches. s3_client_free only when no request is running. */
typedef struct s3_client s3_client;

/* Copies cfg (which must have bucket, endpoint, region and both keys). */
int s3_client_new(s3_client **out, const s3_config *cfg);
void s3_client_free(s3_client *c);

/* Every function below returns 0, REG_ENOTFOUND (404, NoSuchKey, NoSuchUpload), REG_EINVALID
 * (a key that is empty, too long or holds control characters; other bad arguments) or
 * REG_ERROR; each failure sets its reason for reg_error_last() (HTTP status, S3 Code and
 * Message, or the transport error). Transport errors, 5xx, 429, SlowDown and RequestTimeout
 * are retried up to cfg.max_retries times with exponential backoff and jitter. Keys are
 * relative to cfg.prefix. */

/* PutObject of len bytes from memory. */
int s3_put(s3_client *c, const char *key, const void *data, size_t len);

/* HeadObject: size and Last-Modified (seconds since the epoch, -1 if not sent); either out
 * pointer may be NULL. */
int s3_head(s3_client *c, const char *key, uint64_t *size_out, int64_t *mtime_out);

/* Called with each piece of a download as it arrives; 0 to go on, anything else aborts the
 * transfer and becomes the caller's return value. */
typedef int (*s3_data_cb)(void *ctx, const void *data, size_t len);

/* GetObject of [off, off + len) (len 0: to the end; a range past the end is cut at the end).
 * Each byte reaches cb exactly once and in order: a failed transfer is resumed from the first
 * byte not delivered, with If-Match on the first response's ETag so that a replaced object
 * fails rather than mixes. REG_EINVALID when off is at or past the end of a non-empty range.
 * A transfer under 1 KB/s for 30 s counts as failed (and is resumed), so cb must not block
 * for long. */
int s3_get(s3_client *c, const char *key, uint64_t off, uint64_t len, s3_data_cb cb, void *ctx);

/* CopyObject within the bucket (UploadPartCopy part by part for objects over 5 GiB).
 * REG_ENOTFOUND when src is absent. */
int s3_copy(s3_client *c, const char *src_key, const char *dst_key);

/* DeleteObject; a missing key is success. */
int s3_delete(s3_client *c, const char *key);

/* DeleteObjects of n <= S3_MAX_DELETE keys in one request; missing keys are success, any
 * other per-key failure makes the call fail. */
int s3_delete_many(s3_client *c, const char *const *keys, size_t n);

/* Called for each object under the prefix, in key order; 0 to go on, > 0 to stop (s3_list
 * returns 0), < 0 to stop with that as s3_list's result. */
typedef int (*s3_list_cb)(void *ctx, const char *key, uint64_t size, int64_t mtime);

/* ListObjectsV2 of every object whose key (relative to cfg.prefix) starts with prefix
 * (NULL or "" for all), following continuation tokens across pages. */
int s3_list(s3_client *c, const char *prefix, s3_list_cb cb, void *ctx);

/* CreateMultipartUpload; the upload id is written to upload_id_out (REG_ETOOLARGE if it does
 * not fit in cap; S3_UPLOAD_ID_MAX always does). */
int s3_multipart_create(s3_client *c, const char *key, char *upload_id_out, size_t cap);

/* UploadPart number part_no (1..S3_MAX_PARTS); its ETag, quotes included, goes to etag_out
 * (S3_ETAG_MAX always fits; it may be empty on RGW). Every part but the last must be at
 * least 5 MiB, which S3 checks only at completion. */
int s3_multipart_part(s3_client *c, const char *key, const char *upload_id, int part_no,
                      const void *data, size_t len, char *etag_out, size_t cap);

typedef struct s3_part {
    int no;
    char etag[S3_ETAG_MAX];
} s3_part;

/* CompleteMultipartUpload of n parts in ascending order. A 200 answer carrying an <Error>
 * document is a failure (retried if its code is retryable). REG_ENOTFOUND for an unknown
 * upload, also when RGW 16.2 says so with 500 "completion is already in progress" (ListParts
 * decides). If a retry finds the upload gone after an earlier attempt may have completed it
 * (lost answer), success is reported when the object exists with the ETag these parts make. */
int s3_multipart_complete(s3_client *c, const char *key, const char *upload_id,
                          const s3_part *parts, size_t n);

/* AbortMultipartUpload; an unknown upload is success. */
int s3_multipart_abort(s3_client *c, const char *key, const char *upload_id);

/* A presigned GET URL (SigV4 query authentication, UNSIGNED-PAYLOAD, only host signed) valid
 * for 1..S3_PRESIGN_MAX_EXPIRES seconds from now, as a malloc'd string the caller frees. */
int s3_presign_get(char **url_out, s3_client *c, const char *key, int expires);

/* Create the bucket unless this account can already use it (HeadBucket first); a bucket we
 * already own is success, one owned by someone else is REG_ECONFLICT. */
int s3_bucket_ensure(s3_client *c);

#endif
