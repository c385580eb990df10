/* pullthrough_blob.c - blob fills of the pull-through cache (see pullthrough.h): the upstream's
 * bytes go once into an upload session whose spool file every client of the blob reads while it
 * grows (the commit publishes that same file once its digest is verified), so nobody waits for
 * the whole blob, each byte is written once and the upstream is asked once. */
#include "storage/pullthrough_internal.h"
#include "storage/base/datetime.h"
#include "storage/base/fileio.h"
#include "storage/base/reg_error.h"
#include "storage/cache_rules.h"
#include "storage/index/index_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pullthrough_reader {
    flight *f;
};

/* start_fill's answer when the registry held the blob already and it is now linked. */
#define HELD 1

/* An unlinked file in the data folder for the bytes readers share. */
static int open_shared_file(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    char path[4096];
    snprintf(path, sizeof(path), "%s/.pullthrough-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

/* What readers pread: the session's spool where the backend keeps one (each byte is written
 * once), else an unlinked file of our own that the fill writes too. */
static int open_reader_file(flight *f, const char *dir)
{
    int fd = upload_spool_reader(f->session);
    if (fd != REG_ENOTFOUND)
        return fd;
    f->own_file = 1;
    fd = open_shared_file(dir);
    return fd >= 0 ? fd
                   : reg_error_set(REG_ERROR, "pull-through: no file for the blob's bytes: %s",
                                   strerror(errno));
}

/* Into the shared file at `at`: the bytes readers pread. */
static int write_shared(int fd, const void *data, size_t n, uint64_t at)
{
    int err = fileio_pwrite_all(fd, data, n, at);
    if (err < 0)
        return reg_error_set(err, "pull-through: cannot write the blob's bytes: %s",
                             strerror(errno));
    return REG_OK;
}

/* A trickle: past the grace, fewer bytes than the minimum rate over the whole transfer. */
static int too_slow(const flight *f, uint64_t bytes)
{
    const pullthrough_limits *l = &f->pt->limits;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t elapsed = (int64_t)(now.tv_sec - f->began.tv_sec);
    return l->min_rate && elapsed > l->grace_seconds && bytes / (uint64_t)elapsed < l->min_rate;
}

/* A piece from curl (up to REMOTE_STREAM_BUFFER) into the session, and into the shared file
 * where the session has no spool to read, then to the readers: no copy of our own. */
static int write_piece(flight *f, const void *data, size_t n)
{
    int err = store_upload_append(f->pt->s, f->session, 1, data, n);
    if (err == REG_OK)
        err = f->own_file ? write_shared(f->fd, data, n, f->written) : upload_flush(f->session);
    if (err < 0)
        return err;
    pthread_mutex_lock(&f->lock);
    f->written += n;
    if (f->waiting && f->written - f->woken >= PULLTHROUGH_WAKE_STEP) {
        f->woken = f->written;
        pthread_cond_broadcast(&f->changed);
    }
    pthread_mutex_unlock(&f->lock);
    return REG_OK;
}

/* remote's on_data: the bounds and the rate checked, the bytes written. */
static int on_blob_data(void *ctx, const void *data, size_t n)
{
    flight *f = ctx;
    uint64_t received = f->written;
    if (f->size >= 0 && (uint64_t)f->size - received < n)
        return reg_error_set(REG_ETOOLARGE,
                             "the upstream sent more than the %lld bytes it "
                             "announced for %s",
                             (long long)f->size, f->dg.str);
    if (too_slow(f, received + n))
        return reg_error_set(REG_ERROR,
                             "the upstream trickles %s: %llu bytes, under %llu a "
                             "second",
                             f->dg.str, (unsigned long long)(received + n),
                             (unsigned long long)f->pt->limits.min_rate);
    return n ? write_piece(f, data, n) : REG_OK;
}

/* The digest of every byte received, before the commit (which makes it durable): readers get
 * the last byte as soon as it is known to be right. */
static int verify(flight *f)
{
    digest actual;
    int err = upload_digest(&actual, f->session, f->dg.alg);
    if (err < 0)
        return err;
    if (strcmp(actual.str, f->dg.str) != 0)
        return reg_error_set(REG_EMISMATCH,
                             "the upstream's bytes for %s have digest %s: not "
                             "stored",
                             f->dg.str, actual.str);
    pthread_mutex_lock(&f->lock);
    f->verified = 1;
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->lock);
    return REG_OK;
}

/* The GET and the commit, on the fill's thread with an index connection of its own. */
static int transfer(flight *f, index_db *ix)
{
    pullthrough *pt = f->pt;
    remote_response resp;
    memset(&resp, 0, sizeof(resp));
    uint64_t max = f->size >= 0 ? (uint64_t)f->size : pt->s->max_blob_size;
    remote_request rq = {.method = "GET",
                         .path = f->path,
                         .scope = f->scope,
                         .on_data = on_blob_data,
                         .data_ctx = f,
                         .max_body = max ? max : UINT64_MAX};
    clock_gettime(CLOCK_MONOTONIC, &f->began);
    int err = remote_send(&resp, f->up->client, &rq);
    if (err == REG_OK && resp.status != 200)
        err = reg_error_set(resp.status == 404 ? REG_ENOTFOUND : REG_ERROR,
                            "upstream answered %ld for %s", resp.status, f->path);
    else if (err == REG_OK && f->size >= 0 && f->written != (uint64_t)f->size)
        err = reg_error_set(REG_ERROR, "the upstream sent %llu of the %lld bytes of %s",
                            (unsigned long long)f->written, (long long)f->size, f->dg.str);
    else if (err < 0)
        reg_error_wrap(err, "upstream blob fetch");
    remote_response_free(&resp);
    if (err == REG_OK)
        err = verify(f);
    if (err == REG_OK)
        err = store_commit_upload(pt->s, ix, f->session, f->repo, &f->dg);
    if (err == REG_OK)
        f->session = NULL; /* the commit consumed it */
    return err;
}

static void *fill_thread(void *arg)
{
    flight *f = arg;
    pullthrough *pt = f->pt;
    index_db *ix = NULL;
    int err = index_open(&ix, pt->s->db_path);
    if (err == REG_OK) {
        index_writer_attach(pt->writer, ix);
        err = transfer(f, ix);
    }
    index_close(ix);
    if (f->session)
        upload_discard(pt->s->uploads, f->session);
    f->session = NULL;
    if (err == REG_OK) {
        STAT_ADD(pt, blob_fills, 1);
        STAT_ADD(pt, blob_bytes, f->written);
    } else {
        STAT_ADD(pt, upstream_failures, 1);
        pullthrough_logf(pt, "pull-through: blob %s of %s not stored: %s", f->dg.str, f->repo,
                         reg_error_last("fill failed"));
    }
    flight_finish(f, err, 0);
    flight_put(f);
    pthread_mutex_lock(&pt->lock);
    pt->running--;
    pthread_cond_broadcast(&pt->idle);
    pthread_mutex_unlock(&pt->lock);
    return NULL;
}

/* HEAD the blob upstream for its size (the response to our client needs it first). */
static int head_blob(flight *f, const pullthrough_source *src)
{
    remote_response resp;
    memset(&resp, 0, sizeof(resp));
    remote_request rq = {.method = "HEAD", .path = f->path, .scope = f->scope};
    int err = remote_send(&resp, f->up->client, &rq);
    if (err < 0)
        reg_error_wrap(err, "upstream blob check");
    else if (resp.status != 200)
        err = upstream_status_error(src, f->path, resp.status);
    else
        f->size = resp.content_length > 0 ? resp.content_length : -1; /* 0: a claim to verify */
    remote_response_free(&resp);
    uint64_t max = f->pt->s->max_blob_size;
    if (err == REG_OK && max && f->size > 0 && (uint64_t)f->size > max)
        err = reg_error_set(REG_ETOOLARGE,
                            "blob %s is %lld bytes, over this registry's maximum "
                            "of %llu",
                            f->dg.str, (long long)f->size, (unsigned long long)max);
    return err;
}

/* A blob the registry holds in another repository, which the upstream confirmed (the HEAD):
 * linked into this one in a transaction that finds its row still there (gc cannot have taken
 * it meanwhile), so it is not fetched again. REG_ENOTFOUND when it is not held. */
static int link_held_blob(flight *f, index_db *ix)
{
    uint64_t size = 0;
    int64_t repo_id;
    int err = index_begin(ix);
    if (err < 0)
        return err;
    if ((err = index_cache_blob_size(&size, ix, &f->dg)) == REG_OK && f->size >= 0 &&
        size != (uint64_t)f->size)
        err = REG_ENOTFOUND; /* the upstream disagrees: let the digest decide, by a fetch */
    if (err == REG_OK && (err = index_repo_ensure(&repo_id, ix, f->repo)) == REG_OK)
        err = index_blob_link(ix, repo_id, &f->dg, size);
    return index_end(ix, err);
}

/* The leader's part before the transfer: the upstream, its HEAD, the session, the file, the
 * thread. */
static int start_fill(flight *f, index_db *ix, const pullthrough_source *src, const digest *d)
{
    pullthrough *pt = f->pt;
    char upstream_repo[REPO_NAME_MAX + 1], id[UPLOAD_ID_LEN + 1];
    pthread_t thread;
    pthread_attr_t attr;
    int err = cache_upstream_repo(upstream_repo, sizeof(upstream_repo), src->rule, src->repo);
    if (err < 0)
        return err;
    f->dg = *d;
    snprintf(f->repo, sizeof(f->repo), "%s", src->repo);
    snprintf(f->path, sizeof(f->path), "/v2/%s/blobs/%s", upstream_repo, d->str);
    snprintf(f->scope, sizeof(f->scope), "repository:%s:pull", upstream_repo);
    if ((err = upstream_get(&f->up, pt, src)) < 0 || (err = head_blob(f, src)) < 0)
        return err;
    if ((err = link_held_blob(f, ix)) != REG_ENOTFOUND)
        return err == REG_OK ? HELD : err;
    if ((err = pullthrough_ensure_repo(ix, src->repo)) < 0 ||
        (err = upload_create(&f->session, id, pt->s->uploads, src->repo)) < 0)
        return err;
    if ((f->fd = open_reader_file(f, pt->s->data_dir)) < 0)
        return f->fd;
    pthread_mutex_lock(&pt->lock);
    f->refs++; /* the thread's */
    pt->running++;
    pthread_mutex_unlock(&pt->lock);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    err = pthread_create(&thread, &attr, fill_thread, f);
    pthread_attr_destroy(&attr);
    if (err == 0)
        return REG_OK;
    pthread_mutex_lock(&pt->lock);
    f->refs--;
    pt->running--;
    pthread_mutex_unlock(&pt->lock);
    return reg_error_set(REG_ERROR, "pull-through: cannot start a fill thread");
}

/* Wait until the fill runs (its size is known) or has ended. */
static int wait_started(flight *f)
{
    pthread_mutex_lock(&f->lock);
    while (!f->started && !f->done)
        pthread_cond_wait(&f->changed, &f->lock);
    int err = f->done && f->err < 0 ? f->err : REG_OK;
    if (err < 0)
        reg_error_set(err, "%s", f->msg);
    pthread_mutex_unlock(&f->lock);
    return err;
}

/* The leader: start, then tell the waiters the fill runs, or that it ended before. */
static int lead(flight *f, index_db *ix, const pullthrough_source *src, const digest *d)
{
    int err = start_fill(f, ix, src, d);
    if (err == HELD) {
        flight_finish(f, REG_OK, 0);
        return HELD;
    }
    if (err < 0) {
        if (f->session)
            upload_discard(f->pt->s->uploads, f->session);
        f->session = NULL;
        STAT_ADD(f->pt, upstream_failures, 1);
        flight_finish(f, err, 0);
        return err;
    }
    pthread_mutex_lock(&f->lock);
    f->started = 1;
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->lock);
    return REG_OK;
}

