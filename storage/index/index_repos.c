/* index_repos.c - SQL for repository administration and image metadata (see index_repos.h). */
#include "storage/index/index_repos.h"
#include "storage/index/index_internal.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int index_repo_create(index_db *ix, const char *name, const char *mutability)
{
    return index_repo_create_scanning(ix, name, mutability, 0);
}

int index_repo_create_scanning(index_db *ix, const char *name, const char *mutability,
                               int scan_on_push)
{
    sqldb_stmt *st = index_stmt_text(ix, ST_REPO_CREATE, name);
    if (!st)
        return REG_ERROR;
    sqldb_bind_int64(st, 2, (int64_t)time(NULL));
    index_bind_text(st, 3, mutability);
    sqldb_bind_int64(st, 4, scan_on_push ? 1 : 0);
    if (index_run(st) < 0)
        return REG_ERROR;
    return index_changes(ix) > 0 ? REG_OK : REG_ECONFLICT;
}

static int repo_delete(index_db *ix, const char *name, int force)
{
    int64_t id;
    int err = index_repo_id(&id, ix, name);
    if (err < 0)
        return err;
    int64_t images = 0;
    if ((err = index_row_int64(&images, index_stmt_text(ix, ST_REPO_COUNT_IMAGES, name))) < 0)
        return err;
    if (images > 0 && !force)
        return REG_ECONFLICT;
    static const enum index_statement steps[] = {ST_REPO_DEL_TAGS,          ST_REPO_DEL_REFS,
                                                 ST_REPO_DEL_MANIFESTS,     ST_REPO_DEL_LINKS,
                                                 ST_REPO_DEL_RTAGS,         ST_REPO_DEL_PREVIEW,
                                                 ST_REPO_DEL_ACCESS_POLICY, ST_REPO_DEL_TAG_CHECKS,
                                                 ST_REPO_DEL_REPL_STATUS,   ST_REPO_DELETE};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (index_run(index_stmt_text(ix, steps[i], name)) < 0)
            return REG_ERROR;
    return REG_OK;
}

/* One write transaction: a push into the repository or a gc batch cannot interleave with the
 * count and the deletes (on PostgreSQL, other instances' writers neither). */
int index_repo_delete(index_db *ix, const char *name, int force)
{
    int err = index_begin(ix);
    if (err < 0)
        return err;
    return index_end(ix, repo_delete(ix, name, force));
}

int index_repos_with_policy(index_db *ix, const char *name, index_name_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt_text(ix, ST_REPO_WITH_POLICY, name);
    int err = REG_OK;
    while (index_next(st, &err))
        err = cb(ctx, sqldb_column_text(st, 0));
    return err;
}

int index_repo_infos(index_db *ix, const char *name, const char *after, int64_t limit,
                     index_repo_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt_text(ix, ST_REPO_INFOS, name);
    int err = REG_OK, found = 0;
    if (st) {
        index_bind_text(st, 2, after ? after : "");
        sqldb_bind_int64(st, 3, limit);
    }
    while (index_next(st, &err)) {
        repo_info info = {
            .name = sqldb_column_text(st, 0),
            .created_at = sqldb_column_int64(st, 1),
            .mutability = sqldb_column_text(st, 2),
            .has_policy = sqldb_column_int(st, 3),
            .image_count = sqldb_column_int64(st, 4),
            .tag_count = sqldb_column_int64(st, 5),
            .size_bytes = sqldb_column_int64(st, 6),
            .scan_on_push = sqldb_column_int(st, 7),
        };
        found++;
        err = cb(ctx, &info);
    }
    return err == REG_OK && name && !found ? REG_ENOTFOUND : err;
}

int index_repo_set_mutability(index_db *ix, const char *name, const char *mutability)
{
    return index_run_changed(ix, index_stmt_text2(ix, ST_REPO_SET_MUTABILITY, name, mutability));
}

int index_repo_set_scan_on_push(index_db *ix, const char *name, int scan_on_push)
{
    sqldb_stmt *st = index_stmt_text(ix, ST_REPO_SET_SCAN_ON_PUSH, name);
    if (st)
        sqldb_bind_int64(st, 2, scan_on_push ? 1 : 0);
    return index_run_changed(ix, st);
}

int index_registry_setting(char **out, index_db *ix, const char *name)
{
    sqldb_stmt *st = index_stmt_text(ix, ST_REGISTRY_SETTING_GET, name);
    int err = index_step_row(st);
    if (err < 0)
        return err;
    *out = strdup(sqldb_column_text(st, 0));
    index_done(st);
    return *out ? REG_OK : reg_error_set(REG_ERROR, "out of memory");
}

int index_registry_setting_set(index_db *ix, const char *name, const char *value)
{
    return index_run(index_stmt_text2(ix, ST_REGISTRY_SETTING_SET, name, value));
}

int index_repo_immutable(int *out, index_db *ix, int64_t repo_id)
{
    sqldb_stmt *st = index_stmt(ix, ST_REPO_IMMUTABLE);
    int64_t immutable = 0;
    if (st)
        sqldb_bind_int64(st, 1, repo_id);
    int err = index_row_int64(&immutable, st);
    if (err == REG_OK)
        *out = (int)immutable;
    return err;
}

