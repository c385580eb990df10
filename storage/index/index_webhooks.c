/* index_webhooks.c - SQL of the webhooks (see index_webhooks.h). */
#include "storage/index/index_webhooks.h"
#include "storage/index/index_internal.h"
#include "storage/index/index_outbox.h"

#include <stdlib.h>
#include <string.h>

void index_webhook_row_clear(webhook_row *w)
{
    free(w->name);
    free(w->url);
    free(w->repo_prefix);
    free(w->credentials);
    free(w->secret);
    memset(w, 0, sizeof(*w));
}

int index_webhook_add(index_db *ix, const webhook_row *w)
{
    sqldb_stmt *st = index_stmt_text2(ix, ST_WEBHOOK_ADD, w->name, w->url);
    if (!st)
        return REG_ERROR;
    sqldb_bind_int64(st, 3, (int64_t)w->events);
    index_bind_text(st, 4, w->repo_prefix ? w->repo_prefix : "");
    index_bind_bytes(st, 5, w->credentials, w->credentials_len);
    index_bind_bytes(st, 6, w->secret, w->secret_len);
    sqldb_bind_int64(st, 7, w->created_at);
    int err = index_run_changed(ix, st);
    if (err == REG_ENOTFOUND)
        return reg_error_set(REG_ECONFLICT, "webhook %s exists", w->name);
    return err;
}

static int copy_bytes(unsigned char **out, size_t *len_out, sqldb_stmt *st, int col)
{
    int len = 0;
    const void *p = sqldb_column_blob(st, col, &len);
    *out = NULL;
    *len_out = 0;
    if (!p || len <= 0)
        return REG_OK;
    if (!(*out = malloc((size_t)len)))
        return REG_ERROR;
    memcpy(*out, p, (size_t)len);
    *len_out = (size_t)len;
    return REG_OK;
}

/* The current row as a webhook_row of malloc'd copies. */
static int take_row(webhook_row *out, sqldb_stmt *st)
{
    memset(out, 0, sizeof(*out));
    out->name = index_column_copy(st, 0);
    out->url = index_column_copy(st, 1);
    out->events = (unsigned)sqldb_column_int64(st, 2);
    out->repo_prefix = index_column_copy(st, 3);
    out->created_at = sqldb_column_int64(st, 6);
    if (!out->name || !out->url || !out->repo_prefix ||
        copy_bytes(&out->credentials, &out->credentials_len, st, 4) < 0 ||
        copy_bytes(&out->secret, &out->secret_len, st, 5) < 0) {
        index_webhook_row_clear(out);
        return reg_error_set(REG_ERROR, "out of memory reading a webhook");
    }
    return REG_OK;
}

int index_webhook_get(webhook_row *out, index_db *ix, const char *name)
{
    sqldb_stmt *st = index_stmt_text(ix, ST_WEBHOOK_GET, name);
    int err = index_step_row(st);
    if (err == REG_ENOTFOUND)
        return reg_error_set(err, "no webhook named %s", name);
    if (err < 0)
        return err;
    err = take_row(out, st);
    index_done(st);
    return err;
}

int index_webhook_each(index_db *ix, webhook_row_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt(ix, ST_WEBHOOK_EACH);
    int err = REG_OK;
    while (index_next(st, &err)) {
        webhook_row w;
        if ((err = take_row(&w, st)) == REG_OK)
            err = cb(ctx, &w);
        index_webhook_row_clear(&w);
    }
    return err;
}

int index_webhook_delete(index_db *ix, const char *name)
{
    int err = index_run_changed(ix, index_stmt_text(ix, ST_WEBHOOK_DELETE, name));
    if (err == REG_ENOTFOUND)
        return reg_error_set(REG_ENOTFOUND, "no webhook named %s", name);
    if (err < 0)
        return err;
    return index_outbox_drop_target(ix, "webhook", name);
}

int index_webhook_wanted(index_db *ix, unsigned event_bit, const char *repo)
{
    sqldb_stmt *st = index_stmt_text(ix, ST_WEBHOOK_WANTS, repo);
    if (st)
        sqldb_bind_int64(st, 2, (int64_t)event_bit);
    int err = index_row_exists(st);
    return err == REG_OK ? 1 : err == REG_ENOTFOUND ? 0 : err;
}
