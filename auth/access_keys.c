/* access_keys.c - creation and lookup of ECR API access keys (see access_keys.h). */
#include "auth/access_keys.h"
#include "auth/sealed.h"
#include "storage/base/reg_error.h"

#include <openssl/rand.h>
#include <string.h>

/* Uniform random characters from an alphabet (rejection sampling, no modulo bias). */
static int random_text(char *out, size_t n, const char *alphabet)
{
    size_t k = strlen(alphabet);
    unsigned char r;
    for (size_t i = 0; i < n;) {
        if (RAND_bytes(&r, 1) != 1)
            return REG_ERROR;
        if (r < 256 - 256 % k)
            out[i++] = alphabet[r % k];
    }
    out[n] = '\0';
    return REG_OK;
}

int access_key_create(char *id_out, char *secret_out, index_db *ix, const char *data_dir,
                      const char *user)
{
    unsigned char box[SEALED_SIZE(ACCESS_SECRET_LEN)];
    size_t box_len = 0;
    memcpy(id_out, "AKIA", 4);
    int err = random_text(id_out + 4, ACCESS_KEY_ID_LEN - 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    if (err == REG_OK)
        err = random_text(secret_out, ACCESS_SECRET_LEN,
                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    if (err == REG_OK)
        err = sealed_text_seal(box, &box_len, data_dir, secret_out, ACCESS_SECRET_LEN);
    if (err == REG_OK)
        err = index_access_key_put(ix, id_out, user, box, box_len);
    return err;
}

int access_key_lookup(char *user_out, char *secret_out, index_db *ix, const unsigned char *master,
                      const char *id)
{
    unsigned char box[ACCESS_SECRET_BLOB_MAX];
    size_t box_len = 0;
    if (strlen(id) > ACCESS_KEY_ID_MAX)
        return REG_ENOTFOUND;
    int err = index_access_key_get(user_out, box, &box_len, ix, id);
    if (err < 0)
        return err;
    if (sealed_text_open(secret_out, ACCESS_SECRET_LEN + 1, master, box, box_len) < 0 ||
        strlen(secret_out) != ACCESS_SECRET_LEN)
        return REG_ERROR;
    return REG_OK;
}
