/* keyshare.c - key files through the index (see keyshare.h): down (index -> files), make
 * what is missing, up (files -> index, first offer wins), down again (a concurrent first
 * start may have won). Files are replaced atomically (temp file, fsync, rename). */
#include "auth/keyshare.h"
#include "auth/keys.h"
#include "auth/secretbox.h"
#include "storage/base/fileio.h"
#include "storage/index/index_keys.h"
#include "storage/base/reg_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_MAX (64 * 1024)

/* Only plain names of key files travel: token keys and the sealing key. */
static int shareable(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || name[0] == '.')
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return !strcmp(name, "master.key") || (n > 4 && !strcmp(name + n - 4, ".pem"));
}

/* The file's bytes into buf (KEY_FILE_MAX); the length, or -1. */
static ssize_t read_file(const char *path, char *buf)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, KEY_FILE_MAX);
    char extra;
    if (n >= 0 && read(fd, &extra, 1) != 0)
        n = -1; /* too big to be a key */
    close(fd);
    return n;
}

typedef struct down_ctx {
    const char *dir;
    char *buf;
    int changed;
} down_ctx;

static int write_one(void *ctx, const char *name, const void *content, size_t len)
{
    down_ctx *d = ctx;
    char path[PATH_MAX + 80], tmp[PATH_MAX + 80];
    if (!shareable(name) || len > KEY_FILE_MAX)
        return REG_OK; /* not ours to write */
    snprintf(path, sizeof(path), "%s/%s", d->dir, name);
    ssize_t have = read_file(path, d->buf);
    if (have == (ssize_t)len && memcmp(d->buf, content, len) == 0)
        return REG_OK;
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", d->dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return REG_ERROR;
    int err = fileio_write_all(fd, content, len);
    if (err == REG_OK && fsync(fd) < 0)
        err = REG_ERROR;
    close(fd);
    if (err == REG_OK && rename(tmp, path) < 0)
        err = REG_ERROR;
    if (err < 0)
        unlink(tmp);
    d->changed = 1;
    return err;
}

static int down(index_db *ix, down_ctx *d)
{
    int err = index_keys_each(ix, write_one, d);
    return err == REG_OK ? fileio_fsync_dir(d->dir) : err;
}

static int up(index_db *ix, const char *dir, char *buf)
{
    char path[PATH_MAX + NAME_MAX + 2];
    int err = REG_OK;
    DIR *dh = opendir(dir);
    if (!dh)
        return REG_ERROR;
    for (struct dirent *e; err == REG_OK && (e = readdir(dh)) != NULL;) {
        if (!shareable(e->d_name))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ssize_t n = read_file(path, buf);
        if (n > 0)
            err = index_key_offer(ix, e->d_name, buf, (size_t)n);
    }
    closedir(dh);
    return err;
}

/* Make the token key and the sealing key if this folder has none. */
static int make_missing(const char *data_dir)
{
    keyring *kr = NULL;
    unsigned char key[SECRETBOX_KEY_LEN];
    int err = keyring_load(&kr, data_dir);
    keyring_free(kr);
    if (err == REG_OK)
        err = secretbox_key(key, data_dir);
    memset(key, 0, sizeof(key));
    return err;
}

int keys_share(index_db *ix, const char *data_dir)
{
    char dir[PATH_MAX];
    down_ctx d = {.dir = dir, .buf = malloc(KEY_FILE_MAX)};
    int rc = d.buf ? REG_OK : reg_error_set(REG_ERROR, "out of memory");
    snprintf(dir, sizeof(dir), "%s/keys", data_dir);
    if (rc == REG_OK && mkdir(dir, 0700) < 0 && errno != EEXIST)
        rc = reg_error_set(REG_ERROR, "cannot create %s: %s", dir, strerror(errno));
    if (rc == REG_OK && (rc = down(ix, &d)) < 0)
        reg_error_set(rc, "cannot write the shared keys into %s: %s", dir, index_errmsg(ix));
    if (rc == REG_OK && (rc = make_missing(data_dir)) < 0)
        reg_error_set(rc, "cannot make keys in %s", dir);
    if (rc == REG_OK && (rc = up(ix, dir, d.buf)) < 0)
        reg_error_set(rc, "cannot offer the keys of %s to the index: %s", dir, index_errmsg(ix));
    if (rc == REG_OK && (rc = down(ix, &d)) < 0)
        reg_error_set(rc, "cannot write the shared keys into %s: %s", dir, index_errmsg(ix));
    free(d.buf);
    return rc;
}
