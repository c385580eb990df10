/* uploads.c - the upload session functions (see uploads.h), each handed to the operations
 * table of the sessions the blob store's backend keeps (backend.h); session ids. */
#include "storage/blob/backend.h"
#include "storage/base/random.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int upload_is_id(const char *id)
{
    if (!id || strlen(id) != UPLOAD_ID_LEN)
        return 0;
    for (int i = 0; i < UPLOAD_ID_LEN; i++) {
        char c = id[i];
        int dash = (i == 8 || i == 13 || i == 18 || i == 23);
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}

_Static_assert(UPLOAD_ID_LEN == RANDOM_UUID_LEN, "session ids are UUIDs");

int upload_new_id(char *out)
{
    return random_uuid(out);
}

int upload_table_new(upload_table **out, blobstore *bs, const char *index_location)
{
    blob_backend *b = blobstore_backend(bs);
    return b->ops->uploads_new(out, b, index_location);
}

void upload_table_free(upload_table *t)
{
    if (t)
        t->ops->free(t);
}

int upload_table_sign_ids(upload_table *t, const unsigned char key[32], time_t max_age)
{
    return t->ops->sign_ids ? t->ops->sign_ids(t, key, max_age) : REG_OK;
}

int upload_create(upload **out, char *id_out, upload_table *t, const char *repo)
{
    return t->ops->create(out, id_out, t, repo);
}

int upload_acquire(upload **out, unsigned *generation, upload_table *t, const char *id,
                   const char *repo)
{
    if (!upload_is_id(id))
        return REG_ENOTFOUND;
    return t->ops->acquire(out, generation, t, id, repo);
}

int upload_peek(uint64_t *offset_out, upload_table *t, const char *id, const char *repo)
{
    if (!upload_is_id(id))
        return REG_ENOTFOUND;
    return t->ops->peek(offset_out, t, id, repo);
}

void upload_release(upload_table *t, upload *u, unsigned generation)
{
    t->ops->release(t, u, generation);
}

int upload_owned(upload *u, unsigned generation)
{
    return u->ops->owned(u, generation);
}

void upload_discard(upload_table *t, upload *u)
{
    t->ops->discard(t, u);
}

uint64_t upload_offset(const upload *u)
{
    return u->ops->offset(u);
}

const char *upload_id(const upload *u)
{
    return u->ops->id(u);
}

int upload_append(upload *u, unsigned generation, const void *data, size_t len)
{
    return u->ops->append(u, generation, data, len);
}

int upload_flush(upload *u)
{
    return u->ops->flush(u);
}

int upload_digest(digest *out, upload *u, digest_alg alg)
{
    return u->ops->digest(out, u, alg);
}

int upload_publication(blob_publish **out, upload *u, blobstore *bs, const digest *d)
{
    blob_publish *p = calloc(1, sizeof(*p));
    if (!p)
        return reg_error_set(REG_ERROR, "out of memory");
    p->len = (size_t)upload_offset(u);
    p->ops = blobstore_publish_ops(bs, p->len, u->ops->publish);
    p->backend = blobstore_backend(bs);
    p->d = *d;
    p->fd = -1;
    p->session = u;
    *out = p;
    return REG_OK;
}

int upload_read_all(upload *u, void *out, size_t len)
{
    return u->ops->read_all(u, out, len);
}

int upload_spool_reader(upload *u)
{
    if (!u->ops->spool_reader)
        return REG_ENOTFOUND;
    return u->ops->spool_reader(u);
}

int upload_count(upload_table *t)
{
    return t->ops->count(t);
}

int upload_expire(upload_table *t, time_t max_idle)
{
    return t->ops->expire(t, max_idle);
}

int64_t upload_sweep(upload_table *t, time_t max_idle, int dry_run)
{
    return t->ops->sweep(t, max_idle, dry_run);
}

int upload_leftovers(upload_table *t, upload_leftover_cb cb, void *ctx)
{
    return t->ops->leftovers(t, cb, ctx);
}
