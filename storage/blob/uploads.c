/* uploads.c - upload sessions (see uploads.h). The table is a mutex-protected list of
 * sessions; a session is used by at most one request at a time (the busy flag). */
#include "storage/blob/uploads.h"
#include "storage/base/fileio.h"
#include "storage/blob/uploads_s3.h"
#include "storage/base/reference.h"
#include "storage/base/random.h"
#include "storage/base/reg_error.h"
#include "storage/blob/stage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Uploads bypass the page cache (copying into it costs more CPU than hashing): bytes gather in
 * a stage (stage.h): the request's thread writes them with O_DIRECT, a worker hashes them. Where
 * O_DIRECT is not supported (tmpfs) writes are plain and hashed in the request's thread. A
 * stage is synced before a request is answered, so the file holds every accepted byte; it
 * stays for the session's next request, and its hash is waited for when the digest is due. */
#define HASH_INVALID UINT64_MAX

struct upload {
    char id[UPLOAD_ID_LEN + 1];
    char *repo;
    char spool[PATH_MAX];
    int fd;                /* read/write, through the page cache */
    int dfd;               /* O_DIRECT writer, -1 until opened */
    int no_direct;         /* O_DIRECT is not available here */
    stage *stage;          /* only while a request appends; it keeps sha256 going */
    uint64_t offset;       /* bytes accepted, staged ones included */
    digester *sha256; /* covers [0, hashed) of the spool (and the staged bytes after it) */
    uint64_t hashed;
    int busy;
    time_t updated;        /* last acquire, release or append */
    unsigned generation;   /* bumped when a stalled owner is replaced */
    int refs;              /* requests holding this session (a displaced owner too) */
    int discarded;         /* gone from the table; freed when refs reaches 0 */
    pthread_mutex_t io;    /* serialises appends with a takeover */
    struct upload *next;
    s3_session *remote;    /* S3 storage: the session lives in the index and S3 instead */
};

struct upload_table {
    pthread_mutex_t lock;
    char *dir;
    upload *head;
    s3_uploads *remote; /* S3 storage: sessions shared by every instance (uploads_s3.c) */
};

int upload_table_new(upload_table **out, blobstore *bs, const char *index_location)
{
    upload_table *t = calloc(1, sizeof(*t));
    if (!t || !(t->dir = strdup(blobstore_uploads_dir(bs)))) {
        free(t);
        return REG_ERROR;
    }
    if (blobstore_is_remote(bs) && s3u_new(&t->remote, bs, index_location) < 0) {
        free(t->dir);
        free(t);
        return REG_ERROR;
    }
    pthread_mutex_init(&t->lock, NULL);
    *out = t;
    return REG_OK;
}

static void upload_free(upload *u)
{
    if (!u)
        return;
    pthread_mutex_destroy(&u->io);
    stage_result ignored;
    if (u->stage)
        stage_finish(u->stage, &ignored);
    if (u->fd >= 0)
        close(u->fd);
    if (u->dfd >= 0)
        close(u->dfd);
    digester_free(u->sha256);
    free(u->repo);
    free(u);
}

void upload_table_free(upload_table *t)
{
    if (!t)
        return;
    for (upload *u = t->head, *next; u; u = next) {
        next = u->next;
        upload_free(u);
    }
    pthread_mutex_destroy(&t->lock);
    s3u_free(t->remote);
    free(t->dir);
    free(t);
}

static int is_upload_id(const char *id)
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

int upload_new_id(char *out)
{
    unsigned char r[16];
    if (random_bytes(r, sizeof(r)) < 0)
        return REG_ERROR;
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(out, UPLOAD_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
             r[15]);
    return REG_OK;
}

static upload *upload_alloc(const upload_table *t, const char *id, const char *repo)
{
    upload *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    pthread_mutex_init(&u->io, NULL);
    u->fd = -1;
    u->dfd = -1;
    memcpy(u->id, id, UPLOAD_ID_LEN + 1);
    snprintf(u->spool, sizeof(u->spool), "%s/%s", t->dir, id);
    u->repo = strdup(repo);
    if (!u->repo || digester_new(&u->sha256, DIGEST_SHA256) < 0) {
        upload_free(u);
        return NULL;
    }
    u->updated = time(NULL);
    return u;
}

static int write_sidecar(const upload_table *t, const char *id, const char *repo)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s.repo", t->dir, id);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return fileio_errno_to_reg(errno);
    int err = fileio_write_all(fd, repo, strlen(repo));
    close(fd);
    if (err < 0)
        unlink(path);
    return err;
}

