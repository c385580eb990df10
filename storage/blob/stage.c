/* stage.c - write-behind staging of a local upload (see stage.h). The buffers form a ring:
 * slots head .. head+queued-1 are written and wait for (or are being hashed by) the worker,
 * the slot after them is the one being filled. The worker starts with the first full buffer,
 * so a small upload never creates a thread. */
#include "storage/blob/stage.h"
#include "storage/base/fileio.h"
#include "storage/base/reg_error.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE (1u << 20)
/* Through the page cache, writeback of each full 8 MiB starts at once, so that the commit's
 * fsync finds little left to write. */
#define WRITEBACK_STEP (8u << 20)
/* Page-cache writes go in pieces of this size: the kernel sizes a file's new page-cache folios
 * by the write, and the large ones a 1 MiB write asks for were slow to fill on the test VM
 * (64 MiB pushes of new blobs, 2026-12-07: 170-260 MiB/s with 1 MiB writes, 546-759 with
 * 64 KiB, 437-741 with 32 KiB). */
#define CACHED_PIECE (64u << 10)
#define NBUF         2
#define ALIGN        4096u
/* Stages kept between requests; beyond this, sessions finish theirs at each request's end. */
#define KEEP_MAX 16
/* A parked stage gives its buffers back after this long without a request. */
#define IDLE_TRIM_MS 200

static atomic_int alive;

struct stage {
    int fd, dfd;
    digester *h;
    int hashing;         /* keep h going; the worker clears it if hashing fails */
    uint64_t hash_from;  /* h covered [0, hash_from) at the start */
    char *buf[NBUF];     /* allocated when first used */
    uint64_t base[NBUF]; /* file offset of buf[i][0], aligned */
    size_t cur;          /* the slot being filled */
    size_t filled;       /* bytes in it */
    size_t head, queued;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    pthread_t worker;
    int started, stopping;
    int parked;       /* between requests (set by stage_sync, cleared by stage_add) */
    unsigned parks;   /* how many times it was parked */
    unsigned trimmed; /* the park after which the worker last trimmed */
    uint64_t synced;  /* the file surely holds [0, synced) */
    int err;          /* first write failure */
    uint64_t good;    /* with err: what the file still surely holds */
    int direct_off;
};

int stage_crowded(void)
{
    return atomic_load(&alive) > KEEP_MAX;
}

/* Buffers are mapped, not malloc'd: glibc raises its mmap threshold after freeing a large
 * block, and later ones then come from (and stay in) its per-thread arenas. A mapping goes back
 * to the system when freed, and is page-aligned, as O_DIRECT needs. */
static int alloc_slot(stage *s, size_t i)
{
    if (s->buf[i])
        return REG_OK;
    void *p = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return REG_ERROR;
    s->buf[i] = p;
    return REG_OK;
}

static void free_slot(stage *s, size_t i)
{
    if (s->buf[i])
        munmap(s->buf[i], BUF_SIZE);
    s->buf[i] = NULL;
}

/* The bytes of slot i (of `len`) the digester has not seen yet. */
static void hash_slot(stage *s, size_t i, size_t len)
{
    uint64_t base = s->base[i];
    size_t from = s->hash_from > base ? (size_t)(s->hash_from - base) : 0;
    if (s->hashing && from < len && digester_update(s->h, s->buf[i] + from, len - from) < 0)
        s->hashing = 0;
}

/* Hash the oldest queued slot and free it (lock held on entry and exit). */
static void hash_head(stage *s)
{
    size_t i = s->head;
    pthread_mutex_unlock(&s->lock);
    hash_slot(s, i, BUF_SIZE);
    pthread_mutex_lock(&s->lock);
    s->head = (s->head + 1) % NBUF;
    s->queued--;
    pthread_cond_signal(&s->done);
}

/* Free the buffers nobody needs: not queued, and not the partial one unless it is empty
 * (lock held; only while parked, when the request's thread does not touch them). */
static void trim(stage *s)
{
    for (size_t i = 0; i < NBUF; i++) {
        int queued = (i + NBUF - s->head) % NBUF < s->queued;
        if (!queued && (i != s->cur || s->filled == 0))
            free_slot(s, i);
    }
}

