/* uploads_s3.c - upload sessions of the S3 blob backend (see uploads.h, backend.h), shared by
 * every registry instance: the session row (offset, resumable hash state, multipart upload id
 * and parts) lives in the index, full parts go to an S3 multipart upload, and the bytes past
 * the last part (the tail, < one part) to the object uploads/<id>/tail. A request holds the
 * session's lease (its generation in the row); appends hash and gather bytes into one part, each
 * full part goes to the multipart upload at uploads/<id>/data, and flush stores the remainder as
 * uploads/<id>/tail and saves the row. The next request, on any instance, reloads row and tail and
 * continues. */
#include "storage/blob/backend_s3.h"
#include "storage/base/hashstate.h"
#include "storage/index/index_uploads.h"
#include "storage/base/reg_error.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PART_SIZE (8u << 20)
/* A lease outlives the stall allowance by a second; appends renew it every second. */
#define LEASE_SECONDS (UPLOAD_STALL_SECONDS + 1)
#define KEY_MAX       96

typedef struct s3_uploads {
    upload_table base;
    blob_backend *backend;
    s3_client *s3;
    char *index_location;
    pthread_key_t ix_key; /* this thread's index connection for session rows */
    pthread_mutex_t lock;
    int active; /* sessions held by requests of this instance */
} s3_uploads;

typedef struct s3_session {
    upload base;
    s3_uploads *t;
    upload_row row; /* as saved, plus what this request added in memory */
    hashstate *hash;
    s3_part *parts;
    size_t nparts, cap;
    uint64_t parts_bytes; /* bytes inside uploaded parts */
    char *buf;            /* PART_SIZE: the bytes after parts_bytes */
    size_t buf_len;
    size_t tail_saved; /* buf[0, tail_saved) is what uploads/<id>/tail holds */
    time_t renewed;
    int displaced;
    int leased;   /* the row may show this request's lease: release must clear it */
    int tail_put; /* this request wrote uploads/<id>/tail */
    int mpu_made; /* this request began the multipart upload at uploads/<id>/data */
} s3_session;

static const upload_ops s3_upload_ops;

/* ---- table ---- */

static void close_index(void *ix)
{
    index_close(ix);
}

int s3u_new(upload_table **out, blob_backend *b, const char *index_location)
{
    s3_uploads *t = calloc(1, sizeof(*t));
    if (!t || !(t->index_location = strdup(index_location))) {
        free(t);
        return REG_ERROR;
    }
    t->base.ops = &s3_upload_ops;
    t->backend = b;
    t->s3 = bs3_client(b);
    pthread_key_create(&t->ix_key, close_index);
    pthread_mutex_init(&t->lock, NULL);
    *out = &t->base;
    return REG_OK;
}

static s3_uploads *table(upload_table *t)
{
    return (s3_uploads *)t;
}

static s3_session *session(upload *u)
{
    return (s3_session *)u;
}

static void s3u_free(upload_table *base)
{
    s3_uploads *t = table(base);
    index_db *ix = pthread_getspecific(t->ix_key);
    index_close(ix);
    pthread_key_delete(t->ix_key);
    pthread_mutex_destroy(&t->lock);
    free(t->index_location);
    free(t);
}

static index_db *table_index(s3_uploads *t)
{
    index_db *ix = pthread_getspecific(t->ix_key);
    if (!ix && index_open(&ix, t->index_location) == REG_OK)
        pthread_setspecific(t->ix_key, ix);
    return ix;
}

static void data_key(char *out, const char *id)
{
    snprintf(out, KEY_MAX, "uploads/%s/data", id);
}

static void tail_key(char *out, const char *id)
{
    snprintf(out, KEY_MAX, "uploads/%s/tail", id);
}

/* ---- session state <-> row ---- */

static void session_free(s3_session *s)
{
    if (!s)
        return;
    hashstate_free(s->hash);
    free(s->parts);
    free(s->buf);
    free(s->row.parts);
    free(s);
}

static s3_session *session_new(s3_uploads *t)
{
    s3_session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->base.ops = &s3_upload_ops;
    s->t = t;
    if (hashstate_new(&s->hash) < 0 || !(s->buf = malloc(PART_SIZE))) {
        session_free(s);
        return NULL;
    }
    return s;
}

