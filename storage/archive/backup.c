/* backup.c - whole-registry backup and restore (see backup.h). Archive order: the marker,
 * keys/, blobs/<alg>/<hex>, and meta.db last, so the index is written after the blobs it
 * lists (and can still be corrected for blobs that vanished meanwhile). */
#include "storage/archive/backup.h"
#include "storage/index/index_export.h"
#include "storage/index/index_gc.h"
#include "storage/index/index_inline.h"
#include "storage/archive/ocilayout.h"
#include "storage/base/fileio.h"
#include "storage/base/random.h"
#include "storage/base/reg_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FORMAT_VERSION 1
#define PAGE           256
#define MARKER_MAX     4096
/* A blob the snapshot lists may be gone since: gc deletes its row, then its file. Look again
 * once after a moment (for the first few missing blobs only, in case many are gone), then ask
 * the live index whether it still lists the blob. */
#define VANISH_RETRY_US 200000
#define VANISH_RETRIES  8
/* Restored keys/ gets these modes whatever the archive says; a key file is a few hundred
 * bytes (PEM or a raw AES key), so one over KEY_FILE_MAX is no key. */
#define KEYS_DIR_MODE 0700
#define KEY_FILE_MODE 0600
#define KEY_FILE_MAX  (1u << 20)

/* keys/ and its files (no dot files: those are a key being written). */
static int valid_key_name(const char *name)
{
    if (!name[0] || name[0] == '.' || strlen(name) > 200)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

/* ---- backup ---- */

typedef struct backup_ctx {
    store *s;
    index_db *live, *snap;
    archive_out *a;
    backup_report *rep;
    char **vanished;
    size_t nvanished, cap;
    char after[DIGEST_MAX];
} backup_ctx;

static int add_marker(backup_ctx *c)
{
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *j = json_pack("{s:i, s:s, s:s}", "format", FORMAT_VERSION, "created_at", when, "ocireg",
                          OCIREG_VERSION);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    int err = text ? archive_add_buffer(c->a, BACKUP_MARKER, text, strlen(text), 0644) : REG_ERROR;
    free(text);
    json_decref(j);
    return err;
}

static int add_key_file(backup_ctx *c, const char *dir, const char *name)
{
    char path[PATH_MAX + 256], entry[300];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return REG_OK; /* not a regular file: not a key */
    }
    snprintf(entry, sizeof(entry), "keys/%s", name);
    int err = archive_add_fd(c->a, entry, fd, (uint64_t)st.st_size, st.st_mode & 07777, NULL);
    close(fd);
    if (err == REG_OK)
        c->rep->keys++;
    return err;
}

static int add_keys(backup_ctx *c)
{
    char dir[PATH_MAX];
    struct stat st;
    snprintf(dir, sizeof(dir), "%s/keys", c->s->data_dir);
    if (stat(dir, &st) < 0)
        return errno == ENOENT
                   ? REG_OK
                   : reg_error_set(REG_ERROR, "cannot read %s: %s", dir, strerror(errno));
    int err = archive_add_dir(c->a, "keys/", st.st_mode & 07777);
    DIR *d = err == REG_OK ? opendir(dir) : NULL;
    if (err == REG_OK && !d)
        err = reg_error_set(REG_ERROR, "cannot read %s: %s", dir, strerror(errno));
    for (struct dirent *e; err == REG_OK && (e = readdir(d)) != NULL;)
        if (valid_key_name(e->d_name))
            err = add_key_file(c, dir, e->d_name);
    if (d)
        closedir(d);
    return err;
}

static int note_vanished(backup_ctx *c, const digest *d)
{
    int known = 0;
    if (index_gc_blob_known(&known, c->live, d->str) == REG_OK && known)
        snprintf(c->rep->warning, sizeof(c->rep->warning),
                 "blob %s is missing from the data folder although the index lists it (run "
                 "ocireg fsck); the backup leaves it out",
                 d->str);
    if (c->nvanished == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        char **grown = realloc(c->vanished, cap * sizeof(*grown));
        if (!grown)
            return REG_ERROR;
        c->vanished = grown;
        c->cap = cap;
    }
    if (!(c->vanished[c->nvanished] = strdup(d->str)))
        return REG_ERROR;
    c->nvanished++;
    c->rep->vanished++;
    return REG_OK;
}

