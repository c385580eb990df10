/* password.c - PBKDF2-HMAC-SHA256 via OpenSSL (see password.h). */
#include "auth/password.h"
#include "storage/base/random.h"
#include "storage/base/reg_error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

static int derive(unsigned char *out, const char *password, const unsigned char *salt,
                  int iterations)
{
    size_t len = strlen(password);
    if (len > PASSWORD_MAX)
        return REG_EINVALID;
    return PKCS5_PBKDF2_HMAC(password, (int)len, salt, PASSWORD_SALT_LEN, iterations, EVP_sha256(),
                             PASSWORD_HASH_LEN, out) == 1
               ? REG_OK
               : REG_ERROR;
}

int password_hash(user_record *u, const char *password)
{
    if (RAND_bytes(u->salt, PASSWORD_SALT_LEN) != 1)
        return REG_ERROR;
    u->iterations = PASSWORD_ITERATIONS;
    /* 62 random bits, never 0 (the generation of users made before generations existed) */
    uint64_t gen = 0;
    if (random_bytes(&gen, sizeof(gen)) < 0)
        return REG_ERROR;
    u->generation = (int64_t)((gen >> 2) | 1);
    return derive(u->hash, password, u->salt, u->iterations);
}

int password_verify(const user_record *u, const char *password)
{
    unsigned char got[PASSWORD_HASH_LEN];
    if (u->iterations < 1 || derive(got, password, u->salt, u->iterations) < 0)
        return REG_EDENIED;
    return CRYPTO_memcmp(got, u->hash, PASSWORD_HASH_LEN) == 0 ? REG_OK : REG_EDENIED;
}

int password_verify_nobody(const char *password)
{
    static const user_record nobody = {.iterations = PASSWORD_ITERATIONS};
    password_verify(&nobody, password);
    return REG_EDENIED;
}