int index_repo_policy(char **out, index_db *ix, const char *name)
{
    sqldb_stmt *st = index_stmt_text(ix, ST_REPO_GET_POLICY, name);
    int err = index_step_row(st);
    if (err < 0)
        return err;
    const char *text = sqldb_column_text(st, 0);
    *out = text ? strdup(text) : NULL;
    index_done(st);
    if (!text)
        return REG_ENOTFOUND;
    return *out ? REG_OK : REG_ERROR;
}

int index_repo_set_policy(index_db *ix, const char *name, const char *text)
{
    return index_run_changed(ix, index_stmt_text2(ix, ST_REPO_SET_POLICY, name, text));
}

int index_images(index_db *ix, const char *repo, index_image_cb cb, void *ctx)
{
    int64_t id;
    int err = index_repo_id(&id, ix, repo);
    if (err < 0)
        return err;
    return index_each_image(index_stmt_text(ix, ST_IMAGES, repo), 0, cb, ctx);
}

int index_each_image(sqldb_stmt *st, int counted, index_image_cb cb, void *ctx)
{
    int err = REG_OK;
    while (index_next(st, &err)) {
        image_info img = {
            .digest = sqldb_column_text(st, 0),
            .media_type = sqldb_column_text(st, 1),
            .artifact_type = sqldb_column_text(st, 2),
            .tags = sqldb_column_text(st, 3),
            .subject = sqldb_column_text(st, 4),
            .size = sqldb_column_int64(st, 5),
            .pushed_at = sqldb_column_int64(st, 6),
            .last_pulled_at = sqldb_column_int64(st, 7),
            .child = sqldb_column_int(st, 8),
            .tag_count = counted ? sqldb_column_int64(st, 9) : 0,
        };
        err = cb(ctx, &img);
    }
    return err;
}

int index_tag_target(char *out, index_db *ix, int64_t repo_id, const char *tag)
{
    sqldb_stmt *st = index_stmt_repo_text(ix, ST_TAG_TARGET, repo_id, tag);
    int err = index_step_row(st);
    if (err == REG_OK) {
        const char *d = sqldb_column_text(st, 0);
        snprintf(out, DIGEST_MAX, "%s", d ? d : "");
        index_done(st);
    }
    return err;
}

int index_image_tag_count(int64_t *out, index_db *ix, int64_t repo_id, const char *digest)
{
    return index_row_int64(out, index_stmt_repo_text(ix, ST_IMAGE_TAG_COUNT, repo_id, digest));
}

int index_manifest_image_size(uint64_t *out, index_db *ix, int64_t repo_id, const char *digest)
{
    int64_t size = 0;
    int err = index_row_int64(&size, index_stmt_repo_text(ix, ST_IMAGE_SIZE, repo_id, digest));
    if (err == REG_OK)
        *out = (uint64_t)size;
    return err;
}

int index_record_pull(index_db *ix, const char *repo, const char *digest, int64_t when)
{
    sqldb_stmt *st = index_stmt_text2(ix, ST_RECORD_PULL, repo, digest);
    if (st)
        sqldb_bind_int64(st, 3, when);
    return index_run(st);
}

int index_repo_tag_set(index_db *ix, const char *repo, const char *key, const char *value)
{
    sqldb_stmt *st = index_stmt_text2(ix, ST_RTAG_SET, repo, key);
    if (st)
        index_bind_text(st, 3, value);
    return index_run(st);
}

static int tags_add(index_db *ix, const char *repo, size_t n, const char *const *keys,
                    const char *const *values, int64_t max)
{
    int err;
    for (size_t i = 0; i < n; i++)
        if ((err = index_repo_tag_set(ix, repo, keys[i], values[i])) < 0)
            return err;
    int64_t count = 0;
    if ((err = index_row_int64(&count, index_stmt_text(ix, ST_RTAG_COUNT, repo))) < 0)
        return err;
    if (count > max)
        return reg_error_set(REG_ETOOLARGE,
                             "the repository would have %lld tags; at most %lld are allowed",
                             (long long)count, (long long)max);
    return REG_OK;
}

int index_repo_tags_add(index_db *ix, const char *repo, size_t n, const char *const *keys,
                        const char *const *values, int64_t max)
{
    int err = index_begin(ix);
    if (err < 0)
        return err;
    return index_end(ix, tags_add(ix, repo, n, keys, values, max));
}

int index_repo_tag_delete(index_db *ix, const char *repo, const char *key)
{
    return index_run(index_stmt_text2(ix, ST_RTAG_DELETE, repo, key));
}

int index_repo_tags(index_db *ix, const char *repo, index_kv_cb cb, void *ctx)
{
    sqldb_stmt *st = index_stmt_text(ix, ST_RTAGS, repo);
    int err = REG_OK;
    while (index_next(st, &err))
        err = cb(ctx, sqldb_column_text(st, 0), sqldb_column_text(st, 1));
    return err;
}
