/* secretbox.c - AES-256-GCM sealing of secrets with OpenSSL EVP (see secretbox.h). */
#include "auth/secretbox.h"
#include "storage/base/random.h"
#include "storage/base/reg_error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define NONCE_LEN 12
#define TAG_LEN   16

static int read_key(unsigned char *key, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? REG_ENOTFOUND : REG_ERROR;
    ssize_t n = read(fd, key, SECRETBOX_KEY_LEN);
    close(fd);
    return n == SECRETBOX_KEY_LEN ? REG_OK : REG_ERROR;
}

static int write_key(const char *path)
{
    unsigned char key[SECRETBOX_KEY_LEN];
    if (random_bytes(key, sizeof(key)) < 0)
        return REG_ERROR;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? REG_OK : REG_ERROR; /* another process made it first */
    int ok = write(fd, key, sizeof(key)) == (ssize_t)sizeof(key) && fsync(fd) == 0;
    close(fd);
    if (!ok)
        unlink(path);
    return ok ? REG_OK : REG_ERROR;
}

int secretbox_key(unsigned char *key_out, const char *data_dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/keys", data_dir);
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return REG_ERROR;
    snprintf(path, sizeof(path), "%s/keys/master.key", data_dir);
    int err = read_key(key_out, path);
    if (err == REG_ENOTFOUND && (err = write_key(path)) == REG_OK)
        err = read_key(key_out, path);
    return err;
}

int secretbox_seal(unsigned char *out, size_t *out_len, const unsigned char *key,
                   const unsigned char *msg, size_t len)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0, ok = 0;
    if (ctx && RAND_bytes(out, NONCE_LEN) == 1 &&
        EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, out) == 1 &&
        EVP_EncryptUpdate(ctx, out + NONCE_LEN, &n, msg, (int)len) == 1 &&
        EVP_EncryptFinal_ex(ctx, out + NONCE_LEN + n, &fin) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + NONCE_LEN + n + fin) == 1) {
        *out_len = (size_t)(NONCE_LEN + n + fin + TAG_LEN);
        ok = 1;
    }
    EVP_CIPHER_CTX_free(ctx);
    return ok ? REG_OK : REG_ERROR;
}

int secretbox_open(unsigned char *out, size_t *out_len, const unsigned char *key,
                   const unsigned char *box, size_t len)
{
    if (len < SECRETBOX_OVERHEAD)
        return REG_EDENIED;
    size_t clen = len - SECRETBOX_OVERHEAD;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0, ok = 0;
    if (ctx && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, box) == 1 &&
        EVP_DecryptUpdate(ctx, out, &n, box + NONCE_LEN, (int)clen) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)(box + NONCE_LEN + clen)) ==
            1 &&
        EVP_DecryptFinal_ex(ctx, out + n, &fin) == 1) {
        *out_len = (size_t)(n + fin);
        ok = 1;
    }
    EVP_CIPHER_CTX_free(ctx);
    return ok ? REG_OK : REG_EDENIED;
}