static int copy_blob(void *ctx, const char *digest_text, uint64_t size)
{
    backup_ctx *c = ctx;
    char name[DIGEST_MAX + 8];
    digest d;
    int fd = -1;
    uint64_t file_size = 0;
    snprintf(c->after, sizeof(c->after), "%s", digest_text);
    if (digest_parse(&d, digest_text) < 0)
        return reg_error_set(REG_EINVALID, "the index lists an invalid digest \"%s\"", digest_text);
    if (index_inline_size(&file_size, c->snap, digest_text) == REG_OK)
        return REG_OK; /* held in the index: the snapshot carries it */
    int err = blobstore_open_blob(&fd, &file_size, c->s->blobs, NULL, &d);
    if (err == REG_ENOTFOUND && c->nvanished < VANISH_RETRIES) {
        usleep(VANISH_RETRY_US);
        err = blobstore_open_blob(&fd, &file_size, c->s->blobs, NULL, &d);
    }
    if (err == REG_ENOTFOUND)
        return note_vanished(c, &d);
    if (err < 0)
        return reg_error_set(err, "cannot open blob %s: %s", d.str, strerror(errno));
    layout_blob_name(name, sizeof(name), &d);
    if (file_size != size)
        err = reg_error_set(REG_EINVALID,
                            "blob %s is %llu bytes on disk, the index says %llu "
                            "(run ocireg fsck)",
                            d.str, (unsigned long long)file_size, (unsigned long long)size);
    else
        err = archive_add_fd(c->a, name, fd, size, 0444, &d);
    close(fd);
    if (err == REG_OK) {
        c->rep->blobs++;
        c->rep->bytes += size;
    }
    return err;
}

static int add_blobs(backup_ctx *c)
{
    int64_t total = 0, count;
    int err = index_storage_bytes(&total, c->snap);
    archive_set_total(c->a, (uint64_t)total);
    do {
        err = index_blobs_page(&count, c->snap, c->after, PAGE, copy_blob, c);
    } while (err == REG_OK && count == PAGE);
    if (err == REG_OK && c->nvanished) {
        err = index_snapshot_drop_blobs(&c->rep->manifests_dropped, c->snap,
                                        (const char *const *)c->vanished, c->nvanished);
        if (!c->rep->warning[0])
            snprintf(c->rep->warning, sizeof(c->rep->warning),
                     "%lld blobs were deleted (by gc) after the snapshot; the backup leaves "
                     "them out with the %lld manifests that needed them",
                     (long long)c->rep->vanished, (long long)c->rep->manifests_dropped);
    }
    return err;
}

/* The snapshot, sealed into one file and closed, as the last entry. */
static int add_index(backup_ctx *c, const char *snap_path)
{
    struct stat st;
    int err = index_snapshot_seal(c->snap);
    index_close(c->snap);
    c->snap = NULL;
    if (err < 0)
        return reg_error_set(err, "cannot finish the index snapshot");
    int fd = open(snap_path, O_RDONLY | O_CLOEXEC);
    err = fd < 0 || fstat(fd, &st) < 0
              ? reg_error_set(REG_ERROR, "cannot read %s: %s", snap_path, strerror(errno))
              : REG_OK;
    if (err == REG_OK)
        err = archive_add_fd(c->a, BACKUP_DB, fd, (uint64_t)st.st_size, 0644, NULL);
    if (fd >= 0)
        close(fd);
    return err;
}

