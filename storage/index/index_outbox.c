/* index_outbox.c - SQL of the outbox (see index_outbox.h). */
#include "storage/index/index_outbox.h"
#include "storage/index/index_internal.h"

#include <stdlib.h>
#include <string.h>

void index_outbox_entry_clear(outbox_entry *e)
{
    free(e->kind);
    free(e->target);
    free(e->repository);
    free(e->payload);
    memset(e, 0, sizeof(*e));
}

int index_outbox_queue(index_db *ix, const char *kind, const char *target, const char *repo,
                       const char *payload, int64_t now)
{
    sqldb_stmt *st = index_stmt_text2(ix, ST_OUTBOX_QUEUE, kind, target);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 3, repo);
    index_bind_text(st, 4, payload);
    sqldb_bind_int64(st, 5, now);
    return index_run(st);
}

int index_outbox_queue_webhooks(int *queued_out, index_db *ix, unsigned event_bit, const char *repo,
                                const char *payload, int64_t now)
{
    sqldb_stmt *st = index_stmt_text2(ix, ST_OUTBOX_QUEUE_WEBHOOKS, repo, payload);
    *queued_out = 0;
    if (!st)
        return REG_ERROR;
    sqldb_bind_int64(st, 3, now);
    sqldb_bind_int64(st, 4, (int64_t)event_bit);
    int err = index_run(st);
    if (err == REG_OK)
        *queued_out = index_changes(ix);
    return err;
}

static int entry_from_row(outbox_entry *out, sqldb_stmt *st)
{
    out->id = sqldb_column_int64(st, 0);
    out->kind = index_column_copy(st, 1);
    out->target = index_column_copy(st, 2);
    out->repository = index_column_copy(st, 3);
    out->payload = index_column_copy(st, 4);
    out->created = sqldb_column_int64(st, 5);
    out->attempts = sqldb_column_int64(st, 6);
    if (out->kind && out->target && out->repository && out->payload)
        return REG_OK;
    index_outbox_entry_clear(out);
    return reg_error_set(REG_ERROR, "out of memory reading an outbox entry");
}

int index_outbox_claim(outbox_entry *out, index_db *ix, const char *owner, int64_t now,
                       int64_t lease_until, int64_t target_cap)
{
    memset(out, 0, sizeof(*out));
    sqldb_stmt *st = index_stmt(ix, ST_OUTBOX_CLAIM);
    if (st) {
        index_bind_text(st, 1, owner);
        sqldb_bind_int64(st, 2, now);
        sqldb_bind_int64(st, 3, lease_until);
        sqldb_bind_int64(st, 4, target_cap);
    }
    int err = index_step_row(st);
    if (err < 0)
        return err;
    err = entry_from_row(out, st);
    index_done(st); /* the UPDATE is applied by the first step */
    return err;
}

static int by_id(const void *a, const void *b)
{
    const outbox_entry *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

int index_outbox_claim_following(outbox_entry *out, size_t max, size_t *n_out, index_db *ix,
                                 const outbox_entry *head, const char *owner, int64_t now,
                                 int64_t lease_until)
{
    sqldb_stmt *st = index_stmt(ix, ST_OUTBOX_CLAIM_FOLLOWING);
    size_t n = 0;
    int rc = SQLDB_DONE, err = REG_OK;
    *n_out = 0;
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, owner);
    sqldb_bind_int64(st, 2, now);
    sqldb_bind_int64(st, 3, lease_until);
    index_bind_text(st, 4, head->kind);
    index_bind_text(st, 5, head->target);
    index_bind_text(st, 6, head->repository);
    sqldb_bind_int64(st, 7, head->id);
    sqldb_bind_int64(st, 8, (int64_t)max);
    while (err == REG_OK && n < max && (rc = sqldb_step(st)) == SQLDB_ROW)
        if ((err = entry_from_row(&out[n], st)) == REG_OK)
            n++;
    if (err == REG_OK && n < max && rc == SQLDB_ERROR)
        err = REG_ERROR;
    index_done(st);
    if (err < 0) {
        for (size_t i = 0; i < n; i++)
            index_outbox_entry_clear(&out[i]);
        return err;
    }
    qsort(out, n, sizeof(*out), by_id); /* RETURNING promises no order */
    *n_out = n;
    return REG_OK;
}

/* Statement `sid` for entry id as leased by owner (?1, ?2); NULL if it failed to prepare.
 * index_run_changed runs it: REG_ENOTFOUND when the lease is gone. */
static sqldb_stmt *leased(index_db *ix, enum index_statement sid, int64_t id, const char *owner)
{
    sqldb_stmt *st = index_stmt(ix, sid);
    if (st) {
        sqldb_bind_int64(st, 1, id);
        index_bind_text(st, 2, owner);
    }
    return st;
}

/* Run `sid` on entry id as leased by owner with time t (?3). */
static int stamp_leased(index_db *ix, enum index_statement sid, int64_t id, const char *owner,
                        int64_t t)
{
    sqldb_stmt *st = leased(ix, sid, id, owner);
    if (st)
        sqldb_bind_int64(st, 3, t);
    return index_run_changed(ix, st);
}

