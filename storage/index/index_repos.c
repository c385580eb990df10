/* index_repos.c - SQL for repository administration and image metadata (see index_repos.h). */
#include "storage/index/index_repos.h"
#include "storage/index/index_internal.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static sqldb_stmt *by_name(index_db *ix, enum index_statement id, const char *name)
{
    sqldb_stmt *st = index_stmt(ix, id);
    if (st)
        index_bind_text(st, 1, name);
    return st;
}

int index_repo_create(index_db *ix, const char *name, const char *mutability)
{
    return index_repo_create_scanning(ix, name, mutability, 0);
}

int index_repo_create_scanning(index_db *ix, const char *name, const char *mutability,
                               int scan_on_push)
{
    sqldb_stmt *st = by_name(ix, ST_REPO_CREATE, name);
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
    sqldb_stmt *st = by_name(ix, ST_REPO_COUNT_IMAGES, name);
    if ((err = index_step_row(st)) < 0)
        return err;
    int64_t images = sqldb_column_int64(st, 0);
    index_done(st);
    if (images > 0 && !force)
        return REG_ECONFLICT;
    static const enum index_statement steps[] = {ST_REPO_DEL_TAGS,  ST_REPO_DEL_REFS,  ST_REPO_DEL_MANIFESTS,
                                            ST_REPO_DEL_LINKS, ST_REPO_DEL_RTAGS, ST_REPO_DEL_PREVIEW,
                                            ST_REPO_DEL_ACCESS_POLICY, ST_REPO_DEL_TAG_CHECKS,
                                            ST_REPO_DEL_REPL_STATUS,
                                            ST_REPO_DELETE};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (index_run(by_name(ix, steps[i], name)) < 0)
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
    if ((err = repo_delete(ix, name, force)) == REG_OK && (err = index_commit(ix)) == REG_OK)
        return REG_OK;
    index_rollback(ix);
    return err;
}

int index_repos_with_policy(index_db *ix, const char *name, index_name_cb cb, void *ctx)
{
    sqldb_stmt *st = by_name(ix, ST_REPO_WITH_POLICY, name);
    int err;
    if (!st)
        return REG_ERROR;
    while ((err = index_step_row(st)) == REG_OK)
        if ((err = cb(ctx, sqldb_column_text(st, 0))) < 0) {
            index_done(st);
            return err;
        }
    return err == REG_ENOTFOUND ? REG_OK : err;
}

int index_repo_infos(index_db *ix, const char *name, const char *after, int64_t limit,
                     index_repo_cb cb, void *ctx)
{
    sqldb_stmt *st = by_name(ix, ST_REPO_INFOS, name);
    int err, found = 0;
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 2, after ? after : "");
    sqldb_bind_int64(st, 3, limit);
    while ((err = index_step_row(st)) == REG_OK) {
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
        if ((err = cb(ctx, &info)) < 0) {
            index_done(st);
            return err;
        }
    }
    if (err == REG_ENOTFOUND && name && !found)
        return REG_ENOTFOUND;
    return err == REG_ENOTFOUND ? REG_OK : err;
}

int index_repo_set_mutability(index_db *ix, const char *name, const char *mutability)
{
    sqldb_stmt *st = by_name(ix, ST_REPO_SET_MUTABILITY, name);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 2, mutability);
    if (index_run(st) < 0)
        return REG_ERROR;
    return index_changes(ix) > 0 ? REG_OK : REG_ENOTFOUND;
}

int index_repo_set_scan_on_push(index_db *ix, const char *name, int scan_on_push)
{
    sqldb_stmt *st = by_name(ix, ST_REPO_SET_SCAN_ON_PUSH, name);
    if (!st)
        return REG_ERROR;
    sqldb_bind_int64(st, 2, scan_on_push ? 1 : 0);
    if (index_run(st) < 0)
        return REG_ERROR;
    return index_changes(ix) > 0 ? REG_OK : REG_ENOTFOUND;
}

int index_registry_setting(char **out, index_db *ix, const char *name)
{
    sqldb_stmt *st = by_name(ix, ST_REGISTRY_SETTING_GET, name);
    int err = index_step_row(st);
    if (err < 0)
        return err;
    *out = strdup(sqldb_column_text(st, 0));
    index_done(st);
    return *out ? REG_OK : reg_error_set(REG_ERROR, "out of memory");
}

int index_registry_setting_set(index_db *ix, const char *name, const char *value)
{
    sqldb_stmt *st = by_name(ix, ST_REGISTRY_SETTING_SET, name);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 2, value);
    return index_run(st);
}

