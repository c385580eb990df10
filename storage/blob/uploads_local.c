/* uploads_local.c - upload sessions of the local blob backend (see uploads.h, backend.h). The
 * table is a mutex-protected list of sessions; a session is used by at most one request at a
 * time (the busy flag). */
#include "storage/blob/backend.h"
#include "storage/base/digest.h"
#include "storage/base/fileio.h"
#include "storage/base/random.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"
#include "storage/blob/stage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* The first UPLOAD_CACHED_BYTES of a spool are written through the page cache, so that a blob
 * pulled right after its push (CI pushes, a cluster deploys) is read from memory. Its first
 * UPLOAD_PLAIN_BYTES are written and hashed in the request's thread, so a small blob never
 * starts a thread; the rest of the head goes through a stage (stage.h) that writes it through
 * the page cache, starts its writeback as each 8 MiB completes (so the commit's fsync has
 * little left to do) and hashes it on the stage's worker (hashing was two fifths of a large
 * push's CPU). Bytes beyond bypass the page cache (copying into it costs more CPU than
 * hashing): a stage writes them with O_DIRECT. Where O_DIRECT is not supported (tmpfs) those
 * are written plainly and hashed in the request's thread. A stage is synced before a request
 * is answered, so the file holds every accepted byte; it stays for the session's next
 * request, and its hash is waited for when the digest is due. Measurements:
 * docs/ARCHITECTURE.md, Durability. */
#define HASH_INVALID UINT64_MAX
/* Sessions revived after a restart (revive_empty) that have ended, remembered so that their
 * ids are unknown again; an older one would be revived once more, empty. */
#define UPLOAD_REVIVED_ENDED 256
#define UPLOAD_CACHED_BYTES  (64ull << 20)
#define UPLOAD_PLAIN_BYTES   (1ull << 20)

typedef struct local_upload {
    upload base;
    char id[UPLOAD_ID_LEN + 1];
    char *repo;
    char spool[PATH_MAX];
    int fd;           /* read/write, through the page cache; -1 until the first byte */
    int sidecar;      /* a <id>.repo file names the repository (no user attributes) */
    int dfd;          /* O_DIRECT writer, -1 until opened */
    int no_direct;    /* O_DIRECT is not available here */
    int followed;     /* a spool reader follows it: the stage writes through the page cache */
    stage *stage;     /* only while a request appends; it keeps sha256 going */
    int stage_cached; /* that stage writes through the page cache (the head, or followed) */
    uint64_t offset;  /* bytes accepted, staged ones included */
    digester *sha256; /* covers [0, hashed) of the spool (and the staged bytes after it) */
    uint64_t hashed;
    int busy;
    time_t updated;      /* last acquire, release or append */
    unsigned generation; /* bumped when a stalled owner is replaced */
    int refs;            /* requests holding this session (a displaced owner too) */
    int discarded;       /* gone from the table; freed when refs reaches 0 */
    int revived;         /* issued by another process (found by its file or its id) */
    pthread_mutex_t io;  /* serialises appends with a takeover */
    struct local_upload *next;
} local_upload;

typedef struct local_table {
    upload_table base;
    pthread_mutex_t lock;
    char *dir;
    local_upload *head;
    unsigned char key[32]; /* signs session ids (keyed_id), when `keyed` */
    int keyed;
    uint64_t started_ms; /* when the key was set: ids issued before are another process's */
    time_t revive_max_age;
    /* ids of revived sessions that have ended, not to be revived again (the newest only) */
    char ended[UPLOAD_REVIVED_ENDED][UPLOAD_ID_LEN + 1];
    unsigned ended_next;
} local_table;

static const upload_ops local_upload_ops;

int local_uploads_new(upload_table **out, const char *dir)
{
    local_table *t = calloc(1, sizeof(*t));
    if (!t || !(t->dir = strdup(dir))) {
        free(t);
        return REG_ERROR;
    }
    t->base.ops = &local_upload_ops;
    pthread_mutex_init(&t->lock, NULL);
    *out = &t->base;
    return REG_OK;
}

static void upload_free(local_upload *u)
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