static void remove_files(const upload_table *t, const char *id)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", t->dir, id);
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s.repo", t->dir, id);
    unlink(path);
}

/* An S3 session in the shape of this file's sessions (only `remote` is used). */
static int wrap_remote(upload **out, s3_session *s, int err)
{
    if (err < 0)
        return err;
    upload *u = calloc(1, sizeof(*u));
    if (!u)
        return REG_ERROR;
    u->remote = s;
    *out = u;
    return REG_OK;
}

int upload_create(upload **out, char *id_out, upload_table *t, const char *repo)
{
    if (t->remote) {
        s3_session *s = NULL;
        int err = s3u_create(&s, id_out, t->remote, repo);
        if ((err = wrap_remote(out, s, err)) < 0 && s)
            s3u_discard(t->remote, s);
        return err;
    }
    char id[UPLOAD_ID_LEN + 1];
    int err = upload_new_id(id);
    if (err < 0)
        return err;
    upload *u = upload_alloc(t, id, repo);
    if (!u)
        return REG_ERROR;
    if ((err = write_sidecar(t, id, repo)) < 0)
        goto fail;
    u->fd = open(u->spool, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (u->fd < 0) {
        err = fileio_errno_to_reg(errno);
        goto fail;
    }
    u->busy = 1;
    u->generation = 1;
    u->refs = 1;
    pthread_mutex_lock(&t->lock);
    u->next = t->head;
    t->head = u;
    pthread_mutex_unlock(&t->lock);
    memcpy(id_out, id, UPLOAD_ID_LEN + 1);
    *out = u;
    return REG_OK;
fail:
    remove_files(t, id);
    upload_free(u);
    return err;
}

/* A session this process does not know yet (started before a restart): load it from disk. */
static upload *upload_load(const upload_table *t, const char *id)
{
    char path[PATH_MAX], repo[REPO_NAME_MAX + 2];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s.repo", t->dir, id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, repo, sizeof(repo) - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    repo[n] = '\0';
    upload *u = upload_alloc(t, id, repo);
    if (!u)
        return NULL;
    u->fd = open(u->spool, O_RDWR | O_CLOEXEC);
    if (u->fd < 0 || fstat(u->fd, &st) < 0) {
        upload_free(u);
        return NULL;
    }
    u->offset = (uint64_t)st.st_size;
    return u;
}

static void unlink_from_table(upload_table *t, upload *u);

/* The session in memory, or loaded from its files (table lock held). */
static upload *find_session(upload_table *t, const char *id)
{
    upload *u = t->head;
    while (u && strcmp(u->id, id) != 0)
        u = u->next;
    if (!u && (u = upload_load(t, id)) != NULL) {
        u->next = t->head;
        t->head = u;
    }
    return u;
}

/* Over: gc expired the spool (no link left), or it was linked to a blob path by a publish
 * (two links; the publish failed, or the process stopped before discarding the session).
 * Writing to a published spool would change that blob, so such a session takes no more. */
static int spool_gone(const upload *u)
{
    struct stat st;
    return fstat(u->fd, &st) < 0 || st.st_nlink != 1;
}

int upload_acquire(upload **out, unsigned *generation, upload_table *t, const char *id,
                   const char *repo)
{
    int err = REG_ENOTFOUND;
    if (!is_upload_id(id))
        return REG_ENOTFOUND;
    if (t->remote) {
        s3_session *s = NULL;
        err = s3u_acquire(&s, generation, t->remote, id, repo);
        if ((err = wrap_remote(out, s, err)) < 0 && s)
            s3u_release(t->remote, s, *generation);
        return err;
    }
    pthread_mutex_lock(&t->lock);
    upload *u = find_session(t, id);
    if (!u || strcmp(u->repo, repo) != 0)
        goto done;
    if (spool_gone(u)) {
        /* gc expired its files: the session is over. */
        if (!u->busy) {
            unlink_from_table(t, u);
            u->discarded = 1;
            if (u->refs == 0)
                upload_free(u);
        }
        goto done;
    }
    if (u->busy && time(NULL) - u->updated < UPLOAD_STALL_SECONDS) {
        err = REG_EBUSY;
        goto done;
    }
    /* A stalled owner (a client that vanished mid-body) loses the session: its later
     * appends see a different generation and fail. */
    pthread_mutex_lock(&u->io);
    u->generation++;
    u->busy = 1;
    u->refs++;
    u->updated = time(NULL);
    *generation = u->generation;
    pthread_mutex_unlock(&u->io);
    *out = u;
    err = REG_OK;
done:
    pthread_mutex_unlock(&t->lock);
    return err;
}

/* Drop one reference (table lock held); true when the caller must free the session. */
static int unref(upload *u)
{
    return --u->refs == 0 && u->discarded;
}

int upload_peek(uint64_t *offset_out, upload_table *t, const char *id, const char *repo)
{
    int err = REG_ENOTFOUND;
    if (!is_upload_id(id))
        return REG_ENOTFOUND;
    if (t->remote)
        return s3u_peek(offset_out, t->remote, id, repo);
    pthread_mutex_lock(&t->lock);
    upload *u = find_session(t, id);
    if (u && !strcmp(u->repo, repo) && !spool_gone(u)) {
        pthread_mutex_lock(&u->io);
        *offset_out = u->offset;
        pthread_mutex_unlock(&u->io);
        err = REG_OK;
    }
    pthread_mutex_unlock(&t->lock);
    return err;
}

void upload_release(upload_table *t, upload *u, unsigned generation)
{
    if (u->remote) {
        s3u_release(t->remote, u->remote, generation);
        free(u);
        return;
    }
    if (u->generation == generation)
        upload_flush(u); /* normally done already; a failure has rolled the offset back */
    pthread_mutex_lock(&t->lock);
    if (u->generation == generation && !u->discarded) {
        u->busy = 0;
        u->updated = time(NULL);
    }
    int last = unref(u);
    pthread_mutex_unlock(&t->lock);
    if (last)
        upload_free(u);
}

static void unlink_from_table(upload_table *t, upload *u)
{
    for (upload **pp = &t->head; *pp; pp = &(*pp)->next) {
        if (*pp == u) {
            *pp = u->next;
            return;
        }
    }
}

void upload_discard(upload_table *t, upload *u)
{
    if (u->remote) {
        s3u_discard(t->remote, u->remote);
        free(u);
        return;
    }
    pthread_mutex_lock(&t->lock);
    unlink_from_table(t, u);
    u->discarded = 1;
    remove_files(t, u->id);
    int last = unref(u);
    pthread_mutex_unlock(&t->lock);
    if (last)
        upload_free(u);
}

uint64_t upload_offset(const upload *u)
{
    if (u->remote)
        return s3u_offset(u->remote);
    return u->offset;
}

const char *upload_id(const upload *u)
{
    if (u->remote)
        return s3u_id(u->remote);
    return u->id;
}



/* After a failed write: keep only what is surely in the file, and rehash at the end. */
static int roll_back_to(upload *u, uint64_t length, int err)
{
    u->offset = length;
    u->hashed = HASH_INVALID;
    if (ftruncate(u->fd, (off_t)length) < 0)
        return REG_ERROR;
    return err;
}

static int stage_begin(upload *u)
{
    if (u->stage || u->no_direct)
        return REG_OK;
    if (u->dfd < 0 && (u->dfd = open(u->spool, O_WRONLY | O_DIRECT | O_CLOEXEC)) < 0) {
        u->no_direct = 1;
        return REG_OK;
    }
    return stage_start(&u->stage, u->fd, u->dfd, u->offset, u->sha256, u->hashed == u->offset);
}

/* Finish the stage (io lock held): wait for its hash; after a failure the session rolls back
 * to what the file surely holds. */
static int stage_drain(upload *u)
{
    stage_result r;
    if (!u->stage)
        return REG_OK;
    int err = stage_finish(u->stage, &r);
    u->stage = NULL;
    u->no_direct |= r.direct_off;
    u->hashed = r.hashed ? r.length : HASH_INVALID;
    return err < 0 ? roll_back_to(u, r.length, err) : REG_OK;
}

/* Without a stage: write and hash here. */
static int append_plain(upload *u, const void *data, size_t len)
{
    int err = fileio_pwrite_all(u->fd, data, len, u->offset);
    if (err < 0) {
        /* Drop a partial write so the offset stays the truth. */
        return ftruncate(u->fd, (off_t)u->offset) < 0 ? REG_ERROR : err;
    }
    if (u->hashed == u->offset) {
        if (digester_update(u->sha256, data, len) < 0)
            return REG_ERROR;
        u->hashed += len;
    }
    return REG_OK;
}

int upload_append(upload *u, unsigned generation, const void *data, size_t len)
{
    if (u->remote)
        return s3u_append(u->remote, generation, data, len);
    int err = REG_OK;
    pthread_mutex_lock(&u->io);
    if (u->generation != generation) {
        err = REG_EBUSY;
        goto done;
    }
    u->updated = time(NULL);
    if ((err = stage_begin(u)) < 0)
        goto done;
    if (u->stage && (err = stage_add(u->stage, data, len)) < 0) {
        int drained = stage_drain(u);
        err = drained < 0 ? drained : err;
        goto done;
    }
    if (!u->stage && (err = append_plain(u, data, len)) < 0)
        goto done;
    u->offset += len;
done:
    pthread_mutex_unlock(&u->io);
    return err;
}

int upload_flush(upload *u)
{
    if (u->remote)
        return s3u_flush(u->remote);
    pthread_mutex_lock(&u->io);
    int err = REG_OK;
    /* The stage stays for the session's next request unless too many are kept. */
    if (u->stage && (stage_sync(u->stage) < 0 || stage_crowded()))
        err = stage_drain(u);
    pthread_mutex_unlock(&u->io);
    return err;
}

/* Every byte in the file and in the digester. */
static int upload_drain(upload *u)
{
    pthread_mutex_lock(&u->io);
    int err = stage_drain(u);
    pthread_mutex_unlock(&u->io);
    return err;
}

int upload_publish_prepare(upload *u, blobstore *bs, const digest *d)
{
    if (u->remote)
        return s3u_publish_prepare(u->remote, d);
    int err = upload_drain(u);
    if (err == REG_OK)
        err = blobstore_sync(u->fd);
    return err < 0 ? err : blobstore_place(bs, u->spool, d);
}

int upload_publish(upload *u, blobstore *bs, const digest *d)
{
    if (u->remote)
        return s3u_publish(u->remote, d);
    return blobstore_confirm(bs, u->spool, d);
}

int upload_owned(upload *u, unsigned generation)
{
    if (u->remote)
        return s3u_owned(u->remote, generation);
    pthread_mutex_lock(&u->io);
    int owned = u->generation == generation;
    pthread_mutex_unlock(&u->io);
    return owned;
}

int upload_digest(digest *out, upload *u, digest_alg alg)
{
    if (u->remote)
        return s3u_digest(out, u->remote, alg);
    int err = upload_drain(u);
    if (err < 0)
        return err;
    if (alg == DIGEST_SHA256 && u->hashed == u->offset)
        return digester_peek(out, u->sha256);
    return digest_file(out, alg, u->fd, u->offset);
}

int upload_count(upload_table *t)
{
    if (t->remote)
        return s3u_count(t->remote);
    int n = 0;
    pthread_mutex_lock(&t->lock);
    for (const upload *u = t->head; u; u = u->next)
        n++;
    pthread_mutex_unlock(&t->lock);
    return n;
}

static int is_session_file(const char *name)
{
    char id[UPLOAD_ID_LEN + 1];
    size_t n = strlen(name);
    if (n != UPLOAD_ID_LEN && !(n == UPLOAD_ID_LEN + 5 && strcmp(name + UPLOAD_ID_LEN, ".repo") == 0))
        return 0;
    memcpy(id, name, UPLOAD_ID_LEN);
    id[UPLOAD_ID_LEN] = '\0';
    return is_upload_id(id);
}

static int known_session(const upload_table *t, const char *name)
{
    for (const upload *u = t->head; u; u = u->next)
        if (strncmp(u->id, name, UPLOAD_ID_LEN) == 0)
            return 1;
    return 0;
}

int upload_expire(upload_table *t, time_t max_idle)
{
    if (t->remote)
        return s3u_expire(t->remote, max_idle);
    char path[PATH_MAX];
    struct stat st;
    int removed = 0;
    time_t now = time(NULL);
    pthread_mutex_lock(&t->lock);
    for (upload **pp = &t->head; *pp;) {
        upload *u = *pp;
        if (!u->busy && u->refs == 0 && now - u->updated > max_idle) {
            *pp = u->next;
            remove_files(t, u->id);
            upload_free(u);
            removed++;
        } else {
            pp = &u->next;
        }
    }
    DIR *d = opendir(t->dir);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.' && strncmp(e->d_name, ".m-", 3) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", t->dir, e->d_name);
        if (known_session(t, e->d_name) || stat(path, &st) < 0 || now - st.st_mtime <= max_idle)
            continue;
        if ((is_session_file(e->d_name) || strncmp(e->d_name, ".m-", 3) == 0) && unlink(path) == 0)
            removed++;
    }
    if (d)
        closedir(d);
    pthread_mutex_unlock(&t->lock);
    return removed;
}
