/* index_replication.c - SQL for replication rules, destinations and statuses (see
 * index_replication.h). */
#include "storage/index/index_replication.h"
#include "storage/index/index_internal.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <time.h>

/* Insert row i of rule `rule` with `sid`: a destination (region, registry id) or a filter
 * (filter, its type). */
static int add_rule_row(index_db *ix, enum index_statement sid, int64_t rule, size_t i,
                        const char *a, const char *b)
{
    sqldb_stmt *st = index_stmt(ix, sid);
    if (!st)
        return REG_ERROR;
    sqldb_bind_int64(st, 1, rule);
    sqldb_bind_int64(st, 2, (int64_t)i);
    index_bind_text(st, 3, a);
    index_bind_text(st, 4, b);
    return index_run(st);
}

static int add_rule(index_db *ix, int64_t rule, const replication_rule *r)
{
    int err = REG_OK;
    for (size_t i = 0; i < r->ndestinations && err == REG_OK; i++)
        err = add_rule_row(ix, ST_REPL_RULE_DEST_ADD, rule, i, r->regions[i], r->registry_ids[i]);
    for (size_t i = 0; i < r->nfilters && err == REG_OK; i++)
        err = add_rule_row(ix, ST_REPL_RULE_FILTER_ADD, rule, i, r->filters[i],
                           REPLICATION_PREFIX_MATCH);
    return err;
}

int index_replication_config_put(index_db *ix, const replication_rule *rules, size_t n)
{
    int err = index_begin(ix);
    if (err < 0)
        return err;
    err = index_run(index_stmt(ix, ST_REPL_RULE_DESTS_CLEAR));
    if (err == REG_OK)
        err = index_run(index_stmt(ix, ST_REPL_RULE_FILTERS_CLEAR));
    for (size_t i = 0; i < n && err == REG_OK; i++)
        err = add_rule(ix, (int64_t)i, &rules[i]);
    if (err == REG_OK)
        err = index_commit(ix);
    if (err < 0)
        index_rollback(ix);
    return err;
}

/* Hand each row of st, a rule's destination or filter (rule, text, text), to cb. */
static int rule_rows(sqldb_stmt *st, index_replication_dest_cb cb, void *ctx)
{
    int err = REG_OK;
    while (index_next(st, &err))
        err =
            cb(ctx, sqldb_column_int64(st, 0), sqldb_column_text(st, 1), sqldb_column_text(st, 2));
    return err;
}

int index_replication_rule_destinations(index_db *ix, index_replication_dest_cb cb, void *ctx)
{
    return rule_rows(index_stmt(ix, ST_REPL_RULE_DESTS), cb, ctx);
}

int index_replication_rule_filters(index_db *ix, index_replication_filter_cb cb, void *ctx)
{
    return rule_rows(index_stmt(ix, ST_REPL_RULE_FILTERS), cb, ctx);
}

int index_replication_targets(index_db *ix, const char *repo, index_replication_target_cb cb,
                              void *ctx)
{
    sqldb_stmt *st = index_stmt_text(ix, ST_REPL_TARGETS, repo);
    int err = REG_OK;
    while (index_next(st, &err))
        err = cb(ctx, sqldb_column_text(st, 0), sqldb_column_text(st, 1));
    return err;
}

int index_replication_queue(int *queued_out, index_db *ix, const char *repo, const char *digest,
                            const char *payload, int64_t now_ms)
{
    sqldb_stmt *st = index_stmt_text2(ix, ST_REPL_QUEUE, repo, payload);
    if (!st)
        return REG_ERROR;
    sqldb_bind_int64(st, 3, now_ms);
    if (index_run(st) < 0)
        return REG_ERROR;
    int n = index_changes(ix);
    if (n == 0)
        return REG_OK;
    *queued_out += n;
    if (!(st = index_stmt_text2(ix, ST_REPL_QUEUE_STATUS, repo, digest)))
        return REG_ERROR;
    sqldb_bind_int64(st, 3, now_ms / 1000);
    return index_run(st);
}