static void table_free(upload_table *base)
{
    local_table *t = (local_table *)base;
    for (local_upload *u = t->head, *next; u; u = next) {
        next = u->next;
        upload_free(u);
    }
    pthread_mutex_destroy(&t->lock);
    free(t->dir);
    free(t);
}

static local_upload *upload_alloc(const local_table *t, const char *id, const char *repo)
{
    local_upload *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->base.ops = &local_upload_ops;
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

/* A session's repository is an extended attribute of its spool: a second file per upload
 * (created, then unlinked) was a sixth of the server's CPU for 8 clients pushing small images
 * (ext4 inode allocation skipping recently deleted inodes). Where the filesystem has no user
 * attributes, a <id>.repo sidecar file holds it. */
#define REPO_XATTR "user.ocireg.repo"

static int write_sidecar(const char *path, const char *repo)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return fileio_errno_to_reg(errno);
    int err = fileio_write_all(fd, repo, strlen(repo));
    close(fd);
    if (err < 0)
        unlink(path);
    return err;
}

static void remove_files(const local_table *t, const char *id, int sidecar)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", t->dir, id);
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s.repo", t->dir, id);
    if (sidecar)
        unlink(path);
}

/* A session without bytes has no file, yet a restarted server must still know it: its id
 * says who issued it. Its 16 bytes are the issue time in milliseconds (6), random bits (4,
 * with the UUID version and variant) and the first 6 bytes of SHA-256(key, those 10, the
 * repository), the key derived from the server's master key. A keyed hash, not HMAC: OpenSSL's
 * MAC machinery costs a server 2 MiB of resident memory (measured), the digests are loaded for
 * blobs anyway, and a 48-bit truncation leaves no hash state to extend. */
#define ID_TIME_BYTES   6
#define ID_SIGNED_BYTES 10
#define ID_MAC_BYTES    6

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The first n bytes of SHA-256(a, b, c). */
static int keyed_hash(unsigned char *out, size_t n, const void *a, size_t a_len, const void *b,
                      size_t b_len, const void *c, size_t c_len)
{
    unsigned char msg[32 + ID_SIGNED_BYTES + REPO_NAME_MAX + 1];
    digest d;
    if (a_len + b_len + c_len > sizeof(msg))
        return REG_EINVALID;
    memcpy(msg, a, a_len);
    memcpy(msg + a_len, b, b_len);
    memcpy(msg + a_len + b_len, c, c_len);
    if (digest_buffer(&d, DIGEST_SHA256, msg, a_len + b_len + c_len) < 0)
        return REG_ERROR;
    const char *hex = digest_hex(&d);
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
    return REG_OK;
}

static int id_mac(unsigned char out[ID_MAC_BYTES], const local_table *t,
                  const unsigned char signed_part[ID_SIGNED_BYTES], const char *repo)
{
    return keyed_hash(out, ID_MAC_BYTES, t->key, sizeof(t->key), signed_part, ID_SIGNED_BYTES, repo,
                      strlen(repo));
}

static int keyed_id(char *out, const local_table *t, const char *repo)
{
    unsigned char b[16];
    uint64_t ms = now_ms();
    for (int i = 0; i < ID_TIME_BYTES; i++)
        b[i] = (unsigned char)(ms >> (8 * (ID_TIME_BYTES - 1 - i)));
    if (random_bytes(b + ID_TIME_BYTES, ID_SIGNED_BYTES - ID_TIME_BYTES) < 0)
        return reg_error_set(REG_ERROR, "cannot draw a session id");
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* what random_uuid_text writes */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    int err = id_mac(b + ID_SIGNED_BYTES, t, b, repo);
    if (err == REG_OK)
        random_uuid_text(out, b);
    return err;
}

static int id_bytes(unsigned char b[16], const char *id)
{
    int n = 0;
    for (const char *c = id; *c && n < 32; c++) {
        if (*c == '-')
            continue;
        int v = hex_value(*c);
        if (v < 0)
            return REG_EINVALID;
        b[n / 2] = (unsigned char)(n % 2 ? (b[n / 2] << 4) | v : v);
        n++;
    }
    return n == 32 ? REG_OK : REG_EINVALID;
}