static int add_part(s3_session *s, int no, const char *etag, uint64_t size)
{
    if (s->nparts == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        s3_part *p = realloc(s->parts, cap * sizeof(*p));
        if (!p)
            return REG_ERROR;
        s->parts = p;
        s->cap = cap;
    }
    s3_part *p = &s->parts[s->nparts++];
    p->no = no;
    snprintf(p->etag, sizeof(p->etag), "%s", etag);
    s->parts_bytes += size;
    return REG_OK;
}

/* parts: [[no, "etag"], ...]; every saved part is PART_SIZE bytes (only the last part of a
 * finished upload is shorter, and it is never saved). */
static int parts_from_json(s3_session *s, const char *text)
{
    json_error_t jerr;
    json_t *arr = text && text[0] ? json_loads(text, 0, &jerr) : json_array();
    size_t i;
    json_t *p;
    int err = json_is_array(arr) ? REG_OK : REG_EINVALID;
    json_array_foreach(arr, i, p)
    {
        json_t *no = json_array_get(p, 0), *etag = json_array_get(p, 1);
        if (err == REG_OK && (!json_is_integer(no) || json_integer_value(no) != (json_int_t)i + 1 ||
                              !json_is_string(etag)))
            err = REG_EINVALID;
        if (err == REG_OK)
            err = add_part(s, (int)i + 1, json_string_value(etag), PART_SIZE);
    }
    json_decref(arr);
    return err;
}

static char *parts_to_json(const s3_session *s)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < s->nparts; i++)
        json_array_append_new(arr, json_pack("[is]", s->parts[i].no, s->parts[i].etag));
    char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return text;
}

static int load_tail(s3_session *s);

/* Rebuild the in-memory session from its row (and tail object). */
static int session_load(s3_session *s)
{
    if (hashstate_load(s->hash, s->row.hash_state, s->row.hash_len) < 0 && s->row.offset > 0)
        return REG_EINVALID;
    int err = parts_from_json(s, s->row.parts);
    if (err < 0)
        return err;
    if (s->parts_bytes + s->row.tail_len != s->row.offset || s->row.tail_len > PART_SIZE)
        return REG_EINVALID;
    return load_tail(s);
}

static int fill_tail(void *ctx, const void *data, size_t len)
{
    s3_session *s = ctx;
    if (len > PART_SIZE - s->buf_len)
        return REG_EINVALID;
    memcpy(s->buf + s->buf_len, data, len);
    s->buf_len += len;
    return 0;
}

static int load_tail(s3_session *s)
{
    char key[KEY_MAX];
    s->buf_len = 0;
    if (s->row.tail_len == 0)
        return REG_OK;
    tail_key(key, s->row.id);
    int err = s3_get(s->t->s3, key, 0, s->row.tail_len, fill_tail, s);
    if (err == REG_OK && s->buf_len != s->row.tail_len)
        err = REG_ERROR;
    s->tail_saved = s->buf_len;
    return err;
}

/* Write the row as it is in memory, with this request's lease. */
static int save_row(s3_session *s)
{
    index_db *ix = table_index(s->t);
    if (!ix)
        return REG_ERROR;
    s->row.busy_until = time(NULL) + LEASE_SECONDS;
    s->leased = 1;
    int err = index_upload_save(ix, &s->row);
    if (err == REG_EBUSY)
        s->displaced = 1;
    return err;
}

/* A row never saved (parts NULL) tells discard that no object exists under uploads/<id>/:
 * before a request first writes one, the row says it may (parts "[]"), so that a crash
 * between the object's PUT and the row's save leaves nothing discard would not remove. */
static int mark_stored(s3_session *s)
{
    if (s->row.parts)
        return REG_OK;
    if (!(s->row.parts = strdup("[]")))
        return REG_ERROR;
    return save_row(s);
}

