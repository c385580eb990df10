/* index_replication.c - SQL for replication rules, destinations and statuses (see
 * index_replication.h). */
#include "storage/index/index_replication.h"
#include "storage/index/index_internal.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <time.h>

static int add_rule(index_db *ix, int64_t rule, const replication_rule *r)
{
    for (size_t i = 0; i < r->ndestinations; i++) {
        sqldb_stmt *st = index_stmt(ix, ST_REPL_RULE_DEST_ADD);
        if (!st)
            return REG_ERROR;
        sqldb_bind_int64(st, 1, rule);
        sqldb_bind_int64(st, 2, (int64_t)i);
        index_bind_text(st, 3, r->regions[i]);
        index_bind_text(st, 4, r->registry_ids[i]);
        if (index_run(st) < 0)
            return REG_ERROR;
    }
    for (size_t i = 0; i < r->nfilters; i++) {
        sqldb_stmt *st = index_stmt(ix, ST_REPL_RULE_FILTER_ADD);
        if (!st)
            return REG_ERROR;
        sqldb_bind_int64(st, 1, rule);
        sqldb_bind_int64(st, 2, (int64_t)i);
        index_bind_text(st, 3, r->filters[i]);
        index_bind_text(st, 4, REPLICATION_PREFIX_MATCH);
        if (index_run(st) < 0)
            return REG_ERROR;
    }
    return REG_OK;
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

/* Step st to its end, handing each row to each_row; REG_OK at the end. */
static int each_row(sqldb_stmt *st, int (*row)(void *ctx, sqldb_stmt *st), void *ctx)
{
    int err;
    while ((err = index_step_row(st)) == REG_OK) {
        if ((err = row(ctx, st)) < 0) {
            index_done(st);
            return err;
        }
    }
    return err == REG_ENOTFOUND ? REG_OK : err;
}

struct cb_ctx {
    void *cb;
    void *ctx;
};

static int dest_row(void *c, sqldb_stmt *st)
{
    struct cb_ctx *x = c;
    return ((index_replication_dest_cb)x->cb)(x->ctx, sqldb_column_int64(st, 0),
                                              sqldb_column_text(st, 1), sqldb_column_text(st, 2));
}

int index_replication_rule_destinations(index_db *ix, index_replication_dest_cb cb, void *ctx)
{
    struct cb_ctx x = {(void *)cb, ctx};
    return each_row(index_stmt(ix, ST_REPL_RULE_DESTS), dest_row, &x);
}

static int filter_row(void *c, sqldb_stmt *st)
{
    struct cb_ctx *x = c;
    return ((index_replication_filter_cb)x->cb)(x->ctx, sqldb_column_int64(st, 0),
                                                sqldb_column_text(st, 1), sqldb_column_text(st, 2));
}

int index_replication_rule_filters(index_db *ix, index_replication_filter_cb cb, void *ctx)
{
    struct cb_ctx x = {(void *)cb, ctx};
    return each_row(index_stmt(ix, ST_REPL_RULE_FILTERS), filter_row, &x);
}

static int target_row(void *c, sqldb_stmt *st)
{
    struct cb_ctx *x = c;
    return ((index_replication_target_cb)x->cb)(x->ctx, sqldb_column_text(st, 0),
                                                sqldb_column_text(st, 1));
}

int index_replication_targets(index_db *ix, const char *repo, index_replication_target_cb cb,
                              void *ctx)
{
    struct cb_ctx x = {(void *)cb, ctx};
    sqldb_stmt *st = index_stmt(ix, ST_REPL_TARGETS);
    if (st)
        index_bind_text(st, 1, repo);
    return each_row(st, target_row, &x);
}

int index_replication_queue(int *queued_out, index_db *ix, const char *repo, const char *digest,
                            const char *payload, int64_t now_ms)
{
    sqldb_stmt *st = index_stmt(ix, ST_REPL_QUEUE);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, repo);
    index_bind_text(st, 2, payload);
    sqldb_bind_int64(st, 3, now_ms);
    if (index_run(st) < 0)
        return REG_ERROR;
    int n = index_changes(ix);
    if (n == 0)
        return REG_OK;
    *queued_out += n;
    if (!(st = index_stmt(ix, ST_REPL_QUEUE_STATUS)))
        return REG_ERROR;
    index_bind_text(st, 1, repo);
    index_bind_text(st, 2, digest);
    sqldb_bind_int64(st, 3, now_ms / 1000);
    return index_run(st);
}

