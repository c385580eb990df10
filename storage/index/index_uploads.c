/* index_uploads.c - SQL for upload sessions kept in the index (see index_uploads.h). */
#include "storage/index/index_uploads.h"
#include "storage/index/index_internal.h"
#include "storage/base/reg_error.h"

#include <stdlib.h>
#include <string.h>

static int copy_text(char *dst, size_t n, const char *src)
{
    size_t len = src ? strlen(src) : 0;
    if (len >= n)
        return REG_ERROR;
    memcpy(dst, src ? src : "", len + 1);
    return REG_OK;
}

/* The current row (COLUMNS order) into out, with a malloc'd copy of parts. */
static int read_row(upload_row *out, sqldb_stmt *st)
{
    int len = 0;
    out->parts = NULL;
    if (copy_text(out->id, sizeof(out->id), sqldb_column_text(st, 0)) < 0 ||
        copy_text(out->repo, sizeof(out->repo), sqldb_column_text(st, 1)) < 0 ||
        copy_text(out->mpu_id, sizeof(out->mpu_id), sqldb_column_text(st, 4)) < 0)
        return REG_ERROR;
    out->offset = (uint64_t)sqldb_column_int64(st, 2);
    const void *hash = sqldb_column_blob(st, 3, &len);
    if (len < 0 || len > UPLOAD_HASH_STATE_MAX)
        return REG_ERROR;
    if (len > 0)
        memcpy(out->hash_state, hash, (size_t)len);
    out->hash_len = (size_t)len;
    out->tail_len = (uint64_t)sqldb_column_int64(st, 6);
    out->updated = sqldb_column_int64(st, 7);
    out->generation = (unsigned)sqldb_column_int64(st, 8);
    out->busy_until = sqldb_column_int64(st, 9);
    const char *parts = sqldb_column_text(st, 5);
    if (parts && !(out->parts = strdup(parts)))
        return REG_ERROR;
    return REG_OK;
}

/* Step a statement returning at most one session row into out, and finish it. */
static int take_row(upload_row *out, sqldb_stmt *st)
{
    int err = index_step_row(st);
    if (err < 0)
        return err;
    err = read_row(out, st);
    index_done(st);
    if (err < 0) {
        free(out->parts);
        out->parts = NULL;
    }
    return err;
}

/* After a refused update: REG_EBUSY if the session is there, else REG_ENOTFOUND. */
static int busy_or_gone(index_db *ix, enum index_statement id, const char *upload_id,
                        const char *repo)
{
    sqldb_stmt *st = index_stmt(ix, id);
    if (st) {
        index_bind_text(st, 1, upload_id);
        if (repo)
            index_bind_text(st, 2, repo);
    }
    int err = index_step_row(st);
    if (err == REG_OK) {
        index_done(st);
        return REG_EBUSY;
    }
    return err;
}

int index_upload_insert(index_db *ix, const char *id, const char *repo, int64_t now)
{
    sqldb_stmt *st = index_stmt(ix, ST_UPLOAD_INSERT);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, id);
    index_bind_text(st, 2, repo);
    sqldb_bind_int64(st, 3, now);
    if (index_run(st) < 0)
        return REG_ERROR;
    return index_changes(ix) > 0 ? REG_OK : REG_ECONFLICT;
}

int index_upload_claim(upload_row *out, index_db *ix, const char *id, const char *repo, int64_t now,
                       int64_t lease_seconds)
{
    sqldb_stmt *st = index_stmt(ix, ST_UPLOAD_CLAIM);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, id);
    index_bind_text(st, 2, repo);
    sqldb_bind_int64(st, 3, now);
    sqldb_bind_int64(st, 4, now + lease_seconds);
    int err = take_row(out, st);
    return err == REG_ENOTFOUND ? busy_or_gone(ix, ST_UPLOAD_HOLDER, id, repo) : err;
}

