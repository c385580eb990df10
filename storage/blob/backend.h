/* backend.h - the operations tables behind blobstore.h and uploads.h: a blob backend (a local
 * folder, an S3 bucket), its readers, publications and upload sessions. Only storage/blob. */
#ifndef OCIREG_BLOB_BACKEND_H
#define OCIREG_BLOB_BACKEND_H

#include "storage/blob/blobstore.h"
#include "storage/blob/uploads.h"

#include <limits.h>
#include <sys/types.h>

typedef struct blob_backend blob_backend;

/* A reader of bytes [start, start + length) of one blob (blobstore_open_reader). */
typedef struct blob_reader_ops {
    ssize_t (*read)(blob_reader *r, uint64_t pos, void *out, size_t max);
    void (*free)(blob_reader *r);
} blob_reader_ops;

struct blob_reader {
    const blob_reader_ops *ops;
    int fd;        /* the whole blob when it is a local file, else -1 */
    uint64_t size; /* the whole blob's size, when fd >= 0 or bytes is set */
    void *bytes;   /* the range, when the index holds the blob (inline.c), else NULL */
};

/* How a publication (blobstore.h) is carried out: by the backend for bytes and spool files,
 * by the session's implementation for an upload. */
typedef struct blob_publish_ops {
    int (*prepare)(blob_publish *p);
    int (*commit)(blob_publish *p);
} blob_publish_ops;

struct blob_publish {
    const blob_publish_ops *ops;
    blob_backend *backend;
    digest d;
    const void *data; /* from memory: data, len */
    size_t len;
    char path[PATH_MAX]; /* from a local spool file ("" for none) */
    int fd;              /* open on path, or -1 */
    int remove_path;     /* the spool is the publication's: blob_publish_free removes it */
    upload *session;     /* from an upload session */
    index_db *ix;        /* the transaction's connection, from blob_publish_commit */
    void *owned;         /* bytes read for the index (inline.c), freed with the publication */
};

typedef struct blob_backend_ops {
    int (*open_fd)(int *fd_out, uint64_t *size_out, blob_backend *b, const digest *d);
    int (*open_reader)(blob_reader **out, blob_backend *b, const digest *d, uint64_t start,
                       uint64_t length);
    int (*presign)(char **url_out, blob_backend *b, const digest *d, int expires);
    const blob_publish_ops *publish;
    int (*stat)(uint64_t *size_out, int64_t *mtime_out, blob_backend *b, const digest *d);
    int (*walk)(blob_backend *b, blobstore_walk_cb cb, void *ctx);
    int (*quarantine)(blob_backend *b, const digest *d);
    int (*remove)(blob_backend *b, const digest *d);
    int (*remove_many)(blob_backend *b, const digest *ds, size_t n);
    int (*uploads_new)(upload_table **out, blob_backend *b, const char *index_location);
    void (*close)(blob_backend *b);
} blob_backend_ops;

/* Each implementation's state starts with this. */
struct blob_backend {
    const blob_backend_ops *ops;
};

int local_backend_open(blob_backend **out, const char *data_dir);
int s3_backend_open(blob_backend **out, const char *data_dir, const char *url);

blob_backend *blobstore_backend(blobstore *bs);

/* Blobs held in the index (inline.c): a reader or a memfd of blob d, REG_ENOTFOUND when the
 * index does not hold it; their publication, which blobstore_publish_ops picks for a blob of
 * `size` bytes when it is within the store's inline maximum (else `otherwise`). */
int inline_open_reader(blob_reader **out, index_db *ix, const digest *d, uint64_t start,
                       uint64_t length);
int inline_open_fd(int *fd_out, uint64_t *size_out, index_db *ix, const digest *d);
extern const blob_publish_ops inline_publish_ops;
const blob_publish_ops *blobstore_publish_ops(const blobstore *bs, uint64_t size,
                                              const blob_publish_ops *otherwise);

/* ---- upload sessions ---- */

typedef struct upload_ops {
    int (*sign_ids)(upload_table *t, const unsigned char key[32], time_t max_age); /* or NULL */
    int (*create)(upload **out, char *id_out, upload_table *t, const char *repo);
    int (*acquire)(upload **out, unsigned *generation, upload_table *t, const char *id,
                   const char *repo);
    int (*peek)(uint64_t *offset_out, upload_table *t, const char *id, const char *repo);
    void (*release)(upload_table *t, upload *u, unsigned generation);
    int (*owned)(upload *u, unsigned generation);
    void (*discard)(upload_table *t, upload *u);
    uint64_t (*offset)(const upload *u);
    const char *(*id)(const upload *u);
    int (*append)(upload *u, unsigned generation, const void *data, size_t len);
    int (*flush)(upload *u);
    int (*digest)(digest *out, upload *u, digest_alg alg);
    int (*read_all)(upload *u, void *out, size_t len);
    int (*spool_reader)(upload *u); /* NULL: the backend has no local spool file */
    const blob_publish_ops *publish;
    int (*count)(upload_table *t);
    int (*expire)(upload_table *t, time_t max_idle);
    int64_t (*sweep)(upload_table *t, time_t max_idle, int dry_run);
    int (*leftovers)(upload_table *t, upload_leftover_cb cb, void *ctx);
    void (*free)(upload_table *t);
} upload_ops;

/* Each implementation's table and sessions start with these. */
struct upload_table {
    const upload_ops *ops;
};

struct upload {
    const upload_ops *ops;
};

/* Local sessions: spool files in `dir` (uploads_local.c), published through backend_local.c. */
int local_uploads_new(upload_table **out, const char *dir);
int local_publish_prepare(blob_publish *p);
int local_publish_commit(blob_publish *p);

/* Copy the session's `len` bytes (all of them, as upload_offset says) into out: for a blob
 * the index holds, which is small. */
int upload_read_all(upload *u, void *out, size_t len);

/* Is `id` a session id (the text upload_new_id makes)? */
int upload_is_id(const char *id);

#endif
