/* index_uploads.h - upload sessions kept in the index, for uploads whose bytes go to object
 * storage and whose requests any instance may serve: progress (offset, running hash state,
 * multipart upload id and parts, buffered tail) and a lease so that one request at a time owns
 * a session. Each call is one atomic statement (plus a lookup that explains a refusal), run
 * outside the writers' lock: call them outside index_begin/index_commit. */
#ifndef OCIREG_INDEX_UPLOADS_H
#define OCIREG_INDEX_UPLOADS_H

#include "storage/index/index.h"

#include <stddef.h>
#include <stdint.h>

#define UPLOAD_ROW_ID_MAX     36
#define UPLOAD_ROW_REPO_MAX   255
#define UPLOAD_HASH_STATE_MAX 512
#define UPLOAD_MPU_ID_MAX     1023

typedef struct upload_row {
    char id[UPLOAD_ROW_ID_MAX + 1];
    char repo[UPLOAD_ROW_REPO_MAX + 1];
    uint64_t offset; /* bytes accepted so far */
    unsigned char hash_state[UPLOAD_HASH_STATE_MAX];
    size_t hash_len;                    /* 0: no state saved */
    char mpu_id[UPLOAD_MPU_ID_MAX + 1]; /* "" until a multipart upload is open */
    /* JSON text of the parts uploaded so far, or NULL. Claim and get set it to a malloc'd
     * copy (or NULL) that the caller frees; save stores it as it is. */
    char *parts;
    uint64_t tail_len;   /* bytes after the last part, kept aside until a part is full */
    int64_t updated;     /* last save (or creation), Unix seconds */
    unsigned generation; /* bumped by every claim: writes must name the claim they hold */
    int64_t busy_until;  /* the holder's lease ends then; 0 when released */
} upload_row;

/* A new session at offset 0 in generation 1, with no lease: its creator may write it as
 * generation 1 (the first save or renewal takes the lease) until a claim makes generation 2.
 * REG_ECONFLICT if the id exists. */
int index_upload_insert(index_db *ix, const char *id, const char *repo, int64_t now);

/* Take the session for one request: a new generation, busy until now + lease_seconds, and
 * the row as it now is. REG_ENOTFOUND when no session `id` belongs to `repo`; REG_EBUSY
 * when another request holds it and its lease has not run out. */
int index_upload_claim(upload_row *out, index_db *ix, const char *id, const char *repo, int64_t now,
                       int64_t lease_seconds);

/* The session as it is, without claiming it (status queries). REG_ENOTFOUND as for claim. */
int index_upload_get(upload_row *out, index_db *ix, const char *id, const char *repo);

/* Store row's progress (offset, hash state, mpu_id, parts, tail_len, updated) and its
 * busy_until (0 releases the lease) if row->generation is still the session's. The next
 * three return REG_EBUSY when a later claim displaced that generation, REG_ENOTFOUND when
 * the session is gone. */
int index_upload_save(index_db *ix, const upload_row *row);
/* Extend the lease of `generation` to `until`. */
int index_upload_renew(index_db *ix, const char *id, unsigned generation, int64_t until);
/* End the lease of `generation` (the session stays, free for the next request). */
int index_upload_release(index_db *ix, const char *id, unsigned generation);

/* REG_ENOTFOUND if there was no such session. */
int index_upload_delete(index_db *ix, const char *id);

/* Delete the sessions last saved before `before` whose lease ended before it too (in one
 * statement, so that of several instances expiring at once each session goes to exactly one),
 * then call cb for each with its id and multipart upload id (NULL when none). */
typedef int (*index_upload_expired_cb)(void *ctx, const char *id, const char *mpu_id);
int index_upload_expire(index_db *ix, int64_t before, index_upload_expired_cb cb, void *ctx);

/* Every session's id and the bytes it accepted; cb's error stops the walk and is returned. */
typedef int (*index_upload_row_cb)(void *ctx, const char *id, uint64_t bytes);
int index_upload_list(index_db *ix, index_upload_row_cb cb, void *ctx);

#endif
