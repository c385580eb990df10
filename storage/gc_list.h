/* gc_list.h - the sweep's listing of unreferenced blobs on a thread of its own, over a second
 * connection, while gc's write transaction deletes the rows already listed (gc.c): the
 * listing's probes and the deletions each keep one core busy instead of taking turns.
 *
 * Start it once the write transaction holds the write lock, on a connection that is not in a
 * transaction: its one statement then reads the index exactly as the write transaction found
 * it (no other writer can commit meanwhile; the transaction's own changes are not visible to
 * another connection). Not for a connection attached to a server's writer, whose open
 * transaction may hold other requests' work not yet committed. */
#ifndef OCIREG_GC_LIST_H
#define OCIREG_GC_LIST_H

#include "storage/index/index_gc.h"

typedef struct gc_lister gc_lister;

/* List up to max blobs after `after`, created and last linked before cutoff, into rows (the
 * caller's array, which must stay until gc_lister_finish). */
int gc_lister_start(gc_lister **out, index_db *reader, gc_blob *rows, size_t max, int64_t cutoff,
                    const char *after);
/* Wait for row i: 1 once rows[i] is listed, 0 when the listing ended before it (or failed:
 * gc_lister_finish says why). */
int gc_lister_wait(gc_lister *l, size_t i);
/* Stop listing (if it still runs), wait for the thread and free l; *count is the number of
 * rows listed. Returns the error of a listing that failed (with reg_error_last() set in this
 * thread); one that was stopped returns REG_OK. */
int gc_lister_finish(gc_lister *l, size_t *count);

#endif
