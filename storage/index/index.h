/* index.h - the metadata index in SQLite (WAL, synchronous=FULL) or PostgreSQL: repositories,
 * blobs and their repository links, manifests, their references, tags. One connection per
 * thread; statements are prepared once per connection. All SQL of the project lives in
 * storage/index: the schema in index.c, every statement in statements.def. */
#ifndef OCIREG_INDEX_H
#define OCIREG_INDEX_H

#include "storage/base/digest.h"

#include <stdint.h>

typedef struct index_db index_db;

/* Open (creating and migrating if needed) the index at `location`: a libpq connection URI
 * when it starts with postgres:// or postgresql://, else the path of a SQLite file. A lost
 * PostgreSQL connection fails the statement that met it (REG_ERROR) and is reset on the next
 * use outside a transaction. */
int index_open(index_db **out, const char *location);

/* Whether `location` is an index several instances share (PostgreSQL). */
int index_is_shared(const char *location);
void index_close(index_db *ix);
/* The last error of ix (after a failed transaction on its writer, that transaction's); with ix
 * NULL, why this thread's last index_open or index_writer_open failed (reg_error_last). */
const char *index_errmsg(index_db *ix);

/* The writer the connections of a server share. On SQLite it is one connection of its own,
 * on which the write transactions of every attached connection run in turn: its page cache
 * then stays valid from one write to the next, where with a connection per thread each one's
 * cache was dropped whenever another had committed. On PostgreSQL it holds nothing: attached
 * connections write on their own, as the instances do side by side. Open it before the
 * threads that use the index start; close it after they stop. */
typedef struct index_writer index_writer;
int index_writer_open(index_writer **out, const char *location);
void index_writer_close(index_writer *w);
/* Let ix's write transactions take w (opened on ix's location), which must outlive them. */
void index_writer_attach(index_writer *w, index_db *ix);
/* COMMITs run for the attached connections and the write transactions they made durable: on
 * SQLite, transactions that meet other writers waiting share a COMMIT (index_commit). */
void index_writer_counts(uint64_t *commits_out, uint64_t *transactions_out, index_writer *w);
/* On SQLite, the checkpoints that copied the WAL into the database file: a writer runs them
 * on a thread of its own, so commits do not pay for them, but for the rare commit that finds
 * the WAL past INDEX_WAL_RESTART_FRAMES (index_checkpoint.c). 0 on PostgreSQL. */
uint64_t index_writer_checkpoints(index_writer *w);
/* For a batch job that rewrites much of the index on its own connection (ocireg gc): a page
 * cache of INDEX_BATCH_CACHE_KIB, so that a transaction's pages are not spilled to the WAL and
 * written there again, and its WAL checkpoints left to a server's writer or to ix's close.
 * No-op on PostgreSQL. */
#define INDEX_BATCH_CACHE_KIB 65536
void index_tune_for_batch(index_db *ix);
/* For a connection that reads much of the index once and writes nothing (gc's lister,
 * gc_list.h): on SQLite the database file is mapped (up to INDEX_SCAN_MMAP_BYTES) and pages
 * are read in place, not copied into a page cache of the connection's own, whose pages the
 * writing connection would read and cache again. Safe because ocireg never shrinks the file
 * (no VACUUM). No-op on PostgreSQL. */
#define INDEX_SCAN_MMAP_BYTES (1ll << 30)
void index_tune_for_scan(index_db *ix);

/* Write transactions take the write lock at BEGIN, so that a read-check-write inside one
 * cannot race another writer (e.g. gc).
 * On SQLite, a connection attached to a writer first takes the writer: it waits for the
 * writer's mutex (handed over at once, where SQLite's busy handler polls), and until
 * index_commit or index_rollback every statement through ix runs on the writer's connection;
 * reads outside a transaction stay on ix's own. An unattached connection writes on its own,
 * meeting other connections and processes at SQLite's lock (busy timeout 10 s).
 * On PostgreSQL the lock is an advisory lock shared by every instance on the database, taken
 * for at most 10 s of waiting; reads there run at READ COMMITTED, each statement seeing every
 * writer committed before it. */