int index_replication_destination_put(index_db *ix, const replication_destination *d)
{
    sqldb_stmt *st = index_stmt(ix, ST_REPL_DEST_PUT);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, d->region);
    index_bind_text(st, 2, d->registry_id);
    index_bind_text(st, 3, d->url);
    index_bind_text(st, 4, d->username);
    if (d->password)
        sqldb_bind_blob(st, 5, d->password, (int)d->password_len);
    else
        sqldb_bind_null(st, 5);
    index_bind_text(st, 6, d->ca_file);
    sqldb_bind_int64(st, 7, (int64_t)time(NULL));
    return index_run(st);
}

static int destination_row(void *c, sqldb_stmt *st)
{
    struct cb_ctx *x = c;
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
    return ((index_replication_destination_cb)x->cb)(x->ctx, &d);
}

int index_replication_destination_get(index_db *ix, const char *region, const char *registry_id,
                                      index_replication_destination_cb cb, void *ctx)
{
    struct cb_ctx x = {(void *)cb, ctx};
    sqldb_stmt *st = index_stmt(ix, ST_REPL_DEST_GET);
    if (st) {
        index_bind_text(st, 1, region);
        index_bind_text(st, 2, registry_id);
    }
    int err = index_step_row(st);
    if (err < 0)
        return err;
    err = destination_row(&x, st);
    index_done(st);
    return err;
}

int index_replication_destinations(index_db *ix, index_replication_destination_cb cb, void *ctx)
{
    struct cb_ctx x = {(void *)cb, ctx};
    return each_row(index_stmt(ix, ST_REPL_DESTS), destination_row, &x);
}

int index_replication_destination_delete(index_db *ix, const char *region, const char *registry_id)
{
    sqldb_stmt *st = index_stmt(ix, ST_REPL_DEST_DELETE);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, region);
    index_bind_text(st, 2, registry_id);
    if (index_run(st) < 0)
        return REG_ERROR;
    return index_changes(ix) > 0 ? REG_OK : REG_ENOTFOUND;
}

int index_replication_status_set(index_db *ix, const char *repo, const char *digest,
                                 const char *region, const char *registry_id, const char *status,
                                 const char *reason)
{
    sqldb_stmt *st = index_stmt(ix, ST_REPL_STATUS_SET);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, repo);
    index_bind_text(st, 2, digest);
    index_bind_text(st, 3, region);
    index_bind_text(st, 4, registry_id);
    index_bind_text(st, 5, status);
    index_bind_text(st, 6, reason);
    sqldb_bind_int64(st, 7, (int64_t)time(NULL));
    return index_run(st);
}

static int status_row(void *c, sqldb_stmt *st)
{
    struct cb_ctx *x = c;
    return ((index_replication_status_cb)x->cb)(
        x->ctx, sqldb_column_text(st, 0), sqldb_column_text(st, 1), sqldb_column_text(st, 2),
        sqldb_column_text(st, 3), sqldb_column_int64(st, 4));
}

int index_replication_statuses(index_db *ix, const char *repo, const char *digest,
                               index_replication_status_cb cb, void *ctx)
{
    struct cb_ctx x = {(void *)cb, ctx};
    sqldb_stmt *st = index_stmt(ix, ST_REPL_STATUSES);
    if (st) {
        index_bind_text(st, 1, repo);
        index_bind_text(st, 2, digest);
    }
    return each_row(st, status_row, &x);
}

static int name_row(void *c, sqldb_stmt *st)
{
    struct cb_ctx *x = c;
    return ((index_name_cb)x->cb)(x->ctx, sqldb_column_text(st, 0));
}

int index_replication_image_tags(index_db *ix, const char *repo, const char *digest,
                                 index_name_cb cb, void *ctx)
{
    struct cb_ctx x = {(void *)cb, ctx};
    sqldb_stmt *st = index_stmt(ix, ST_REPL_IMAGE_TAGS);
    if (st) {
        index_bind_text(st, 1, repo);
        index_bind_text(st, 2, digest);
    }
    return each_row(st, name_row, &x);
}

int index_replication_mount_source(char *out, size_t n, index_db *ix, const char *repo,
                                   const char *digest)
{
    sqldb_stmt *st = index_stmt(ix, ST_REPL_BLOB_OTHER_REPO);
    if (st) {
        index_bind_text(st, 1, repo);
        index_bind_text(st, 2, digest);
    }
    int err = index_step_row(st);
    if (err < 0)
        return err;
    const char *name = sqldb_column_text(st, 0);
    snprintf(out, n, "%s", name ? name : "");
    index_done(st);
    return name ? REG_OK : REG_ENOTFOUND;
}