int index_outbox_renew(index_db *ix, int64_t id, const char *owner, int64_t lease_until)
{
    return stamp_leased(ix, ST_OUTBOX_RENEW, id, owner, lease_until);
}

int index_outbox_done(index_db *ix, int64_t id, const char *owner, int64_t now)
{
    return stamp_leased(ix, ST_OUTBOX_DONE, id, owner, now);
}

int index_outbox_retry(index_db *ix, int64_t id, const char *owner, int64_t next_attempt,
                       const char *error, int park, int64_t now)
{
    sqldb_stmt *st = leased(ix, ST_OUTBOX_RETRY, id, owner);
    if (st) {
        index_bind_text(st, 3, park ? "parked" : "pending");
        sqldb_bind_int64(st, 4, next_attempt);
        index_bind_text(st, 5, error);
        sqldb_bind_int64(st, 6, now);
    }
    return index_run_changed(ix, st);
}

int index_outbox_release_all(index_db *ix)
{
    return index_run(index_stmt(ix, ST_OUTBOX_RELEASE_ALL));
}

int index_outbox_next_due(int64_t *out, index_db *ix, int64_t now)
{
    sqldb_stmt *st = index_stmt(ix, ST_OUTBOX_NEXT_DUE);
    if (st)
        sqldb_bind_int64(st, 1, now);
    int err = index_step_row(st);
    if (err < 0)
        return err;
    err = sqldb_column_is_null(st, 0) ? REG_ENOTFOUND : REG_OK;
    *out = sqldb_column_int64(st, 0);
    index_done(st);
    return err;
}

/* Step st to its one row and read its first column to *first and, when second is not NULL,
 * its second to *second (both 0 on an error). */
static int read_counts(int64_t *first, int64_t *second, sqldb_stmt *st)
{
    int err = index_step_row(st);
    *first = 0;
    if (second)
        *second = 0;
    if (err < 0)
        return err;
    *first = sqldb_column_int64(st, 0);
    if (second)
        *second = sqldb_column_int64(st, 1);
    index_done(st);
    return REG_OK;
}

int index_outbox_stats(int64_t *depth_out, int64_t *oldest_out, index_db *ix)
{
    return read_counts(depth_out, oldest_out, index_stmt(ix, ST_OUTBOX_STATS));
}

int index_outbox_parked(int64_t *count_out, index_db *ix)
{
    return read_counts(count_out, NULL, index_stmt(ix, ST_OUTBOX_PARKED));
}

int index_outbox_purge(index_db *ix, int64_t before)
{
    sqldb_stmt *st = index_stmt(ix, ST_OUTBOX_PURGE);
    if (!st)
        return REG_ERROR;
    sqldb_bind_int64(st, 1, before);
    return index_run(st);
}

int index_outbox_list(index_db *ix, const char *kind, const char *target, int parked_only,
                      int64_t limit, outbox_row_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt(ix, ST_OUTBOX_LIST);
    int rc, err = REG_OK;
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, kind);
    index_bind_text(st, 2, target);
    sqldb_bind_int64(st, 3, parked_only ? 1 : 0);
    sqldb_bind_int64(st, 4, limit);
    while (err == REG_OK && (rc = sqldb_step(st)) == SQLDB_ROW) {
        outbox_row row = {.id = sqldb_column_int64(st, 0),
                          .state = sqldb_column_text(st, 1),
                          .attempts = sqldb_column_int64(st, 2),
                          .created = sqldb_column_int64(st, 3),
                          .updated = sqldb_column_int64(st, 4),
                          .repository = sqldb_column_text(st, 5),
                          .payload = sqldb_column_text(st, 6),
                          .last_error = sqldb_column_text(st, 7)};
        err = cb(ctx, &row);
    }
    if (err == REG_OK && rc == SQLDB_ERROR)
        err = REG_ERROR;
    index_done(st);
    return err;
}

int index_outbox_redeliver(int64_t *count_out, index_db *ix, const char *kind, const char *target,
                           int64_t id, int64_t now)
{
    sqldb_stmt *st = index_stmt(ix, id < 0 ? ST_OUTBOX_REDELIVER_PARKED : ST_OUTBOX_REDELIVER_ONE);
    *count_out = 0;
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, kind);
    index_bind_text(st, 2, target);
    if (id < 0) {
        sqldb_bind_int64(st, 3, now);
    } else {
        sqldb_bind_int64(st, 3, id);
        sqldb_bind_int64(st, 4, now);
    }
    if (index_run(st) < 0)
        return REG_ERROR;
    *count_out = index_changes(ix);
    return REG_OK;
}

int index_outbox_drop_target(index_db *ix, const char *kind, const char *target)
{
    sqldb_stmt *st = index_stmt_text2(ix, ST_OUTBOX_DROP_TARGET, kind, target);
    return st ? index_run(st) : REG_ERROR;
}
