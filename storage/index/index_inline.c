/* index_inline.c - SQL of the blobs held in the index (see index_inline.h). */
#include "storage/index/index_inline.h"
#include "storage/index/index_internal.h"
#include "storage/base/reg_error.h"

#include <stdlib.h>
#include <string.h>

int index_inline_put(index_db *ix, const digest *d, const void *data, size_t len)
{
    if (len > INDEX_INLINE_LIMIT)
        return reg_error_set(REG_ETOOLARGE, "blob %s is too large to be held in the index", d->str);
    sqldb_stmt *st = index_stmt(ix, ST_INLINE_PUT);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, d->str);
    /* A NULL pointer would bind SQL NULL: an empty blob is bound as zero bytes of "". */
    sqldb_bind_blob(st, 2, len ? data : "", (int)len);
    return index_run(st);
}

int index_inline_read(void **out, uint64_t *size_out, index_db *ix, const digest *d, uint64_t start,
                      uint64_t length)
{
    sqldb_stmt *st = index_stmt(ix, ST_INLINE_GET);
    int len = 0;
    if (st)
        index_bind_text(st, 1, d->str);
    int err = index_step_row(st);
    if (err < 0)
        return err;
    const char *p = sqldb_column_blob(st, 0, &len);
    char *copy = NULL;
    if (length == UINT64_MAX && len >= 0 && start <= (uint64_t)len)
        length = (uint64_t)len - start;
    if (len < 0 || start > (uint64_t)len || length > (uint64_t)len - start)
        err = reg_error_set(REG_EINVALID, "bytes %llu+%llu are outside blob %s",
                            (unsigned long long)start, (unsigned long long)length, d->str);
    else if (!(copy = malloc(length ? length : 1)))
        err = reg_error_set(REG_ERROR, "out of memory");
    else if (length)
        memcpy(copy, p + start, length);
    index_done(st);
    if (err != REG_OK) {
        free(copy);
        return err;
    }
    *out = copy;
    *size_out = (uint64_t)len;
    return REG_OK;
}

int index_inline_size(uint64_t *size_out, index_db *ix, const char *digest_text)
{
    sqldb_stmt *st = index_stmt(ix, ST_INLINE_SIZE);
    if (st)
        index_bind_text(st, 1, digest_text);
    int err = index_step_row(st);
    if (err == REG_OK) {
        *size_out = (uint64_t)sqldb_column_int64(st, 0);
        index_done(st);
    }
    return err;
}

int index_inline_delete(index_db *ix, const char *digest_text)
{
    sqldb_stmt *st = index_stmt(ix, ST_INLINE_DELETE);
    if (!st)
        return REG_ERROR;
    index_bind_text(st, 1, digest_text);
    return index_run(st);
}