/* Write the row: offset, hash, parts, tail length; release the lease too when asked. */
static int session_save(s3_session *s, int release)
{
    index_db *ix = table_index(s->t);
    char *parts = parts_to_json(s);
    if (!ix || !parts) {
        free(parts);
        return REG_ERROR;
    }
    free(s->row.parts);
    s->row.parts = parts;
    s->row.offset = s->parts_bytes + s->buf_len;
    s->row.tail_len = s->buf_len;
    s->row.hash_len = hashstate_save(s->hash, s->row.hash_state);
    s->row.updated = time(NULL);
    s->row.busy_until = release ? 0 : s->row.updated + LEASE_SECONDS;
    s->leased = !release;
    int err = index_upload_save(ix, &s->row);
    if (err == REG_EBUSY)
        s->displaced = 1;
    s->renewed = s->row.updated;
    return err;
}

/* ---- operations ---- */

static void count_active(s3_uploads *t, int delta)
{
    pthread_mutex_lock(&t->lock);
    t->active += delta;
    pthread_mutex_unlock(&t->lock);
}

/* The row is inserted in generation 1 without a lease: nobody else knows the id before
 * this request answers, so a POST without a body costs one statement (no claim, no
 * release). The creator holds generation 1; its first write (a renewal after a second, a
 * part, a flush) takes the lease, and any claim by a later request makes generation 2. */
static int s3u_create(upload **out, char *id_out, upload_table *base, const char *repo)
{
    s3_uploads *t = table(base);
    index_db *ix = table_index(t);
    s3_session *s = session_new(t);
    int err = ix && s ? upload_new_id(s->row.id) : REG_ERROR;
    time_t now = time(NULL);
    if (err == REG_OK &&
        snprintf(s->row.repo, sizeof(s->row.repo), "%s", repo) >= (int)sizeof(s->row.repo))
        err = reg_error_set(REG_EINVALID, "repository name too long for an upload session");
    if (err == REG_OK)
        err = index_upload_insert(ix, s->row.id, repo, now);
    if (err < 0) {
        session_free(s);
        return err;
    }
    s->row.generation = 1;
    s->row.updated = now;
    s->renewed = now;
    memcpy(id_out, s->row.id, UPLOAD_ID_LEN + 1);
    count_active(t, 1);
    *out = &s->base;
    return REG_OK;
}

static int s3u_acquire(upload **out, unsigned *generation, upload_table *base, const char *id,
                       const char *repo)
{
    s3_uploads *t = table(base);
    index_db *ix = table_index(t);
    s3_session *s = session_new(t);
    int err = ix && s ? REG_OK : REG_ERROR;
    if (err == REG_OK)
        err = index_upload_claim(&s->row, ix, id, repo, time(NULL), LEASE_SECONDS);
    if (err == REG_OK)
        err = session_load(s);
    if (err < 0) {
        if (err != REG_ENOTFOUND && err != REG_EBUSY && s && s->row.generation)
            index_upload_release(ix, id, s->row.generation);
        session_free(s);
        return err == REG_EINVALID ? REG_ERROR : err;
    }
    s->renewed = time(NULL);
    s->leased = 1;
    *generation = s->row.generation;
    count_active(t, 1);
    *out = &s->base;
    return REG_OK;
}

static int s3u_peek(uint64_t *offset_out, upload_table *t, const char *id, const char *repo)
{
    upload_row row;
    index_db *ix = table_index(table(t));
    memset(&row, 0, sizeof(row));
    int err = ix ? index_upload_get(&row, ix, id, repo) : REG_ERROR;
    if (err == REG_OK)
        *offset_out = row.offset;
    free(row.parts);
    return err;
}

static void s3u_release(upload_table *base, upload *u, unsigned generation)
{
    s3_uploads *t = table(base);
    s3_session *s = session(u);
    if (s->leased && !s->displaced && s->row.generation == generation) {
        index_db *ix = table_index(t);
        if (ix)
            index_upload_release(ix, s->row.id, generation);
    }
    count_active(t, -1);
    session_free(s);
}

static int owned(const s3_session *s, unsigned generation)
{
    return !s->displaced && s->row.generation == generation;
}

static int s3u_owned(upload *u, unsigned generation)
{
    return owned(session(u), generation);
}

enum { TAIL_OBJECT = 1, DATA_OBJECT = 2 };