int pullthrough_blob(pullthrough_reader **out, int64_t *size_out, pullthrough *pt, index_db *ix,
                     const pullthrough_source *src, const digest *d)
{
    char key[FLIGHT_KEY_MAX];
    uint64_t size;
    *out = NULL;
    snprintf(key, sizeof(key), "b:%s@%s", src->repo, d->str);
    pthread_mutex_lock(&pt->lock);
    flight *f = flight_find(pt, key);
    if (!f && index_blob_in_repo(&size, ix, src->repo, d) == REG_OK) {
        pthread_mutex_unlock(&pt->lock);
        return REG_OK; /* stored meanwhile */
    }
    int leader = !f;
    if (leader && !(f = flight_start(pt, key))) {
        pthread_mutex_unlock(&pt->lock);
        return reg_error_set(REG_ERROR, "out of memory");
    }
    pthread_mutex_unlock(&pt->lock);
    int err = leader ? lead(f, ix, src, d) : wait_started(f);
    if (!leader)
        STAT_ADD(pt, joined, 1);
    if (err == HELD || (err == REG_OK && !leader && !f->started)) {
        flight_put(f); /* linked from what the registry held: read it from the store */
        return REG_OK;
    }
    pullthrough_reader *r = err == REG_OK ? calloc(1, sizeof(*r)) : NULL;
    if (!r) {
        flight_put(f);
        return err < 0 ? err : reg_error_set(REG_ERROR, "out of memory");
    }
    r->f = f;
    *size_out = f->size;
    *out = r;
    return REG_OK;
}