int index_replication_destination_put(index_db *ix, const replication_destination *d)
{
    sqldb_stmt *st = index_stmt_text2(ix, ST_REPL_DEST_PUT, d->region, d->registry_id);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 3, d->url);
    index_bind_text(st, 4, d->username);
    index_bind_bytes(st, 5, d->password, d->password_len);
    index_bind_text(st, 6, d->ca_file);
    sqldb_bind_int64(st, 7, (int64_t)time(NULL));
    return index_run(st);
}

/* Hand the destination in st's row to cb. */
static int destination_row(sqldb_stmt *st, index_replication_destination_cb cb, void *ctx)
{
    int len = 0;
    const void *password = sqldb_column_blob(st, 4, &len);
    replication_destination d = {
        .region = sqldb_column_text(st, 0),
        .registry_id = sqldb_column_text(st, 1),
        .url = sqldb_column_text(st, 2),
        .username = sqldb_column_text(st, 3),
        .password = len > 0 ? password : NULL,
        .password_len = len > 0 ? (size_t)len : 0,
        .ca_file = sqldb_column_text(st, 5),
        .created_at = sqldb_column_int64(st, 6),
    };
    if (!d.region || !d.registry_id || !d.url)
        return reg_error_set(REG_ERROR, "index: a replication destination row is incomplete");
    return cb(ctx, &d);
}

int index_replication_destination_get(index_db *ix, const char *region, const char *registry_id,
                                      index_replication_destination_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt_text2(ix, ST_REPL_DEST_GET, region, registry_id);
    int err = index_step_row(st);
    if (err < 0)
        return err;
    err = destination_row(st, cb, ctx);
    index_done(st);
    return err;
}

int index_replication_destinations(index_db *ix, index_replication_destination_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt(ix, ST_REPL_DESTS);
    int err = REG_OK;
    while (index_next(st, &err))
        err = destination_row(st, cb, ctx);
    return err;
}

int index_replication_destination_delete(index_db *ix, const char *region, const char *registry_id)
{
    return index_run_changed(ix, index_stmt_text2(ix, ST_REPL_DEST_DELETE, region, registry_id));
}

int index_replication_status_set(index_db *ix, const char *repo, const char *digest,
                                 const char *region, const char *registry_id, const char *status,
                                 const char *reason)
{
    sqldb_stmt *st = index_stmt_text2(ix, ST_REPL_STATUS_SET, repo, digest);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 3, region);
    index_bind_text(st, 4, registry_id);
    index_bind_text(st, 5, status);
    index_bind_text(st, 6, reason);
    sqldb_bind_int64(st, 7, (int64_t)time(NULL));
    return index_run(st);
}

int index_replication_statuses(index_db *ix, const char *repo, const char *digest,
                               index_replication_status_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt_text2(ix, ST_REPL_STATUSES, repo, digest);
    int err = REG_OK;
    while (index_next(st, &err))
        err = cb(ctx, sqldb_column_text(st, 0), sqldb_column_text(st, 1), sqldb_column_text(st, 2),
                 sqldb_column_text(st, 3), sqldb_column_int64(st, 4));
    return err;
}

int index_replication_image_tags(index_db *ix, const char *repo, const char *digest,
                                 index_name_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt_text2(ix, ST_REPL_IMAGE_TAGS, repo, digest);
    int err = REG_OK;
    while (index_next(st, &err))
        err = cb(ctx, sqldb_column_text(st, 0));
    return err;
}

int index_replication_mount_source(char *out, size_t n, index_db *ix, const char *repo,
                                   const char *digest)
{
    sqldb_stmt *st = index_stmt_text2(ix, ST_REPL_BLOB_OTHER_REPO, repo, digest);
    int err = index_step_row(st);
    if (err < 0)
        return err;
    const char *name = sqldb_column_text(st, 0);
    snprintf(out, n, "%s", name ? name : "");
    index_done(st);
    return name ? REG_OK : REG_ENOTFOUND;
}