static void remove_objects(s3_uploads *t, const char *id, const char *mpu_id, int which)
{
    char key[KEY_MAX];
    tail_key(key, id);
    if (which & TAIL_OBJECT)
        s3_delete(t->s3, key);
    data_key(key, id);
    if (mpu_id && mpu_id[0])
        s3_multipart_abort(t->s3, key, mpu_id);
    if (which & DATA_OBJECT)
        s3_delete(t->s3, key);
}

/* Which objects may exist under uploads/<id>/: a tail once the row was ever saved (parts
 * not NULL, see mark_stored) or written here; data once a multipart upload was begun (its
 * id is saved at once) or completed here. A session pushed in one PUT has neither. */
static int session_objects(const s3_session *s)
{
    int which = 0;
    if (s->tail_put || s->tail_saved || s->row.tail_len || s->row.parts)
        which |= TAIL_OBJECT;
    if (s->mpu_made || s->nparts || s->row.mpu_id[0])
        which |= DATA_OBJECT;
    return which;
}

static void s3u_discard(upload_table *base, upload *u)
{
    s3_uploads *t = table(base);
    s3_session *s = session(u);
    index_db *ix = table_index(t);
    if (!s->displaced && ix && index_upload_delete(ix, s->row.id) == REG_OK)
        remove_objects(t, s->row.id, s->row.mpu_id, session_objects(s));
    count_active(t, -1);
    session_free(s);
}

static uint64_t s3u_offset(const upload *u)
{
    const s3_session *s = (const s3_session *)u;
    return s->parts_bytes + s->buf_len;
}

static const char *s3u_id(const upload *u)
{
    return ((const s3_session *)u)->row.id;
}

/* Send the full buffer as the next part of the multipart upload (made on first use). */
static int send_part(s3_session *s)
{
    char key[KEY_MAX], etag[S3_ETAG_MAX];
    data_key(key, s->row.id);
    if (!s->row.mpu_id[0]) {
        if (s3_multipart_create(s->t->s3, key, s->row.mpu_id, sizeof(s->row.mpu_id)) < 0)
            return REG_ERROR;
        s->mpu_made = 1;
        /* Recorded at once (with the state saved last), so that a crash before the next save
         * still leaves the multipart upload where expiry or a discard will abort it. */
        int err = save_row(s);
        if (err < 0)
            return err;
    }
    int no = (int)s->nparts + 1;
    if (no > S3_MAX_PARTS)
        return REG_ETOOLARGE;
    if (s3_multipart_part(s->t->s3, key, s->row.mpu_id, no, s->buf, s->buf_len, etag,
                          sizeof(etag)) < 0 ||
        add_part(s, no, etag, s->buf_len) < 0)
        return REG_ERROR;
    s->buf_len = 0;
    s->tail_saved = 0;
    return REG_OK;
}

static int s3u_append(upload *u, unsigned generation, const void *data, size_t len)
{
    s3_session *s = session(u);
    const char *p = data;
    if (!owned(s, generation))
        return REG_EBUSY;
    while (len > 0) {
        size_t n = PART_SIZE - s->buf_len < len ? PART_SIZE - s->buf_len : len;
        memcpy(s->buf + s->buf_len, p, n);
        hashstate_update(s->hash, p, n);
        s->buf_len += n;
        p += n;
        len -= n;
        if (s->buf_len == PART_SIZE) {
            int err = send_part(s);
            if (err == REG_OK)
                err = session_save(s, 0); /* also renews the lease */
            if (err < 0)
                return err;
        }
    }
    if (time(NULL) - s->renewed >= 1) {
        index_db *ix = table_index(s->t);
        int err = ix ? index_upload_renew(ix, s->row.id, generation, time(NULL) + LEASE_SECONDS)
                     : REG_ERROR;
        s->leased = 1;
        if (err == REG_EBUSY)
            s->displaced = 1;
        if (err < 0)
            return err;
        s->renewed = time(NULL);
    }
    return REG_OK;
}

static int s3u_flush(upload *u)
{
    s3_session *s = session(u);
    char key[KEY_MAX];
    if (s->displaced)
        return REG_EBUSY;
    if (s->buf_len != s->tail_saved) {
        int err = mark_stored(s);
        if (err < 0)
            return err;
        tail_key(key, s->row.id);
        s->tail_put = 1;
        if (s3_put(s->t->s3, key, s->buf, s->buf_len) < 0)
            return REG_ERROR;
        s->tail_saved = s->buf_len;
    }
    return session_save(s, 0);
}

