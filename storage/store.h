/* store.h - the registry's write operations, each one durable and atomic: they order blob
 * files and index rows so that the index never points at a missing file (file first, then the
 * SQLite transaction, which also holds the write lock while the file appears). Handlers call
 * these and the index read functions (store_read_manifest reads a stored manifest's bytes); they
 * never see paths or SQL. */
#ifndef OCIREG_STORE_H
#define OCIREG_STORE_H

#include "storage/blob/blobstore.h"
#include "storage/index/index.h"
#include "storage/manifest.h"
#include "storage/pulls.h"
#include "storage/blob/uploads.h"

/* Where a registry's data lives: the data folder (keys, local blobs, uploads, meta.db) and,
 * when set, an S3 bucket for blobs and a PostgreSQL index shared by several instances. */
typedef struct store_location {
    const char *data_dir;
    const char *storage; /* NULL or "": DATA/blobs; else s3://BUCKET?endpoint=URL&region=R */
    const char *index;   /* NULL or "": DATA/meta.db; else postgres://URI or a SQLite file */
    uint64_t inline_max; /* blobs up to this size are written into the index; 0: none
                          * (serve and the subcommands: --inline-max, default 64 KiB) */
} store_location;

typedef struct store {
    char *data_dir;
    char *db_path;  /* the index location: a SQLite file or a postgres:// URI */
    char *db_label; /* the same for messages, any password replaced by *** */
    blobstore *blobs;
    upload_table *uploads;
    int create_on_push;     /* 1 (default): a push creates its repository */
    uint64_t max_blob_size; /* the largest blob an upload may grow to (--max-blob-size); 0: any */
    pull_table *pulls;      /* last-pull times waiting to be written */
} store;

/* Open the store; on failure reg_error_last says why not. */
int store_open(store **out, const store_location *loc);
void store_close(store *s);

/* Finish an upload: verify that its content has digest `expected` (REG_EMISMATCH if not, the
 * session stays usable), make the blob and link it into the session's repository. On success
 * the session is gone. REG_ENOTFOUND when the repository does not exist and create-on-push is
 * off. */
int store_commit_upload(store *s, index_db *ix, upload *u, const char *repo,
                        const digest *expected);

/* A whole blob received in memory, no session (a small monolithic upload): verified against
 * `expected` (REG_EMISMATCH), published and linked into `repo` as store_commit_upload does;
 * durable when it returns REG_OK. */
int store_commit_bytes(store *s, index_db *ix, const char *repo, const digest *expected,
                       const void *data, size_t len);

/* Whether a blob of `size` bytes would be held in the index (--inline-max): a request carrying
 * such a whole blob may keep it in memory instead of a spool. */
int store_holds_in_index(const store *s, uint64_t size);

/* Whether `more` bytes after the session's (u NULL: none yet) would keep its blob within
 * s->max_blob_size. */
int store_upload_fits(const store *s, const upload *u, uint64_t more);

/* upload_append within s->max_blob_size: REG_ETOOLARGE (nothing appended) past it. Every push
 * path (OCI PATCH/PUT/POST, ECR UploadLayerPart) appends through here. */
int store_upload_append(store *s, upload *u, unsigned generation, const void *data, size_t len);

/* Link a blob already in `from` into `repo`. REG_ENOTFOUND if `from` does not have it. */
int store_mount_blob(store *s, index_db *ix, const char *repo, const char *from, const digest *d);

typedef struct manifest_put {
    const char *repo;
    const digest *dg; /* digest of `body` */
    const char *body;
    size_t len;
    const manifest_info *info;
    const char *const *tags; /* tags to point at it */
    size_t ntags;
    /* Optional: when the manifest is in the repository already and every tag points at it,
     * nothing is written and this is set to 1 (ECR's ImageAlreadyExistsException). */
    int *unchanged_out;
    /* A pull-through cache's manifest: its blobs and children are fetched when asked for, so
     * they need not be in the repository yet (they are not checked). */
    int refs_later;
} manifest_put;

/* Store a manifest and its tags. REG_ENOTFOUND when a referenced blob or child manifest is
 * not in the repository (its digest in missing_out, DIGEST_MAX bytes), REG_EINVALID when a
 * referenced blob's size differs from its descriptor, REG_ECONFLICT when a tag of an
 * IMMUTABLE repository would move (the tag in missing_out), REG_EDENIED when the repository
 * does not exist and create-on-push is off. */
int store_put_manifest(store *s, index_db *ix, const manifest_put *put, char *missing_out);

/* A manifest as a client pushes it (OCI manifest PUT, ECR PutImage): the one path that
 * digests, checks and parses the bytes, then stores them with store_put_manifest. */
typedef struct manifest_push {
    const char *repo;
    const char *content_type; /* NULL: the manifest's own mediaType decides */
    const char *body;
    size_t len;
    const digest *expected; /* pushed by digest: the body must have it; else NULL */
    const char *const *tags;
    size_t ntags;
    int *unchanged_out; /* as in manifest_put */
    int refs_later;     /* as in manifest_put */
    /* results */
    digest dg;               /* the body's digest (in expected's algorithm, else sha256) */
    manifest_info *info;     /* the parsed manifest, the caller's: manifest_info_free */
    char detail[DIGEST_MAX]; /* the missing reference, or the tag that may not move */
} manifest_push;

/* Digest, check, parse and store a pushed manifest. REG_EMISMATCH when the body's digest is
 * not `expected`, REG_EINVALID (reg_error_last says why) when it is not an acceptable manifest
 * or a referenced blob's size differs (its digest in detail), and the results of
 * store_put_manifest otherwise. push->info is set once parsing succeeded, whatever follows. */
int store_push_manifest(store *s, index_db *ix, manifest_push *push);

/* Transactional wrappers of the index deletes (see index.h for their results); a manifest
 * delete queues its DELETE event (events.h) in the same transaction, as do the pushes and
 * store_remove_tag. */
int store_unlink_blob(index_db *ix, const char *repo, const digest *d, char *conflict_out);
int store_delete_manifest(index_db *ix, const char *repo, const digest *d, char *conflict_out);

/* Remove one tag (OCI DELETE of a tag reference), in one write transaction that queues its
 * DELETE event. REG_ENOTFOUND when the repository or the tag does not exist. */
int store_delete_tag(index_db *ix, const char *repo, const char *tag);

/* Remove one tag the ECR way, in one write transaction: when `expected` (digest text) is given
 * the tag must name that image (REG_EMISMATCH otherwise, and nothing changes); when it was the
 * image's last tag the image goes too, unless an index of the repository still lists it. The
 * image's digest goes to digest_out (DIGEST_MAX bytes), whether it went to *deleted_out.
 * REG_ENOTFOUND when the repository or the tag does not exist. */
int store_remove_tag(int *deleted_out, char *digest_out, index_db *ix, const char *repo,
                     const char *tag, const char *expected);

/* A stored manifest's bytes (row from the index; at most MANIFEST_MAX_BYTES), malloc'd and
 * NUL-terminated in *out (the caller frees). REG_ERROR when its blob is missing, unreadable or
 * not the size the index says. */
int store_read_manifest(char **out, store *s, index_db *ix, const manifest_row *row);

#endif