int index_upload_save(index_db *ix, const upload_row *row)
{
    sqldb_stmt *st = index_stmt(ix, ST_UPLOAD_SAVE);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, row->id);
    sqldb_bind_int64(st, 2, row->generation);
    sqldb_bind_int64(st, 3, (int64_t)row->offset);
    if (row->hash_len > 0 && row->hash_len <= UPLOAD_HASH_STATE_MAX)
        sqldb_bind_blob(st, 4, row->hash_state, (int)row->hash_len);
    else
        sqldb_bind_null(st, 4);
    index_bind_text(st, 5, row->mpu_id[0] ? row->mpu_id : NULL);
    index_bind_text(st, 6, row->parts);
    sqldb_bind_int64(st, 7, (int64_t)row->tail_len);
    sqldb_bind_int64(st, 8, row->updated);
    sqldb_bind_int64(st, 9, row->busy_until);
    if (index_run(st) < 0)
        return REG_ERROR;
    return index_changes(ix) > 0 ? REG_OK : busy_or_gone(ix, ST_UPLOAD_EXISTS, row->id, NULL);
}

static int set_lease(index_db *ix, enum index_statement id, const char *upload_id,
                     unsigned generation, int64_t until)
{
    sqldb_stmt *st = index_stmt(ix, id);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, upload_id);
    sqldb_bind_int64(st, 2, generation);
    if (id == ST_UPLOAD_RENEW)
        sqldb_bind_int64(st, 3, until);
    if (index_run(st) < 0)
        return REG_ERROR;
    return index_changes(ix) > 0 ? REG_OK : busy_or_gone(ix, ST_UPLOAD_EXISTS, upload_id, NULL);
}

int index_upload_renew(index_db *ix, const char *id, unsigned generation, int64_t until)
{
    return set_lease(ix, ST_UPLOAD_RENEW, id, generation, until);
}

int index_upload_release(index_db *ix, const char *id, unsigned generation)
{
    return set_lease(ix, ST_UPLOAD_RELEASE, id, generation, 0);
}

int index_upload_get(upload_row *out, index_db *ix, const char *id, const char *repo)
{
    sqldb_stmt *st = index_stmt(ix, ST_UPLOAD_GET);
    if (st) {
        index_bind_text(st, 1, id);
        index_bind_text(st, 2, repo);
    }
    return take_row(out, st);
}

int index_upload_delete(index_db *ix, const char *id)
{
    sqldb_stmt *st = index_stmt(ix, ST_UPLOAD_DELETE);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, id);
    if (index_run(st) < 0)
        return REG_ERROR;
    return index_changes(ix) > 0 ? REG_OK : REG_ENOTFOUND;
}

typedef struct expired {
    char id[UPLOAD_ROW_ID_MAX + 1];
    char *mpu_id;
} expired;

/* The deleted rows are collected first: SQLite commits the DELETE only when its statement
 * is reset, and the callbacks talk to object storage. */
int index_upload_expire(index_db *ix, int64_t before, index_upload_expired_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt(ix, ST_UPLOAD_EXPIRE);
    expired *list = NULL;
    size_t n = 0, cap = 0;
    int err;
    if (st)
        sqldb_bind_int64(st, 1, before);
    while ((err = index_step_row(st)) == REG_OK) {
        const char *mpu_id = sqldb_column_text(st, 1);
        if (n == cap) {
            size_t grown_cap = cap ? cap * 2 : 16;
            expired *grown = realloc(list, grown_cap * sizeof(*grown));
            if (!grown) {
                err = REG_ERROR;
                break;
            }
            list = grown;
            cap = grown_cap;
        }
        list[n].mpu_id = mpu_id ? strdup(mpu_id) : NULL;
        if (copy_text(list[n].id, sizeof(list[n].id), sqldb_column_text(st, 0)) < 0 ||
            (mpu_id && !list[n].mpu_id)) {
            free(list[n].mpu_id);
            err = REG_ERROR;
            break;
        }
        n++;
    }
    index_done(st);
    if (err == REG_ENOTFOUND)
        err = REG_OK;
    for (size_t i = 0; i < n; i++) {
        if (err == REG_OK && cb(ctx, list[i].id, list[i].mpu_id) < 0)
            err = REG_ERROR;
        free(list[i].mpu_id);
    }
    free(list);
    return err;
}

int index_upload_list(index_db *ix, index_upload_row_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt(ix, ST_UPLOAD_LIST);
    int err;
    while ((err = index_step_row(st)) == REG_OK) {
        if ((err = cb(ctx, sqldb_column_text(st, 0), (uint64_t)sqldb_column_int64(st, 1))) < 0) {
            index_done(st);
            return err;
        }
    }
    return err == REG_ENOTFOUND ? REG_OK : err;
}