static int s3u_digest(digest *out, upload *u, digest_alg alg)
{
    return hashstate_digest(out, session(u)->hash, alg);
}

static int s3u_count(upload_table *base)
{
    s3_uploads *t = table(base);
    pthread_mutex_lock(&t->lock);
    int n = t->active;
    pthread_mutex_unlock(&t->lock);
    return n;
}

typedef struct expiring {
    s3_uploads *t;
    int removed;
} expiring;

static int expire_one(void *ctx, const char *id, const char *mpu_id)
{
    expiring *e = ctx;
    remove_objects(e->t, id, mpu_id, TAIL_OBJECT | DATA_OBJECT);
    e->removed++;
    return 0;
}

static int s3u_expire(upload_table *base, time_t max_idle)
{
    s3_uploads *t = table(base);
    index_db *ix = table_index(t);
    expiring e = {.t = t};
    if (!ix)
        return 0;
    /* Rows go first (an expired row is never claimed again), then their objects. */
    index_upload_expire(ix, time(NULL) - max_idle, expire_one, &e);
    return e.removed;
}

static int s3u_leftovers(upload_table *base, upload_leftover_cb cb, void *ctx)
{
    index_db *ix = table_index(table(base));
    if (!ix)
        return reg_error_set(REG_ERROR, "cannot open the index for upload sessions");
    return index_upload_list(ix, cb, ctx);
}

/* ---- finishing ---- */

static int publish_prepare(blob_publish *p)
{
    s3_session *s = session(p->session);
    char key[KEY_MAX], dst[BLOBSTORE_KEY_MAX];
    if (!s->nparts)
        return REG_OK; /* small: one PutObject from the buffer inside the transaction */
    if (s->buf_len > 0 && send_part(s) < 0)
        return REG_ERROR;
    data_key(key, s->row.id);
    if (s3_multipart_complete(s->t->s3, key, s->row.mpu_id, s->parts, s->nparts) < 0)
        return REG_ERROR;
    s->row.mpu_id[0] = '\0';
    /* The copy may appear before its row; publish checks under the write lock that gc has
     * not removed it meanwhile. */
    bs3_key(dst, &p->d);
    return s3_copy(s->t->s3, key, dst);
}

static int publish_commit(blob_publish *p)
{
    s3_session *s = session(p->session);
    char key[KEY_MAX], dst[BLOBSTORE_KEY_MAX];
    if (!s->nparts)
        return bs3_put(s->t->backend, &p->d, s->buf, s->buf_len);
    bs3_key(dst, &p->d);
    int err = s3_head(s->t->s3, dst, NULL, NULL);
    if (err != REG_ENOTFOUND)
        return err;
    data_key(key, s->row.id);
    return s3_copy(s->t->s3, key, dst);
}

/* Bytes for the index (inline.c): a small session is all in its buffer. */
static int s3_read_all(upload *u, void *out, size_t len)
{
    s3_session *s = session(u);
    if (s->nparts || s->buf_len != len)
        return reg_error_set(REG_ERROR, "upload %s is not the %zu bytes in memory", s->row.id, len);
    memcpy(out, s->buf, len);
    return REG_OK;
}

static const blob_publish_ops s3_session_publish = {
    .prepare = publish_prepare,
    .commit = publish_commit,
};

static int64_t s3u_sweep(upload_table *t, time_t max_idle, int dry_run)
{
    return dry_run ? 0 : s3u_expire(t, max_idle);
}

static const upload_ops s3_upload_ops = {
    .create = s3u_create,
    .acquire = s3u_acquire,
    .peek = s3u_peek,
    .release = s3u_release,
    .owned = s3u_owned,
    .discard = s3u_discard,
    .offset = s3u_offset,
    .id = s3u_id,
    .append = s3u_append,
    .flush = s3u_flush,
    .digest = s3u_digest,
    .read_all = s3_read_all,
    .publish = &s3_session_publish,
    .count = s3u_count,
    .expire = s3u_expire,
    .sweep = s3u_sweep,
    .leftovers = s3u_leftovers,
    .free = s3u_free,
};