/* Group commit on SQLite: a transaction that ends while other threads wait for the writer
 * leaves its work in the open SQLite transaction (a savepoint released) and hands the writer
 * on; the last of the group (no one waiting, or INDEX_WRITER_GROUP_MAX transactions) runs the
 * one COMMIT, with one fsync for all. index_commit returns REG_OK only once that COMMIT is
 * durable, and a failed COMMIT fails every transaction of the group (each thread's
 * reg_error_last / index_errmsg says why). index_rollback undoes only its own transaction.
 * Call index_rollback after a failed index_commit as after any failure: it ends what is left
 * of the transaction, if anything. */
int index_begin(index_db *ix);
int index_commit(index_db *ix);
void index_rollback(index_db *ix);
/* End the transaction index_begin opened with the outcome of its work: index_commit when err
 * is REG_OK, index_rollback when it is not or the commit failed. Returns err, or the commit's
 * failure. */
int index_end(index_db *ix, int err);

int index_repo_id(int64_t *out, index_db *ix, const char *repo);
int index_repo_ensure(int64_t *out, index_db *ix, const char *repo);

/* Size of a blob linked into `repo`; REG_ENOTFOUND if it is not linked there. */
int index_blob_in_repo(uint64_t *size_out, index_db *ix, const char *repo, const digest *d);
int index_blob_in_repo_id(uint64_t *size_out, index_db *ix, int64_t repo_id, const char *digest);
/* Record a blob (first commit wins) and link it into the repository. */
int index_blob_link(index_db *ix, int64_t repo_id, const digest *d, uint64_t size);
/* REG_ENOTFOUND if not linked; REG_ECONFLICT (with the manifest in conflict_out, DIGEST_MAX
 * bytes) if a manifest of the repository still references it. */
int index_blob_unlink(char *conflict_out, index_db *ix, const char *repo, const digest *d);

typedef struct manifest_row {
    digest dg;
    char media_type[256];
    uint64_t size;
} manifest_row;

int index_manifest_by_digest(manifest_row *out, index_db *ix, const char *repo, const digest *d);
int index_manifest_by_tag(manifest_row *out, index_db *ix, const char *repo, const char *tag);
int index_manifest_in_repo_id(index_db *ix, int64_t repo_id, const char *digest);

typedef struct manifest_record {
    const digest *dg;
    const char *media_type;
    const char *artifact_type; /* NULL when none */
    const char *subject;       /* digest text or NULL */
    const char *annotations;   /* JSON object text or NULL */
    uint64_t size;
    uint64_t image_size; /* manifest + config + layers (+ children for an index) */
} manifest_record;

/* Insert a manifest row; *inserted_out is 0 when it was already there (refs then exist). */
int index_manifest_insert(int *inserted_out, index_db *ix, int64_t repo_id,
                          const manifest_record *m);
int index_manifest_ref_insert(index_db *ix, int64_t repo_id, const char *manifest,
                              const char *child, const char *kind);
int index_tag_set(index_db *ix, int64_t repo_id, const char *tag, const char *digest);

/* Remove a manifest with its tags and outgoing references. REG_ENOTFOUND if absent;
 * REG_ECONFLICT (index digest in conflict_out) if an index of the repository refers to it. */
int index_manifest_delete(char *conflict_out, index_db *ix, const char *repo, const digest *d);
int index_tag_delete(index_db *ix, const char *repo, const char *tag);

/* Pages in lexical order after `last` (NULL or "" for the start), at most `limit` rows.
 * The callback gets each name; *more_out says whether rows follow the page. */
typedef int (*index_name_cb)(void *ctx, const char *name);
int index_tags_page(int *more_out, index_db *ix, const char *repo, const char *last, int64_t limit,
                    index_name_cb cb, void *ctx);
int index_catalog_page(int *more_out, index_db *ix, const char *last, int64_t limit,
                       index_name_cb cb, void *ctx);

typedef struct referrer_row {
    const char *digest;
    const char *media_type;
    const char *artifact_type; /* may be NULL */
    const char *annotations;   /* JSON text or NULL */
    uint64_t size;
} referrer_row;
typedef int (*index_referrer_cb)(void *ctx, const referrer_row *row);
int index_referrers(index_db *ix, const char *repo, const digest *subject,
                    const char *artifact_type, index_referrer_cb cb, void *ctx);

#endif