ssize_t pullthrough_read(pullthrough_reader *r, uint64_t pos, char *out, size_t max, int wait_ms)
{
    flight *f = r->f;
    uint64_t avail;
    int whole, timed_out = 0;
    struct timespec until = datetime_deadline_in(wait_ms);
    pthread_mutex_lock(&f->lock);
    for (;;) {
        /* Until the digest is verified the last byte stays back: a client that got every
         * byte would take a blob that is about to be refused for its own. */
        whole = f->verified || (f->done && f->err == REG_OK);
        avail = whole ? f->written : f->written ? f->written - 1 : 0;
        if (pos < avail || whole || f->done || timed_out)
            break;
        f->waiting++;
        timed_out = pthread_cond_timedwait(&f->changed, &f->lock, &until) == ETIMEDOUT;
        f->waiting--;
    }
    int err = whole ? REG_OK : f->err, ended = whole || f->done;
    if (pos >= avail && err < 0)
        reg_error_set(err, "%s", f->msg);
    pthread_mutex_unlock(&f->lock);
    if (pos >= avail && !ended)
        return REG_EBUSY;
    if (pos >= avail)
        return err < 0 ? err : 0;
    size_t n = avail - pos < max ? (size_t)(avail - pos) : max;
    ssize_t got = pread(f->fd, out, n, (off_t)pos);
    return got > 0 ? got : reg_error_set(REG_ERROR, "pull-through: cannot read the blob's bytes");
}

int pullthrough_wait(pullthrough_reader *r)
{
    return flight_wait(r->f, NULL);
}

void pullthrough_reader_free(pullthrough_reader *r)
{
    if (!r)
        return;
    flight_put(r->f);
    free(r);
}
