/* index_cache.c - SQL of pull-through cache rules and tag checks (see index_cache.h). */
#include "storage/index/index_cache.h"
#include "storage/index/index_internal.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void bind_optional(sqldb_stmt *st, int i, const char *s)
{
    index_bind_text(st, i, s[0] ? s : NULL);
}

static int insert(index_db *ix, const cache_rule *r)
{
    sqldb_stmt *st = index_stmt_text2(ix, ST_CACHE_RULE_ADD, r->prefix, r->upstream_url);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 3, r->upstream_prefix);
    bind_optional(st, 4, r->username);
    index_bind_bytes(st, 5, r->password, r->password_len);
    bind_optional(st, 6, r->credential_arn);
    sqldb_bind_int64(st, 7, r->ttl_seconds);
    bind_optional(st, 8, r->ca_file);
    sqldb_bind_int64(st, 9, r->created_at);
    if (index_run(st) < 0)
        return REG_ERROR;
    return index_changes(ix) > 0
               ? REG_OK
               : reg_error_set(REG_ECONFLICT, "a pull-through cache rule for prefix %s exists",
                               r->prefix);
}

static int count_rules(int64_t *out, index_db *ix)
{
    int err = index_row_int64(out, index_stmt(ix, ST_CACHE_RULE_COUNT));
    return err == REG_ENOTFOUND ? REG_ERROR : err;
}

int index_cache_rule_add(index_db *ix, cache_rule *rule)
{
    int64_t n = 0;
    rule->created_at = (int64_t)time(NULL);
    int err = index_begin(ix);
    if (err < 0)
        return err;
    if ((err = count_rules(&n, ix)) == REG_OK && n >= CACHE_RULES_MAX)
        err = reg_error_set(REG_ETOOLARGE,
                            "this registry has its maximum of %d pull-through "
                            "cache rules",
                            CACHE_RULES_MAX);
    if (err == REG_OK)
        err = insert(ix, rule);
    return index_end(ix, err);
}

/* Copy a text column into a buffer of n bytes: "" for NULL, REG_ERROR when it does not fit. */
static int column_text(char *out, size_t n, sqldb_stmt *st, int col)
{
    const char *s = sqldb_column_text(st, col);
    if (!s)
        s = "";
    if (strlen(s) >= n)
        return REG_ERROR;
    memcpy(out, s, strlen(s) + 1);
    return REG_OK;
}

static int read_rule(cache_rule *r, sqldb_stmt *st)
{
    int len = 0;
    const void *box = sqldb_column_blob(st, 4, &len);
    memset(r, 0, sizeof(*r));
    if (column_text(r->prefix, sizeof(r->prefix), st, 0) < 0 ||
        column_text(r->upstream_url, sizeof(r->upstream_url), st, 1) < 0 ||
        column_text(r->upstream_prefix, sizeof(r->upstream_prefix), st, 2) < 0 ||
        column_text(r->username, sizeof(r->username), st, 3) < 0 ||
        column_text(r->credential_arn, sizeof(r->credential_arn), st, 5) < 0 ||
        column_text(r->ca_file, sizeof(r->ca_file), st, 7) < 0 || len < 0 ||
        (size_t)len > sizeof(r->password) || (len > 0 && !box))
        return reg_error_set(REG_ERROR, "index: a pull-through cache rule row is malformed");
    if (len > 0)
        memcpy(r->password, box, (size_t)len);
    r->password_len = (size_t)len;
    r->ttl_seconds = sqldb_column_int64(st, 6);
    r->created_at = sqldb_column_int64(st, 8);
    return REG_OK;
}

static int one_rule(cache_rule *out, index_db *ix, enum index_statement id, const char *key)
{
    sqldb_stmt *st = index_stmt_text(ix, id, key);
    int err = index_step_row(st);
    if (err < 0)
        return err;
    err = read_rule(out, st);
    index_done(st);
    return err;
}

int index_cache_rule_get(cache_rule *out, index_db *ix, const char *prefix)
{
    return one_rule(out, ix, ST_CACHE_RULE_GET, prefix);
}

int index_cache_rule_match(cache_rule *out, index_db *ix, const char *repo)
{
    return one_rule(out, ix, ST_CACHE_RULE_MATCH, repo);
}

int index_cache_rule_delete(index_db *ix, const char *prefix)
{
    return index_run_changed(ix, index_stmt_text(ix, ST_CACHE_RULE_DELETE, prefix));
}

int index_cache_rules(index_db *ix, const char *prefix, index_cache_rule_cb cb, void *ctx)
{
    cache_rule r;
    sqldb_stmt *st = index_stmt_text(ix, ST_CACHE_RULES_LIST, prefix);
    int err = REG_OK;
    while (index_next(st, &err))
        if ((err = read_rule(&r, st)) == REG_OK)
            err = cb(ctx, &r);
    return err;
}

int index_cache_blob_size(uint64_t *out, index_db *ix, const digest *d)
{
    int64_t size = 0;
    int err = index_row_int64(&size, index_stmt_text(ix, ST_CACHE_BLOB_SIZE, d->str));
    if (err < 0)
        return err;
    *out = size < 0 ? 0 : (uint64_t)size;
    return REG_OK;
}

int index_cache_tag_checked_at(int64_t *out, index_db *ix, const char *repo, const char *tag)
{
    *out = 0;
    int err = index_row_int64(out, index_stmt_text2(ix, ST_CACHE_TAG_CHECKED_AT, repo, tag));
    return err == REG_ENOTFOUND ? REG_OK : err;
}

int index_cache_tag_checked(index_db *ix, const char *repo, const char *tag, int64_t when)
{
    sqldb_stmt *st = index_stmt_text2(ix, ST_CACHE_TAG_CHECKED, repo, tag);
    if (st)
        sqldb_bind_int64(st, 3, when);
    return index_run(st);
}
