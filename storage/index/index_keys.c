/* index_keys.c - SQL of the shared key files (see index_keys.h). */
#include "storage/index/index_keys.h"
#include "storage/index/index_internal.h"

int index_key_offer(index_db *ix, const char *name, const void *content, size_t len)
{
    sqldb_stmt *st = index_stmt(ix, ST_SHARED_KEY_OFFER);
    if (!st || len > (1u << 20))
        return REG_ERROR;
    sqldb_bind_text(st, 1, name);
    sqldb_bind_blob(st, 2, content, (int)len);
    return index_run(st);
}

int index_keys_each(index_db *ix, index_key_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt(ix, ST_SHARED_KEYS_EACH);
    int rc, err = REG_OK;
    if (!st)
        return REG_ERROR;
    while (err == REG_OK && (rc = sqldb_step(st)) == SQLDB_ROW) {
        int len = 0;
        const void *p = sqldb_column_blob(st, 1, &len);
        const char *name = sqldb_column_text(st, 0);
        if (name && len >= 0)
            err = cb(ctx, name, p ? p : "", (size_t)len);
    }
    if (err == REG_OK && rc != SQLDB_DONE)
        err = REG_ERROR;
    sqldb_reset(st);
    return err;
}