/* A session of `repo` without bytes that another process issued (before this one started,
 * within the expiry): known again, empty. A finished session's id is one too after a
 * restart, which gives only an empty session of a repository the client could push to. */
static local_upload *revive_empty(const local_table *t, const char *id, const char *repo)
{
    unsigned char b[16], mac[ID_MAC_BYTES];
    uint64_t ms = 0;
    if (!t->keyed || id_bytes(b, id) < 0)
        return NULL;
    for (int i = 0; i < ID_TIME_BYTES; i++)
        ms = ms << 8 | b[i];
    if (ms >= t->started_ms || (t->started_ms - ms) / 1000 > (uint64_t)t->revive_max_age ||
        id_mac(mac, t, b, repo) < 0 || CRYPTO_memcmp(mac, b + ID_SIGNED_BYTES, ID_MAC_BYTES) != 0)
        return NULL;
    for (int i = 0; i < UPLOAD_REVIVED_ENDED; i++)
        if (strcmp(t->ended[i], id) == 0)
            return NULL;
    return upload_alloc(t, id, repo);
}

/* A session starts in memory only: its spool is made on its first byte (spool_make), so an
 * upload whose one request carries the whole small blob, which the server publishes from memory
 * (store_commit_bytes), never creates, names or unlinks a file. After a restart a session with
 * bytes is found by its spool, one without by its signed id (revive_empty). */
static int local_create(upload **out, char *id_out, upload_table *base, const char *repo)
{
    local_table *t = (local_table *)base;
    char id[UPLOAD_ID_LEN + 1];
    int err = t->keyed ? keyed_id(id, t, repo) : upload_new_id(id);
    if (err < 0)
        return err;
    local_upload *u = upload_alloc(t, id, repo);
    if (!u)
        return REG_ERROR;
    u->busy = 1;
    u->generation = 1;
    u->refs = 1;
    pthread_mutex_lock(&t->lock);
    u->next = t->head;
    t->head = u;
    pthread_mutex_unlock(&t->lock);
    memcpy(id_out, id, UPLOAD_ID_LEN + 1);
    *out = &u->base;
    return REG_OK;
}

/* The spool's descriptor, -1 while the session has no bytes: status queries and takeovers read
 * it without the io lock, while the owner's first append may be setting it. */
static int spool_fd(const local_upload *u)
{
    return __atomic_load_n(&u->fd, __ATOMIC_ACQUIRE);
}

/* A spool already there when a session without bytes makes its own: a process stopped between
 * creating it and naming its repository (a named one would have been loaded with its session).
 * Empty, it holds nothing of anyone's and is taken over; with bytes it is refused (EEXIST). */
static int adopt_unnamed_spool(const char *path)
{
    struct stat st;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || st.st_size != 0 || st.st_nlink != 1) {
        close(fd);
        errno = EEXIST;
        return -1;
    }
    return fd;
}

/* The session's spool file and its repository attribute (or sidecar), made when the first
 * byte comes (io lock held). */
static int spool_make(local_upload *u)
{
    char sidecar[PATH_MAX + 8];
    int err;
    if (u->fd >= 0)
        return REG_OK;
    int fd = open(u->spool, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST)
        fd = adopt_unnamed_spool(u->spool);
    if (fd < 0)
        return reg_error_set(fileio_errno_to_reg(errno), "cannot create upload spool %s: %s",
                             u->spool, strerror(errno));
    u->sidecar = fsetxattr(fd, REPO_XATTR, u->repo, strlen(u->repo), 0) < 0;
    snprintf(sidecar, sizeof(sidecar), "%s.repo", u->spool);
    if (u->sidecar && (err = write_sidecar(sidecar, u->repo)) < 0) {
        close(fd);
        unlink(u->spool);
        return reg_error_set(err, "cannot name the repository of upload spool %s", u->spool);
    }
    __atomic_store_n(&u->fd, fd, __ATOMIC_RELEASE);
    return REG_OK;
}