/* Wait for work; a session that stays parked for IDLE_TRIM_MS gives its buffers back. */
static void wait_for_work(stage *s)
{
    while (!s->queued && !s->stopping) {
        if (!s->parked || s->trimmed == s->parks) {
            pthread_cond_wait(&s->wake, &s->lock);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += IDLE_TRIM_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        if (pthread_cond_timedwait(&s->wake, &s->lock, &until) == ETIMEDOUT && s->parked &&
            !s->queued) {
            trim(s);
            s->trimmed = s->parks;
        }
    }
}

static void *worker_main(void *arg)
{
    stage *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        wait_for_work(s);
        if (!s->queued)
            break;
        hash_head(s);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int stage_start(stage **out, int fd, int dfd, uint64_t offset, digester *h, int hashed)
{
    stage *s = calloc(1, sizeof(*s));
    if (!s || alloc_slot(s, 0) < 0) {
        free(s);
        return REG_ERROR;
    }
    s->fd = fd;
    s->dfd = dfd;
    s->h = h;
    s->hashing = hashed;
    s->hash_from = offset;
    s->synced = offset;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&s->done, NULL);
    atomic_fetch_add(&alive, 1);
    /* The stage starts at the aligned offset below the end and first holds the bytes between
     * (read back from the page cache). */
    s->base[0] = offset & ~(uint64_t)(ALIGN - 1);
    s->filled = (size_t)(offset - s->base[0]);
    *out = s;
    if (s->filled && pread(fd, s->buf[0], s->filled, (off_t)s->base[0]) != (ssize_t)s->filled) {
        s->filled = 0; /* never write back a block we could not read */
        stage_result r;
        stage_finish(s, &r);
        *out = NULL;
        return REG_ERROR;
    }
    return REG_OK;
}

/* Bytes before `synced` are only ever written again with the same bytes, so a failed write
 * cannot spoil them. */
static int fail(stage *s, int err)
{
    if (s->err == REG_OK) {
        s->err = err;
        s->good = s->synced;
    }
    return s->err;
}

/* len bytes at offset through the page cache, in CACHED_PIECE pieces. */
static int write_cached(stage *s, const char *p, size_t len, uint64_t offset)
{
    int err = REG_OK;
    for (size_t done = 0, n; err == REG_OK && done < len; done += n) {
        n = len - done < CACHED_PIECE ? len - done : CACHED_PIECE;
        err = fileio_pwrite_all(s->fd, p + done, n, offset + done);
    }
    return err;
}

/* Write the full slot (O_DIRECT, or plainly where the filesystem refuses it). */
static int write_slot(stage *s)
{
    char *p = s->buf[s->cur];
    uint64_t base = s->base[s->cur];
    if (s->dfd == s->fd) { /* through the page cache: what stage_sync has not written yet */
        size_t from = s->synced > base ? (size_t)(s->synced - base) : 0;
        int err = write_cached(s, p + from, BUF_SIZE - from, base + from);
        uint64_t end = base + BUF_SIZE;
        if (err == REG_OK && end % WRITEBACK_STEP == 0) /* the pages stay cached */
            sync_file_range(s->fd, (off_t)(end - WRITEBACK_STEP), WRITEBACK_STEP,
                            SYNC_FILE_RANGE_WRITE);
        return err;
    }
    ssize_t n = s->direct_off ? -1 : pwrite(s->dfd, p, BUF_SIZE, (off_t)base);
    if (s->direct_off || (n < 0 && errno == EINVAL)) {
        s->direct_off = 1;
        return write_cached(s, p, BUF_SIZE, base);
    }
    if (n != (ssize_t)BUF_SIZE)
        return n < 0 ? fileio_errno_to_reg(errno) : REG_ENOSPACE;
    return REG_OK;
}

/* Write the full slot, queue it for hashing and move on to a free one. */
static int submit(stage *s)
{
    uint64_t next_base = s->base[s->cur] + BUF_SIZE;
    int err = write_slot(s);
    if (err < 0)
        return fail(s, err);
    s->synced = next_base;
    pthread_mutex_lock(&s->lock);
    s->queued++;
    if (!s->started && pthread_create(&s->worker, NULL, worker_main, s) == 0)
        s->started = 1;
    if (s->started)
        pthread_cond_signal(&s->wake);
    else
        hash_head(s); /* no thread to be had: hash it here */
    while (s->queued == NBUF)
        pthread_cond_wait(&s->done, &s->lock);
    s->cur = (s->head + s->queued) % NBUF;
    pthread_mutex_unlock(&s->lock);
    s->filled = 0;
    s->base[s->cur] = next_base;
    if (alloc_slot(s, s->cur) < 0) {
        s->cur = (s->cur + NBUF - 1) % NBUF; /* keep pointing at a real buffer */
        s->filled = BUF_SIZE;
        return fail(s, REG_ERROR);
    }
    return REG_OK;
}

int stage_add(stage *s, const void *data, size_t len)
{
    const char *p = data;
    if (s->err < 0)
        return s->err;
    if (s->parked) {
        pthread_mutex_lock(&s->lock); /* from now on the worker leaves the buffers alone */
        s->parked = 0;
        pthread_mutex_unlock(&s->lock);
    }
    if (!s->buf[s->cur] && alloc_slot(s, s->cur) < 0)
        return fail(s, REG_ERROR);
    while (len > 0) {
        size_t n = BUF_SIZE - s->filled < len ? BUF_SIZE - s->filled : len;
        memcpy(s->buf[s->cur] + s->filled, p, n);
        s->filled += n;
        p += n;
        len -= n;
        int err = s->filled == BUF_SIZE ? submit(s) : REG_OK;
        if (err < 0)
            return err;
    }
    return REG_OK;
}

/* Between requests: the worker trims the buffers if the session stays idle (at once if there
 * is no worker), so an idle session holds little memory. */
static void park(stage *s)
{
    pthread_mutex_lock(&s->lock);
    s->parked = 1;
    s->parks++;
    if (s->started)
        pthread_cond_signal(&s->wake);
    else
        trim(s);
    pthread_mutex_unlock(&s->lock);
}

int stage_sync(stage *s)
{
    uint64_t base = s->base[s->cur], end = base + s->filled;
    size_t from = s->synced > base ? (size_t)(s->synced - base) : 0;
    if (s->err < 0)
        return s->err;
    int err = end > s->synced
                  ? write_cached(s, s->buf[s->cur] + from, s->filled - from, base + from)
                  : REG_OK;
    if (err < 0)
        return fail(s, err);
    s->synced = end > s->synced ? end : s->synced;
    park(s);
    return REG_OK;
}

int stage_finish(stage *s, stage_result *out)
{
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    if (s->started)
        pthread_join(s->worker, NULL);
    int err = stage_sync(s);
    uint64_t length = err < 0 ? s->good : s->base[s->cur] + s->filled;
    if (err == REG_OK)
        hash_slot(s, s->cur, s->filled);
    *out = (stage_result){
        .length = length, .hashed = s->hashing && err == REG_OK, .direct_off = s->direct_off};
    for (size_t i = 0; i < NBUF; i++)
        free_slot(s, i);
    pthread_cond_destroy(&s->done);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
    atomic_fetch_sub(&alive, 1);
    return err;
}