static void remove_snapshot(const char *path)
{
    char side[PATH_MAX + 8];
    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

static int snapshot(backup_ctx *c, char *path, size_t n)
{
    char rnd[13];
    if (random_hex(rnd, 6) < 0)
        return REG_ERROR;
    snprintf(path, n, "%s/.backup-%s.db", blobstore_uploads_dir(c->s->blobs), rnd);
    int err = index_snapshot(c->live, path);
    if (err < 0)
        return reg_error_set(err, "cannot snapshot the index: %s", index_errmsg(c->live));
    if (index_open(&c->snap, path) < 0)
        return reg_error_set(REG_ERROR, "cannot open the index snapshot %s", path);
    return REG_OK;
}

int backup_write(backup_report *out, store *s, index_db *ix, const char *path,
                 const archive_options *opt)
{
    backup_ctx c = {.s = s, .live = ix, .rep = out};
    char snap_path[PATH_MAX];
    memset(out, 0, sizeof(*out));
    reg_error_clear();
    snap_path[0] = '\0';
    int err = snapshot(&c, snap_path, sizeof(snap_path));
    if (err == REG_OK)
        err = archive_create(&c.a, path, opt);
    if (err == REG_OK && (err = add_marker(&c)) == REG_OK)
        err = add_keys(&c);
    if (err == REG_OK)
        err = add_blobs(&c);
    if (err == REG_OK)
        err = add_index(&c, snap_path);
    if (err == REG_OK)
        err = archive_commit(c.a);
    if (err == REG_OK)
        out->compressed = archive_bytes_written(c.a);
    if (err < 0 && !reg_error_last(NULL))
        reg_error_set(err, "backup failed: %s", c.snap ? index_errmsg(c.snap) : "I/O error");
    archive_out_free(c.a);
    index_close(c.snap);
    if (snap_path[0])
        remove_snapshot(snap_path);
    for (size_t i = 0; i < c.nvanished; i++)
        free(c.vanished[i]);
    free(c.vanished);
    return err;
}

/* ---- restore ---- */

typedef struct restore_ctx {
    const char *data_dir;
    blobstore *bs;
    archive_in *in;
    backup_report *rep;
    int seen_marker, seen_db;
    char db_tmp[PATH_MAX];
} restore_ctx;

/* The target must be a new or empty folder; *created_out says whether we made it. */
static int prepare_target(const char *dir, int *created_out)
{
    *created_out = 0;
    if (mkdir(dir, 0755) == 0) {
        *created_out = 1;
        return REG_OK;
    }
    if (errno != EEXIST)
        return reg_error_set(REG_ERROR, "cannot create %s: %s", dir, strerror(errno));
    DIR *d = opendir(dir);
    if (!d)
        return reg_error_set(REG_ERROR, "%s is not a folder I can read: %s", dir, strerror(errno));
    int err = REG_OK;
    for (struct dirent *e; err == REG_OK && (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            err = reg_error_set(REG_ECONFLICT,
                                "%s is not empty: restore needs a new or empty folder", dir);
    closedir(d);
    return err;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return ftw->level == 0 ? 0 : remove(path);
}

/* Empty the target again after a failed restore (it was empty when we began). */
static void empty_target(const char *dir, int created)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (created)
        rmdir(dir);
}

static int restore_marker(restore_ctx *c)
{
    char *text = NULL;
    size_t len;
    int err = archive_read_all(&text, &len, c->in, MARKER_MAX);
    json_t *j = err == REG_OK ? json_loads(text, 0, NULL) : NULL;
    json_int_t format = json_integer_value(json_object_get(j, "format"));
    if (err == REG_OK && format != FORMAT_VERSION)
        err = reg_error_set(REG_EINVALID, "backup format %lld is not the supported %d",
                            (long long)format, FORMAT_VERSION);
    else if (err == REG_ETOOLARGE)
        reg_error_set(err, "%s is larger than the %d bytes accepted", BACKUP_MARKER, MARKER_MAX);
    c->seen_marker = err == REG_OK;
    json_decref(j);
    free(text);
    return err;
}

static int restore_blob(restore_ctx *c, const digest *d, uint64_t size)
{
    char spool[PATH_MAX];
    int err =
        archive_spool(spool, sizeof(spool), c->in, blobstore_uploads_dir(c->bs), ".restore-", d);
    if (err < 0)
        return err;
    blob_publish *p = NULL;
    if ((err = blobstore_publish_file(&p, c->bs, d, spool)) == REG_OK &&
        (err = blob_publish_prepare(p)) == REG_OK)
        err = blob_publish_commit(p, NULL);
    blob_publish_free(p);
    if (err < 0) {
        unlink(spool);
        return reg_error_set(err, "cannot store blob %s: %s", d->str, strerror(errno));
    }
    c->rep->blobs++;
    c->rep->bytes += size;
    return REG_OK;
}

static int restore_key(restore_ctx *c, const tar_entry *e, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/keys", c->data_dir);
    /* The modes are ours, whatever the archive says: keys are secrets of this user alone. */
    if ((mkdir(path, KEYS_DIR_MODE) < 0 && errno != EEXIST) || chmod(path, KEYS_DIR_MODE) < 0)
        return reg_error_set(REG_ERROR, "cannot create %s: %s", path, strerror(errno));
    if (e->type == TAR_DIR && !name[0])
        return REG_OK;
    if (e->type != TAR_FILE || !valid_key_name(name))
        return reg_error_set(REG_EINVALID, "unexpected entry \"keys/%.100s\" in the backup", name);
    snprintf(path, sizeof(path), "%s/keys/%s", c->data_dir, name);
    int err = archive_extract(c->in, path, KEY_FILE_MODE, KEY_FILE_MAX);
    if (err < 0)
        return err;
    snprintf(path, sizeof(path), "%s/keys", c->data_dir);
    if (fileio_fsync_dir(path) < 0)
        return reg_error_set(REG_ERROR, "cannot fsync %s: %s", path, strerror(errno));
    c->rep->keys++;
    return REG_OK;
}

static int restore_db(restore_ctx *c)
{
    if (c->seen_db)
        return reg_error_set(REG_EINVALID, "the backup holds %s twice", BACKUP_DB);
    snprintf(c->db_tmp, sizeof(c->db_tmp), "%s/%s.restoring", c->data_dir, BACKUP_DB);
    int err = archive_extract(c->in, c->db_tmp, 0644, 0);
    if (err < 0)
        return err;
    c->seen_db = 1;
    return REG_OK;
}

static int restore_entry(restore_ctx *c, const tar_entry *e)
{
    char norm[TAR_NAME_MAX];
    digest d;
    layout_kind kind = layout_classify(&d, norm, sizeof(norm), e->name);
    if (!c->seen_marker)
        return strcmp(norm, BACKUP_MARKER) == 0 && e->type == TAR_FILE
                   ? restore_marker(c)
                   : reg_error_set(REG_EINVALID, "not an ocireg backup (an image archive is "
                                                 "loaded with `ocireg import`)");
    if (e->type != TAR_FILE && e->type != TAR_DIR)
        return reg_error_set(REG_EINVALID, "entry \"%.100s\" is a link or special file", norm);
    if (kind == LAYOUT_DIR && e->type == TAR_DIR)
        return REG_OK;
    if (kind == LAYOUT_BLOB && e->type == TAR_FILE)
        return restore_blob(c, &d, e->size);
    if (!strcmp(norm, "keys") || !strncmp(norm, "keys/", 5))
        return restore_key(c, e, norm[4] ? norm + 5 : "");
    if (!strcmp(norm, BACKUP_DB) && e->type == TAR_FILE)
        return restore_db(c);
    return reg_error_set(REG_EINVALID, "unexpected entry \"%.100s\" in the backup", norm);
}

typedef struct check_ctx {
    restore_ctx *c;
    index_db *ix;
    char after[DIGEST_MAX];
} check_ctx;

/* A blob the restored index holds came inside it, not through a verified spool. */
static int held_and_damaged(check_ctx *k, const digest *d, int fd, uint64_t size)
{
    uint64_t held = 0;
    digest actual;
    if (index_inline_size(&held, k->ix, d->str) != REG_OK)
        return 0;
    return digest_file(&actual, d->alg, fd, size) < 0 || strcmp(actual.str, d->str) != 0;
}

static int check_blob(void *ctx, const char *digest_text, uint64_t size)
{
    check_ctx *k = ctx;
    digest d;
    int fd = -1;
    uint64_t file_size = 0;
    snprintf(k->after, sizeof(k->after), "%s", digest_text);
    if (digest_parse(&d, digest_text) < 0 ||
        blobstore_open_blob(&fd, &file_size, k->c->bs, k->ix, &d) < 0 || file_size != size ||
        held_and_damaged(k, &d, fd, size)) {
        if (fd >= 0)
            close(fd);
        return reg_error_set(REG_EINVALID,
                             "the backup is incomplete: its index lists blob "
                             "%s, which it does not hold",
                             digest_text);
    }
    close(fd);
    return REG_OK;
}

/* Every blob the restored index lists must be in place before the index becomes meta.db. */
static int finish_db(restore_ctx *c)
{
    char final[PATH_MAX];
    index_db *ix = NULL;
    check_ctx k = {.c = c};
    int64_t count = 0;
    int err = index_open(&ix, c->db_tmp) < 0
                  ? reg_error_set(REG_EINVALID, "the backup's index cannot be opened")
                  : REG_OK;
    k.ix = ix;
    while (err == REG_OK &&
           (err = index_blobs_page(&count, ix, k.after, PAGE, check_blob, &k)) == REG_OK &&
           count == PAGE)
        ;
    index_close(ix);
    snprintf(final, sizeof(final), "%s/%s", c->data_dir, BACKUP_DB);
    if (err == REG_OK && rename(c->db_tmp, final) < 0)
        err = reg_error_set(REG_ERROR, "cannot rename %s: %s", c->db_tmp, strerror(errno));
    if (err == REG_OK && fileio_fsync_dir(c->data_dir) < 0)
        err = reg_error_set(REG_ERROR, "cannot fsync %s: %s", c->data_dir, strerror(errno));
    return err;
}

static int restore_all(restore_ctx *c)
{
    tar_entry e;
    int err;
    while ((err = archive_next(&e, c->in)) == REG_OK)
        if ((err = restore_entry(c, &e)) < 0)
            return err;
    if (err != REG_ENOTFOUND)
        return err;
    if (!c->seen_marker || !c->seen_db)
        return reg_error_set(REG_EINVALID, "the backup is incomplete: it has no %s",
                             c->seen_marker ? BACKUP_DB : BACKUP_MARKER);
    return finish_db(c);
}

int backup_restore(backup_report *out, const char *path, const char *data_dir,
                   const archive_options *opt)
{
    restore_ctx c = {.data_dir = data_dir, .rep = out};
    int created = 0;
    memset(out, 0, sizeof(*out));
    reg_error_clear();
    int err = prepare_target(data_dir, &created);
    if (err < 0)
        return err;
    if ((err = archive_open(&c.in, path, opt)) == REG_OK &&
        (err = blobstore_open(&c.bs, data_dir)) < 0)
        reg_error_set(err, "cannot create the folders of %s", data_dir);
    if (err == REG_OK)
        err = restore_all(&c);
    archive_close(c.in);
    blobstore_close(c.bs);
    if (err < 0)
        empty_target(data_dir, created);
    return err;
}