/* The repository of a session loaded from disk: the spool's attribute, else its sidecar. */
static int load_repo(char *repo, size_t cap, const local_table *t, const char *id, int spool_fd)
{
    char path[PATH_MAX];
    ssize_t n = fgetxattr(spool_fd, REPO_XATTR, repo, cap - 1);
    if (n <= 0) {
        snprintf(path, sizeof(path), "%s/%s.repo", t->dir, id);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return REG_ENOTFOUND;
        n = read(fd, repo, cap - 1);
        close(fd);
    }
    if (n <= 0)
        return REG_ENOTFOUND;
    repo[n] = '\0';
    return REG_OK;
}

/* A session this process does not know yet (started before a restart): load it from disk. */
static local_upload *upload_load(const local_table *t, const char *id)
{
    char path[PATH_MAX], repo[REPO_NAME_MAX + 2];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", t->dir, id);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    local_upload *u = NULL;
    if (fstat(fd, &st) < 0 || load_repo(repo, sizeof(repo), t, id, fd) < 0 ||
        (u = upload_alloc(t, id, repo)) == NULL) {
        close(fd);
        return NULL;
    }
    u->fd = fd;
    u->sidecar = 1; /* it may have one (written where attributes failed, or by older versions) */
    u->offset = (uint64_t)st.st_size;
    return u;
}

static void unlink_from_table(local_table *t, local_upload *u);

/* The session in memory, or loaded from its files, or an empty one another process issued
 * (table lock held). */
static local_upload *find_session(local_table *t, const char *id, const char *repo)
{
    local_upload *u = t->head;
    while (u && strcmp(u->id, id) != 0)
        u = u->next;
    if (!u && ((u = upload_load(t, id)) != NULL || (u = revive_empty(t, id, repo)) != NULL)) {
        u->revived = 1;
        u->next = t->head;
        t->head = u;
    }
    return u;
}

/* A session another process issued is over (table lock held): its id must not come back. */
static void remember_ended(local_table *t, const local_upload *u)
{
    if (u->revived)
        memcpy(t->ended[t->ended_next++ % UPLOAD_REVIVED_ENDED], u->id, UPLOAD_ID_LEN + 1);
}

/* Over: gc expired the spool (no link left), or it was linked to a blob path by a publish
 * (two links; the publish failed, or the process stopped before discarding the session).
 * Writing to a published spool would change that blob, so such a session takes no more. */
static int spool_gone(const local_upload *u)
{
    struct stat st;
    int fd = spool_fd(u);
    return fd >= 0 && (fstat(fd, &st) < 0 || st.st_nlink != 1);
}

