/* index_lifecycle.c - SQL of the lifecycle policy previews (see index_lifecycle.h). */
#include "storage/index/index_lifecycle.h"
#include "storage/index/index_internal.h"

#include <stdlib.h>
#include <string.h>

int index_preview_set(index_db *ix, const char *repo, const char *status, const char *policy,
                      const char *results, int64_t now)
{
    int64_t repo_id;
    int err = index_repo_id(&repo_id, ix, repo);
    if (err < 0)
        return err;
    sqldb_stmt *st = index_stmt_repo_text(ix, ST_PREVIEW_SET, repo_id, status);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 3, policy);
    index_bind_text(st, 4, results);
    sqldb_bind_int64(st, 5, now);
    return index_run(st);
}

int index_preview_get(index_preview *out, index_db *ix, const char *repo)
{
    memset(out, 0, sizeof(*out));
    sqldb_stmt *st = index_stmt_text(ix, ST_PREVIEW_GET, repo);
    int err = index_step_row(st);
    if (err < 0)
        return err;
    out->status = index_column_copy(st, 0);
    out->policy = index_column_copy(st, 1);
    out->results = index_column_copy(st, 2);
    index_done(st);
    if (!out->status || !out->policy || !out->results) {
        index_preview_clear(out);
        return reg_error_set(REG_ERROR, "out of memory reading a lifecycle preview");
    }
    return REG_OK;
}

void index_preview_clear(index_preview *p)
{
    free(p->status);
    free(p->policy);
    free(p->results);
    memset(p, 0, sizeof(*p));
}
