/* index_auth.c - SQL for users and grants (see index_auth.h). */
#include "storage/index/index_auth.h"
#include "storage/index/index_internal.h"
#include "storage/base/reg_error.h"

#include <string.h>
#include <time.h>

int index_user_put(index_db *ix, const user_record *u)
{
    sqldb_stmt *st = index_stmt(ix, ST_USER_PUT);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, u->name);
    sqldb_bind_blob(st, 2, u->salt, PASSWORD_SALT_LEN);
    sqldb_bind_blob(st, 3, u->hash, PASSWORD_HASH_LEN);
    sqldb_bind_int64(st, 4, u->iterations);
    sqldb_bind_int64(st, 5, (int64_t)time(NULL));
    sqldb_bind_int64(st, 6, u->generation);
    return index_run(st);
}

int index_user_get(user_record *out, index_db *ix, const char *name)
{
    sqldb_stmt *st = index_stmt_text(ix, ST_USER_GET, name);
    int err = index_step_row(st);
    if (err < 0)
        return err;
    int salt_len = 0, hash_len = 0;
    const void *salt = sqldb_column_blob(st, 0, &salt_len);
    if (salt_len != PASSWORD_SALT_LEN || strlen(name) > USER_NAME_MAX) {
        index_done(st);
        return REG_ERROR;
    }
    memcpy(out->salt, salt, PASSWORD_SALT_LEN);
    const void *hash = sqldb_column_blob(st, 1, &hash_len);
    if (hash_len != PASSWORD_HASH_LEN) {
        index_done(st);
        return REG_ERROR;
    }
    memcpy(out->hash, hash, PASSWORD_HASH_LEN);
    out->iterations = sqldb_column_int(st, 2);
    out->generation = sqldb_column_int64(st, 3);
    memcpy(out->name, name, strlen(name) + 1);
    index_done(st);
    return REG_OK;
}

int index_user_generation(int64_t *out, index_db *ix, const char *name)
{
    return index_row_int64(out, index_stmt_text(ix, ST_USER_GENERATION, name));
}

int index_user_delete(index_db *ix, const char *name)
{
    int err = index_run_changed(ix, index_stmt_text(ix, ST_USER_DELETE, name));
    if (err < 0)
        return err;
    if (index_run(index_stmt_text(ix, ST_USER_ACCESS_KEYS_DELETE, name)) < 0)
        return REG_ERROR;
    return index_run(index_stmt_text(ix, ST_USER_GRANTS_DELETE, name));
}

int index_user_list(index_db *ix, index_name_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt(ix, ST_USER_LIST);
    int err = REG_OK;
    while (index_next(st, &err))
        err = cb(ctx, sqldb_column_text(st, 0));
    return err;
}

int index_user_count(int64_t *out, index_db *ix)
{
    return index_row_int64(out, index_stmt(ix, ST_USER_COUNT));
}

/* Run a grant statement whose ?3 is the actions. */
static int run_grant(index_db *ix, enum index_statement id, const char *principal,
                     const char *pattern, unsigned actions)
{
    sqldb_stmt *st = index_stmt_text2(ix, id, principal, pattern);
    if (st)
        sqldb_bind_int64(st, 3, (int)actions);
    return index_run(st);
}

int index_grant_add(index_db *ix, const char *principal, const char *pattern, unsigned actions)
{
    return run_grant(ix, ST_GRANT_ADD, principal, pattern, actions);
}

int index_grant_remove(index_db *ix, const char *principal, const char *pattern, unsigned actions)
{
    int64_t held = 0;
    int err = index_row_int64(&held, index_stmt_text2(ix, ST_GRANT_GET, principal, pattern));
    if (err < 0)
        return err;
    unsigned left = (unsigned)held & ~actions;
    if (left == 0)
        return index_run(index_stmt_text2(ix, ST_GRANT_DELETE, principal, pattern));
    return run_grant(ix, ST_GRANT_SET, principal, pattern, left);
}

int index_grants(index_db *ix, const char *principal, index_grant_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt(ix, principal ? ST_GRANTS_FOR : ST_GRANTS_ALL);
    int err = REG_OK;
    if (st && principal)
        index_bind_text(st, 1, principal);
    while (index_next(st, &err))
        err = cb(ctx, sqldb_column_text(st, 0), sqldb_column_text(st, 1),
                 (unsigned)sqldb_column_int(st, 2));
    return err;
}

int index_access_key_put(index_db *ix, const char *id, const char *user,
                         const unsigned char *secret, size_t len)
{
    sqldb_stmt *st = index_stmt_text2(ix, ST_ACCESS_KEY_PUT, id, user);
    if (st) {
        sqldb_bind_blob(st, 3, secret, (int)len);
        sqldb_bind_int64(st, 4, (int64_t)time(NULL));
    }
    return index_run(st);
}

int index_access_key_get(char *user_out, unsigned char *secret_out, size_t *len_out, index_db *ix,
                         const char *id)
{
    sqldb_stmt *st = index_stmt_text(ix, ST_ACCESS_KEY_GET, id);
    int err = index_step_row(st);
    if (err < 0)
        return err;
    const char *user = sqldb_column_text(st, 0);
    int len = 0;
    const void *secret = sqldb_column_blob(st, 1, &len);
    if (!user || strlen(user) > USER_NAME_MAX || !secret || len <= 0 ||
        len > ACCESS_SECRET_BLOB_MAX) {
        index_done(st);
        return REG_ERROR;
    }
    memcpy(user_out, user, strlen(user) + 1);
    memcpy(secret_out, secret, (size_t)len);
    *len_out = (size_t)len;
    index_done(st);
    return REG_OK;
}

int index_access_key_delete(index_db *ix, const char *id)
{
    return index_run_changed(ix, index_stmt_text(ix, ST_ACCESS_KEY_DELETE, id));
}

int index_access_keys(index_db *ix, const char *user, index_key_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt_text(ix, ST_ACCESS_KEYS_LIST, user);
    int err = REG_OK;
    while (index_next(st, &err))
        err =
            cb(ctx, sqldb_column_text(st, 0), sqldb_column_text(st, 1), sqldb_column_int64(st, 2));
    return err;
}
