/* secretbox.h - encryption at rest of small secrets with AES-256-GCM under a master key in
 * DATA/keys/master.key (32 random bytes, mode 0600, made on first use); texts: auth/sealed.h. */
#ifndef OCIREG_SECRETBOX_H
#define OCIREG_SECRETBOX_H

#include <stddef.h>

#define SECRETBOX_KEY_LEN  32
#define SECRETBOX_OVERHEAD (12 + 16) /* nonce + tag */

/* Load the master key, creating it when absent. */
int secretbox_key(unsigned char *key_out, const char *data_dir);
/* out: nonce || ciphertext || tag; *out_len = len + SECRETBOX_OVERHEAD. */
int secretbox_seal(unsigned char *out, size_t *out_len, const unsigned char *key,
                   const unsigned char *msg, size_t len);
/* REG_EDENIED when the box was tampered with or the key is wrong. */
int secretbox_open(unsigned char *out, size_t *out_len, const unsigned char *key,
                   const unsigned char *box, size_t len);

#endif