int index_repo_immutable(int *out, index_db *ix, int64_t repo_id)
{
    sqldb_stmt *st = index_stmt(ix, ST_REPO_IMMUTABLE);
    if (st)
        sqldb_bind_int64(st, 1, repo_id);
    int err = index_step_row(st);
    if (err == REG_OK) {
        *out = sqldb_column_int(st, 0);
        index_done(st);
    }
    return err;
}

int index_repo_policy(char **out, index_db *ix, const char *name)
{
    sqldb_stmt *st = by_name(ix, ST_REPO_GET_POLICY, name);
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
    sqldb_stmt *st = by_name(ix, ST_REPO_SET_POLICY, name);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 2, text);
    if (index_run(st) < 0)
        return REG_ERROR;
    return index_changes(ix) > 0 ? REG_OK : REG_ENOTFOUND;
}

int index_images(index_db *ix, const char *repo, index_image_cb cb, void *ctx)
{
    int64_t id;
    int err = index_repo_id(&id, ix, repo);
    if (err < 0)
        return err;
    return index_each_image(by_name(ix, ST_IMAGES, repo), 0, cb, ctx);
}

int index_each_image(sqldb_stmt *st, int counted, index_image_cb cb, void *ctx)
{
    int err;
    while ((err = index_step_row(st)) == REG_OK) {
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
        if ((err = cb(ctx, &img)) < 0) {
            index_done(st);
            return err;
        }
    }
    return err == REG_ENOTFOUND ? REG_OK : err;
}

/* Run a statement keyed by (repository id, text) to its one row: REG_OK with the row in *out
 * (the caller reads it, then index_done), else REG_ENOTFOUND or an error. */
static int repo_text_row(sqldb_stmt **out, index_db *ix, enum index_statement id, int64_t repo_id,
                         const char *text)
{
    sqldb_stmt *st = index_stmt(ix, id);
    if (st) {
        sqldb_bind_int64(st, 1, repo_id);
        index_bind_text(st, 2, text);
    }
    *out = st;
    return index_step_row(st);
}

int index_tag_target(char *out, index_db *ix, int64_t repo_id, const char *tag)
{
    sqldb_stmt *st;
    int err = repo_text_row(&st, ix, ST_TAG_TARGET, repo_id, tag);
    if (err == REG_OK) {
        const char *d = sqldb_column_text(st, 0);
        snprintf(out, DIGEST_MAX, "%s", d ? d : "");
        index_done(st);
    }
    return err;
}

int index_image_tag_count(int64_t *out, index_db *ix, int64_t repo_id, const char *digest)
{
    sqldb_stmt *st;
    int err = repo_text_row(&st, ix, ST_IMAGE_TAG_COUNT, repo_id, digest);
    if (err == REG_OK) {
        *out = sqldb_column_int64(st, 0);
        index_done(st);
    }
    return err;
}

int index_manifest_image_size(uint64_t *out, index_db *ix, int64_t repo_id, const char *digest)
{
    sqldb_stmt *st;
    int err = repo_text_row(&st, ix, ST_IMAGE_SIZE, repo_id, digest);
    if (err == REG_OK) {
        *out = (uint64_t)sqldb_column_int64(st, 0);
        index_done(st);
    }
    return err;
}

int index_record_pull(index_db *ix, const char *repo, const char *digest, int64_t when)
{
    sqldb_stmt *st = by_name(ix, ST_RECORD_PULL, repo);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 2, digest);
    sqldb_bind_int64(st, 3, when);
    return index_run(st);
}

int index_repo_tag_set(index_db *ix, const char *repo, const char *key, const char *value)
{
    sqldb_stmt *st = by_name(ix, ST_RTAG_SET, repo);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 2, key);
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
    sqldb_stmt *st = by_name(ix, ST_RTAG_COUNT, repo);
    if ((err = index_step_row(st)) < 0)
        return err;
    int64_t count = sqldb_column_int64(st, 0);
    index_done(st);
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
    if ((err = tags_add(ix, repo, n, keys, values, max)) == REG_OK &&
        (err = index_commit(ix)) == REG_OK)
        return REG_OK;
    index_rollback(ix);
    return err;
}

int index_repo_tag_delete(index_db *ix, const char *repo, const char *key)
{
    sqldb_stmt *st = by_name(ix, ST_RTAG_DELETE, repo);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 2, key);
    return index_run(st);
}

int index_repo_tags(index_db *ix, const char *repo, index_kv_cb cb, void *ctx)
{
    sqldb_stmt *st = by_name(ix, ST_RTAGS, repo);
    int err;
    while ((err = index_step_row(st)) == REG_OK) {
        if ((err = cb(ctx, sqldb_column_text(st, 0), sqldb_column_text(st, 1))) < 0) {
            index_done(st);
            return err;
        }
    }
    return err == REG_ENOTFOUND ? REG_OK : err;
}
