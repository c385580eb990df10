/* uploads.h - resumable blob upload sessions, kept by the blob store's backend: locally a spool
 * file DATA/uploads/<uuid> made with the first byte, whose attribute (or <uuid>.repo sidecar)
 * names its repository, and an in-memory running SHA-256 so that finishing an upload does not
 * re-read it (uploads_local.c); on S3 a row in the index and a multipart upload
 * (uploads_s3.c). Sessions survive a restart. */
#ifndef OCIREG_UPLOADS_H
#define OCIREG_UPLOADS_H

#include "storage/blob/blobstore.h"
#include "storage/base/digest.h"

#include <stdint.h>
#include <time.h>

#define UPLOAD_ID_LEN 36
/* A session whose owner has not sent a byte for this long may be taken over. */
#define UPLOAD_STALL_SECONDS 2

typedef struct upload_table upload_table;
typedef struct upload upload;

/* A new random session id (UUID v4 text, UPLOAD_ID_LEN + 1 bytes). */
int upload_new_id(char *out);

/* Sessions of blobstore bs, as its backend keeps them (backend.h): spool files in its uploads
 * folder, or (S3) rows in the index at index_location shared by every instance
 * (uploads_s3.c). */
int upload_table_new(upload_table **out, blobstore *bs, const char *index_location);
void upload_table_free(upload_table *t);

/* A local session has no file until its first byte; so that a restarted server still knows
 * such a session, its id carries a hash under a key derived from `key` (the server's master
 * key): an id this table's process did not issue, at most max_age seconds old, without a
 * spool, is then a session without bytes. Without this (subcommands, tests), such sessions end with
 * the process. S3 sessions are index rows: nothing to do. Call once, before sessions are made. */
int upload_table_sign_ids(upload_table *t, const unsigned char key[32], time_t max_age);

/* Start a session for `repo`; its id is written to id_out (UPLOAD_ID_LEN + 1 bytes).
 * The new session is returned acquired with generation 1: release or discard it. */
int upload_create(upload **out, char *id_out, upload_table *t, const char *repo);

/* Take exclusive use of a session; *generation identifies this use. REG_ENOTFOUND if there is
 * no such session for `repo`, REG_EBUSY if another request is using it (one that has stalled
 * for UPLOAD_STALL_SECONDS is displaced instead). */
int upload_acquire(upload **out, unsigned *generation, upload_table *t, const char *id,
                   const char *repo);
/* The session's current length without taking it (status queries may run beside a PATCH).
 * REG_ENOTFOUND as for upload_acquire. */
int upload_peek(uint64_t *offset_out, upload_table *t, const char *id, const char *repo);

/* Give the session back (it stays taken when this use was displaced). Every acquire and
 * create is paired with one release or one discard. */
void upload_release(upload_table *t, upload *u, unsigned generation);
/* Whether this use still owns the session. */
int upload_owned(upload *u, unsigned generation);
/* Remove the session and its files; consumes the caller's use. */
void upload_discard(upload_table *t, upload *u);

uint64_t upload_offset(const upload *u);
const char *upload_id(const upload *u);

/* Append bytes at the end; REG_ENOSPACE on a full disk (the bytes are not counted then),
 * REG_EBUSY when this use has been displaced. */
int upload_append(upload *u, unsigned generation, const void *data, size_t len);

/* Put everything accepted into the file (before answering a request that appended). On a
 * write failure the session rolls back to what the file surely holds (REG_ENOSPACE, ...). */
int upload_flush(upload *u);

/* A new read-only descriptor of the session's spool file, for readers that follow it as it
 * grows (pull-through fills): it holds at least every byte appended before the last
 * upload_flush, and after a local publication it is the blob's own file. The session's later
 * bytes go through the page cache, where such readers find them. REG_ENOTFOUND when
 * the backend keeps no local spool (S3). Close it when done. */
int upload_spool_reader(upload *u);

/* Digest of everything appended so far, in algorithm `alg`. */
int upload_digest(digest *out, upload *u, digest_alg alg);

/* The publication (blobstore.h) of the session's bytes as blob d, the caller having checked
 * the digest: blob_publish_prepare before the index's write transaction (local: finish the
 * stage, fsync the spool, link it into place, fsync the folder; S3: last part, completion),
 * blob_publish_commit inside it (local: check the link is still there, else make it again;
 * S3: the object at its content address, made again if gc removed it meanwhile). After the
 * transaction free the publication, then discard the session (or release it on failure: a
 * local session whose spool was linked takes no more bytes). */
int upload_publication(blob_publish **out, upload *u, blobstore *bs, const digest *d);

/* Sessions in memory (open uploads). */
int upload_count(upload_table *t);

/* Discard sessions idle for longer than max_idle seconds, and spool files nobody owns.
 * Returns the number removed. */
int upload_expire(upload_table *t, time_t max_idle);
/* For gc, which may run beside a server that holds the sessions: what is left of sessions idle
 * beyond max_idle, judged by age alone (local: every file of the uploads folder; S3: expired
 * session rows and their objects). Returns how many went (or would go with dry_run), or
 * REG_ERROR when the sessions cannot be read. */
int64_t upload_sweep(upload_table *t, time_t max_idle, int dry_run);

/* For fsck: every session's bytes as stored (local: each spool file and its size; S3: each
 * session row and the bytes it accepted), in no particular order. cb's error stops the walk
 * and is returned; REG_ERROR when the sessions cannot be read. */
typedef int (*upload_leftover_cb)(void *ctx, const char *id, uint64_t bytes);
int upload_leftovers(upload_table *t, upload_leftover_cb cb, void *ctx);

#endif
