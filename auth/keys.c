/* keys.c - loading, generating and rotating ES256 signing keys (see keys.h). */
#include "auth/keys.h"
#include "auth/base64url.h"
#include "storage/base/reg_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_KEYS 16

typedef struct key_entry {
    EVP_PKEY *pkey;
    char kid[KEY_ID_MAX];
    time_t mtime;
    char file[NAME_MAX + 1];
} key_entry;

struct keyring {
    key_entry keys[MAX_KEYS];
    int count;
    int signer;
};

/* kid: base64url of the first 16 bytes of SHA-256 over the DER public key. */
static int compute_kid(char *out, EVP_PKEY *pkey)
{
    unsigned char *der = NULL, md[32];
    unsigned mdlen = 0;
    int len = i2d_PUBKEY(pkey, &der);
    if (len <= 0)
        return REG_ERROR;
    int ok = EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) == 1;
    OPENSSL_free(der);
    char *b = ok ? base64url_encode(md, 16) : NULL;
    if (!b)
        return REG_ERROR;
    snprintf(out, KEY_ID_MAX, "%s", b);
    free(b);
    return REG_OK;
}

static int write_new_key(const char *path)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    int err = REG_ERROR;
    if (!pkey)
        return REG_ERROR;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f && PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) == 1 && fflush(f) == 0 &&
        fsync(fd) == 0)
        err = REG_OK;
    if (f)
        fclose(f);
    else if (fd >= 0)
        close(fd);
    if (err < 0)
        unlink(path);
    EVP_PKEY_free(pkey);
    return err;
}

static int keys_dir(char *out, size_t n, const char *data_dir)
{
    snprintf(out, n, "%s/keys", data_dir);
    if (mkdir(out, 0700) < 0 && errno != EEXIST)
        return REG_ERROR;
    return REG_OK;
}

int keyring_rotate(const char *data_dir, char *path_out, size_t n)
{
    char dir[PATH_MAX - 64];
    if (keys_dir(dir, sizeof(dir), data_dir) < 0)
        return REG_ERROR;
    snprintf(path_out, n, "%s/token-%lld.pem", dir, (long long)time(NULL));
    return write_new_key(path_out);
}

static int load_one(key_entry *e, const char *dir, const char *file)
{
    char path[PATH_MAX + NAME_MAX + 2];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return REG_ERROR;
    e->pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    int ok = e->pkey && fstat(fileno(f), &st) == 0 && EVP_PKEY_is_a(e->pkey, "EC");
    fclose(f);
    if (!ok || compute_kid(e->kid, e->pkey) < 0) {
        EVP_PKEY_free(e->pkey);
        e->pkey = NULL;
        return REG_ERROR;
    }
    e->mtime = st.st_mtime;
    snprintf(e->file, sizeof(e->file), "%s", file);
    return REG_OK;
}

static int is_pem(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".pem") == 0;
}

/* Newest by modification time, then by name (token-<time>.pem after token.pem). */
static int newer(const key_entry *a, const key_entry *b)
{
    if (a->mtime != b->mtime)
        return a->mtime > b->mtime;
    return strcmp(a->file, b->file) < 0;
}

int keyring_load(keyring **out, const char *data_dir)
{
    char dir[PATH_MAX - 64], path[PATH_MAX];
    keyring *kr = calloc(1, sizeof(*kr));
    if (!kr || keys_dir(dir, sizeof(dir), data_dir) < 0)
        goto fail;
    for (int attempt = 0; attempt < 2 && kr->count == 0; attempt++) {
        DIR *d = opendir(dir);
        if (!d)
            goto fail;
        for (struct dirent *e; (e = readdir(d)) && kr->count < MAX_KEYS;)
            if (is_pem(e->d_name) && load_one(&kr->keys[kr->count], dir, e->d_name) == REG_OK)
                kr->count++;
        closedir(d);
        snprintf(path, sizeof(path), "%s/token.pem", dir);
        if (kr->count == 0 && write_new_key(path) < 0)
            goto fail;
    }
    if (kr->count == 0)
        goto fail;
    for (int i = 1; i < kr->count; i++)
        if (newer(&kr->keys[i], &kr->keys[kr->signer]))
            kr->signer = i;
    *out = kr;
    return REG_OK;
fail:
    keyring_free(kr);
    return REG_ERROR;
}

void keyring_free(keyring *kr)
{
    if (!kr)
        return;
    for (int i = 0; i < kr->count; i++)
        EVP_PKEY_free(kr->keys[i].pkey);
    free(kr);
}

EVP_PKEY *keyring_signer(const keyring *kr, const char **kid_out)
{
    if (!kr)
        return NULL;
    *kid_out = kr->keys[kr->signer].kid;
    return kr->keys[kr->signer].pkey;
}

EVP_PKEY *keyring_find(const keyring *kr, const char *kid)
{
    for (int i = 0; kr && i < kr->count; i++)
        if (strcmp(kr->keys[i].kid, kid) == 0)
            return kr->keys[i].pkey;
    return NULL;
}