static int local_acquire(upload **out, unsigned *generation, upload_table *base, const char *id,
                         const char *repo)
{
    local_table *t = (local_table *)base;
    int err = REG_ENOTFOUND;
    pthread_mutex_lock(&t->lock);
    local_upload *u = find_session(t, id, repo);
    if (!u || strcmp(u->repo, repo) != 0)
        goto done;
    if (spool_gone(u)) {
        /* gc expired its files: the session is over. */
        if (!u->busy) {
            unlink_from_table(t, u);
            remember_ended(t, u);
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
    *out = &u->base;
    err = REG_OK;
done:
    pthread_mutex_unlock(&t->lock);
    return err;
}

/* Drop one reference (table lock held); true when the caller must free the session. */
static int unref(local_upload *u)
{
    return --u->refs == 0 && u->discarded;
}

static int local_peek(uint64_t *offset_out, upload_table *base, const char *id, const char *repo)
{
    local_table *t = (local_table *)base;
    int err = REG_ENOTFOUND;
    pthread_mutex_lock(&t->lock);
    local_upload *u = find_session(t, id, repo);
    if (u && !strcmp(u->repo, repo) && !spool_gone(u)) {
        pthread_mutex_lock(&u->io);
        *offset_out = u->offset;
        pthread_mutex_unlock(&u->io);
        err = REG_OK;
    }
    pthread_mutex_unlock(&t->lock);
    return err;
}

static int local_flush(upload *base);

static void local_release(upload_table *base, upload *session, unsigned generation)
{
    local_table *t = (local_table *)base;
    local_upload *u = (local_upload *)session;
    if (u->generation == generation)
        local_flush(session); /* normally done already; a failure has rolled the offset back */
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

static void unlink_from_table(local_table *t, local_upload *u)
{
    for (local_upload **pp = &t->head; *pp; pp = &(*pp)->next) {
        if (*pp == u) {
            *pp = u->next;
            return;
        }
    }
}

/* A session ends; when its spool was published (the blob path is a second link to it), the
 * blob file sheds the session's attribute (only now: until the session is over, a restart
 * must find it). */
static void local_discard(upload_table *base, upload *session)
{
    local_table *t = (local_table *)base;
    local_upload *u = (local_upload *)session;
    struct stat st;
    int fd = spool_fd(u);
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_nlink > 1)
        fremovexattr(fd, REPO_XATTR);
    pthread_mutex_lock(&t->lock);
    unlink_from_table(t, u);
    u->discarded = 1;
    remember_ended(t, u);
    if (fd >= 0)
        remove_files(t, u->id, u->sidecar);
    int last = unref(u);
    pthread_mutex_unlock(&t->lock);
    if (last)
        upload_free(u);
}

static uint64_t local_offset(const upload *u)
{
    return ((const local_upload *)u)->offset;
}

static const char *local_id(const upload *u)
{
    return ((const local_upload *)u)->id;
}

/* After a failed write: keep only what is surely in the file, and rehash at the end. */
static int roll_back_to(local_upload *u, uint64_t length, int err)
{
    u->offset = length;
    u->hashed = HASH_INVALID;
    if (ftruncate(u->fd, (off_t)length) < 0)
        return REG_ERROR;
    return err;
}

/* Finish the stage (io lock held): wait for its hash; after a failure the session rolls back
 * to what the file surely holds. */
static int stage_drain(local_upload *u)
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

/* Through the page cache: the head, or everything for a file its readers follow. */
static int cached_here(const local_upload *u)
{
    return u->followed || u->offset < UPLOAD_CACHED_BYTES;
}

/* The stage for the bytes at u->offset: through the page cache or with O_DIRECT; a stage of
 * the head ends where the head does. */
static int stage_begin(local_upload *u)
{
    int cached = cached_here(u), err;
    if (u->stage && u->stage_cached && !cached && (err = stage_drain(u)) < 0)
        return err;
    if (u->stage || (u->no_direct && !cached))
        return REG_OK;
    u->stage_cached = cached;
    if (cached)
        return stage_start(&u->stage, u->fd, u->fd, u->offset, u->sha256, u->hashed == u->offset);
    if (u->dfd < 0 && (u->dfd = open(u->spool, O_WRONLY | O_DIRECT | O_CLOEXEC)) < 0) {
        u->no_direct = 1;
        return REG_OK;
    }
    return stage_start(&u->stage, u->fd, u->dfd, u->offset, u->sha256, u->hashed == u->offset);
}

/* Without a stage: write and hash here. */
static int append_plain(local_upload *u, const void *data, size_t len)
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

/* How much of len, appended at u->offset, is written and hashed in the request's thread. */
static size_t plain_part(const local_upload *u, size_t len)
{
    if (u->stage || u->followed || u->offset >= UPLOAD_PLAIN_BYTES)
        return 0;
    uint64_t room = UPLOAD_PLAIN_BYTES - u->offset;
    return len < room ? len : (size_t)room;
}

/* How much of len, appended at u->offset, one stage takes: up to the end of the head while
 * the head is written. */
static size_t staged_part(const local_upload *u, size_t len)
{
    if (u->followed || u->offset >= UPLOAD_CACHED_BYTES)
        return len;
    uint64_t room = UPLOAD_CACHED_BYTES - u->offset;
    return len < room ? len : (size_t)room;
}

/* Append through the stage for u->offset, or plainly where there is none. */
static int append_staged(local_upload *u, const void *data, size_t len)
{
    int err = stage_begin(u);
    if (err < 0)
        return err;
    if (u->stage && (err = stage_add(u->stage, data, len)) < 0) {
        int drained = stage_drain(u);
        return drained < 0 ? drained : err;
    }
    if (!u->stage && (err = append_plain(u, data, len)) < 0)
        return err;
    u->offset += len;
    return REG_OK;
}

static int local_append(upload *session, unsigned generation, const void *data, size_t len)
{
    local_upload *u = (local_upload *)session;
    int err = REG_OK;
    pthread_mutex_lock(&u->io);
    if (u->generation != generation) {
        err = REG_EBUSY;
        goto done;
    }
    u->updated = time(NULL);
    if (len && (err = spool_make(u)) < 0)
        goto done;
    size_t plain = plain_part(u, len);
    if (plain && (err = append_plain(u, data, plain)) < 0)
        goto done;
    u->offset += plain;
    data = (const char *)data + plain;
    len -= plain;
    while (err == REG_OK && len > 0) {
        size_t n = staged_part(u, len);
        err = append_staged(u, data, n);
        data = (const char *)data + n;
        len -= n;
    }
done:
    pthread_mutex_unlock(&u->io);
    return err;
}

static int local_flush(upload *session)
{
    local_upload *u = (local_upload *)session;
    pthread_mutex_lock(&u->io);
    int err = REG_OK;
    /* The stage stays for the session's next request unless too many are kept. */
    if (u->stage && (stage_sync(u->stage) < 0 || stage_crowded()))
        err = stage_drain(u);
    pthread_mutex_unlock(&u->io);
    return err;
}

/* Every byte in the file and in the digester. */
static int upload_drain(local_upload *u)
{
    pthread_mutex_lock(&u->io);
    int err = stage_drain(u);
    pthread_mutex_unlock(&u->io);
    return err;
}

/* Publishing: the stage finished, the spool becomes the blob (backend_local.c). */
static int publish_prepare(blob_publish *p)
{
    local_upload *u = (local_upload *)p->session;
    int err = upload_drain(u);
    if (err == REG_OK) { /* an empty blob published as a file still needs its spool */
        pthread_mutex_lock(&u->io);
        err = spool_make(u);
        pthread_mutex_unlock(&u->io);
    }
    if (err < 0)
        return err;
    p->fd = u->fd;
    snprintf(p->path, sizeof(p->path), "%s", u->spool);
    return local_publish_prepare(p);
}

/* Bytes for the index (inline.c): the stage finished, the spool read back. */
static int local_read_all(upload *base, void *out, size_t len)
{
    local_upload *u = (local_upload *)base;
    int err = upload_drain(u);
    if (err == REG_OK && len && pread(u->fd, out, len, 0) != (ssize_t)len)
        err =
            reg_error_set(REG_ERROR, "cannot read upload spool %s: %s", u->spool, strerror(errno));
    return err;
}

/* The spool opened again for reading: its own file position, and the same file once published
 * (the publication links the spool, it does not copy it). Its readers want the bytes just
 * written: from now on the stage writes them through the page cache, not around it (O_DIRECT),
 * and its worker still hashes them beside the writer. */
static int local_spool_reader(upload *base)
{
    local_upload *u = (local_upload *)base;
    pthread_mutex_lock(&u->io);
    int err = stage_drain(u);
    if (err == REG_OK)
        err = spool_make(u);
    u->followed = 1;
    pthread_mutex_unlock(&u->io);
    if (err < 0)
        return err;
    int fd = open(u->spool, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return reg_error_set(fileio_errno_to_reg(errno), "cannot open upload spool %s: %s",
                             u->spool, strerror(errno));
    return fd;
}

static const blob_publish_ops local_session_publish = {
    .prepare = publish_prepare,
    .commit = local_publish_commit,
};

static int local_owned(upload *session, unsigned generation)
{
    local_upload *u = (local_upload *)session;
    pthread_mutex_lock(&u->io);
    int owned = u->generation == generation;
    pthread_mutex_unlock(&u->io);
    return owned;
}

static int local_digest(digest *out, upload *session, digest_alg alg)
{
    local_upload *u = (local_upload *)session;
    int err = upload_drain(u);
    if (err < 0)
        return err;
    if (alg == DIGEST_SHA256 && u->hashed == u->offset)
        return digester_peek(out, u->sha256);
    if (u->fd < 0)
        return digest_buffer(out, alg, "", 0);
    return digest_file(out, alg, u->fd, u->offset);
}

static int local_count(upload_table *base)
{
    local_table *t = (local_table *)base;
    int n = 0;
    pthread_mutex_lock(&t->lock);
    for (const local_upload *u = t->head; u; u = u->next)
        n++;
    pthread_mutex_unlock(&t->lock);
    return n;
}

static int is_session_file(const char *name)
{
    char id[UPLOAD_ID_LEN + 1];
    size_t n = strlen(name);
    if (n != UPLOAD_ID_LEN &&
        !(n == UPLOAD_ID_LEN + 5 && strcmp(name + UPLOAD_ID_LEN, ".repo") == 0))
        return 0;
    memcpy(id, name, UPLOAD_ID_LEN);
    id[UPLOAD_ID_LEN] = '\0';
    return upload_is_id(id);
}

static int known_session(const local_table *t, const char *name)
{
    for (const local_upload *u = t->head; u; u = u->next)
        if (strncmp(u->id, name, UPLOAD_ID_LEN) == 0)
            return 1;
    return 0;
}

static int local_expire(upload_table *base, time_t max_idle)
{
    local_table *t = (local_table *)base;
    char path[PATH_MAX];
    struct stat st;
    int removed = 0;
    time_t now = time(NULL);
    pthread_mutex_lock(&t->lock);
    for (local_upload **pp = &t->head; *pp;) {
        local_upload *u = *pp;
        if (!u->busy && u->refs == 0 && now - u->updated > max_idle) {
            *pp = u->next;
            if (u->fd >= 0)
                remove_files(t, u->id, u->sidecar);
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

static int64_t local_sweep(upload_table *base, time_t max_idle, int dry_run)
{
    local_table *t = (local_table *)base;
    char path[PATH_MAX];
    struct stat st;
    int64_t removed = 0;
    time_t now = time(NULL);
    DIR *d = opendir(t->dir);
    if (!d)
        return REG_ERROR;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof(path), "%s/%s", t->dir, e->d_name);
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || now - st.st_mtime <= max_idle)
            continue;
        if (dry_run || unlink(path) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

/* Spool files only (their .repo sidecars are a few bytes of bookkeeping). */
static int local_leftovers(upload_table *base, upload_leftover_cb cb, void *ctx)
{
    local_table *t = (local_table *)base;
    char path[PATH_MAX];
    struct stat st;
    int err = REG_OK;
    DIR *d = opendir(t->dir);
    if (!d)
        return errno == ENOENT ? REG_OK
                               : reg_error_set(REG_ERROR, "%s: %s", t->dir, strerror(errno));
    for (struct dirent *e; err == REG_OK && (e = readdir(d)) != NULL;) {
        if (strlen(e->d_name) != UPLOAD_ID_LEN || !is_session_file(e->d_name))
            continue;
        snprintf(path, sizeof(path), "%s/%s", t->dir, e->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            err = cb(ctx, e->d_name, (uint64_t)st.st_size);
    }
    closedir(d);
    return err;
}

static int local_sign_ids(upload_table *base, const unsigned char master_key[32], time_t max_age)
{
    local_table *t = (local_table *)base;
    static const char label[] = "ocireg upload session ids";
    if (keyed_hash(t->key, sizeof(t->key), master_key, 32, label, sizeof(label) - 1, "", 0) < 0)
        return REG_ERROR;
    t->started_ms = now_ms();
    t->revive_max_age = max_age;
    t->keyed = 1;
    return REG_OK;
}

static const upload_ops local_upload_ops = {
    .sign_ids = local_sign_ids,
    .create = local_create,
    .acquire = local_acquire,
    .peek = local_peek,
    .release = local_release,
    .owned = local_owned,
    .discard = local_discard,
    .offset = local_offset,
    .id = local_id,
    .append = local_append,
    .flush = local_flush,
    .digest = local_digest,
    .read_all = local_read_all,
    .spool_reader = local_spool_reader,
    .publish = &local_session_publish,
    .count = local_count,
    .expire = local_expire,
    .sweep = local_sweep,
    .leftovers = local_leftovers,
    .free = table_free,
};
