/* sealed.c - text credentials sealed at rest and opened with bounds checked (see sealed.h). */
#include "auth/sealed.h"
#include "storage/base/reg_error.h"

#include <openssl/crypto.h>
#include <string.h>

int sealed_text_seal(unsigned char *box, size_t *box_len, const char *data_dir, const char *text,
                     size_t max)
{
    unsigned char master[SECRETBOX_KEY_LEN];
    size_t len = strlen(text);
    *box_len = 0;
    if (len > max)
        return reg_error_set(REG_EINVALID, "a secret is at most %zu bytes", max);
    int err = secretbox_key(master, data_dir);
    if (err == REG_OK)
        err = secretbox_seal(box, box_len, master, (const unsigned char *)text, len);
    OPENSSL_cleanse(master, sizeof(master));
    if (err < 0)
        return reg_error_set(REG_ERROR, "cannot seal a secret under %s/keys/master.key", data_dir);
    return REG_OK;
}

int sealed_text_open(char *out, size_t cap, const unsigned char *master, const unsigned char *box,
                     size_t box_len)
{
    size_t len = 0;
    if (cap)
        out[0] = '\0';
    if (!box || box_len < SECRETBOX_OVERHEAD)
        return reg_error_set(REG_EDENIED, "a sealed secret is truncated");
    if (box_len - SECRETBOX_OVERHEAD >= cap)
        return reg_error_set(REG_EDENIED, "a sealed secret is longer than %zu bytes",
                             cap ? cap - 1 : 0);
    if (secretbox_open((unsigned char *)out, &len, master, box, box_len) < 0 ||
        memchr(out, '\0', len)) {
        OPENSSL_cleanse(out, cap);
        out[0] = '\0';
        return reg_error_set(REG_EDENIED, "a sealed secret does not open under this registry's "
                                          "master key");
    }
    out[len] = '\0';
    return REG_OK;
}
