/* cache_credentials.c - sealing and opening of upstream passwords (see cache_credentials.h). */
#include "auth/cache_credentials.h"
#include "auth/secretbox.h"
#include "storage/base/reg_error.h"

#include <openssl/crypto.h>
#include <string.h>

int cache_password_seal(cache_rule *rule, const char *data_dir, const char *password)
{
    unsigned char master[SECRETBOX_KEY_LEN];
    size_t len = strlen(password);
    if (len == 0 || len > CACHE_PASSWORD_MAX)
        return reg_error_set(REG_EINVALID, "an upstream password is 1 to %d bytes",
                             CACHE_PASSWORD_MAX);
    int err = secretbox_key(master, data_dir);
    if (err == REG_OK)
        err = secretbox_seal(rule->password, &rule->password_len, master,
                             (const unsigned char *)password, len);
    OPENSSL_cleanse(master, sizeof(master));
    return err < 0 ? reg_error_set(err, "the upstream password cannot be sealed") : REG_OK;
}

int cache_password_open(char *out, const cache_rule *rule, const unsigned char *master)
{
    size_t len = 0;
    out[0] = '\0';
    if (!rule->password_len)
        return REG_OK;
    if (rule->password_len > CACHE_PASSWORD_MAX + SECRETBOX_OVERHEAD ||
        rule->password_len < SECRETBOX_OVERHEAD ||
        secretbox_open((unsigned char *)out, &len, master, rule->password, rule->password_len) < 0)
        return reg_error_set(REG_EDENIED,
                             "the upstream password of rule %s does not open under "
                             "this registry's master key",
                             rule->prefix);
    out[len] = '\0';
    return REG_OK;
}
