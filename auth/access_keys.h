/* access_keys.h - AWS-style access keys for the ECR API: an id (AKIA + 16 characters) and a
 * 40-character secret, shown once at creation and kept encrypted (secretbox) in the index. */
#ifndef OCIREG_ACCESS_KEYS_H
#define OCIREG_ACCESS_KEYS_H

#include "storage/index/index_auth.h"

#define ACCESS_KEY_ID_LEN 20
#define ACCESS_SECRET_LEN 40

/* Create a key for `user`; id_out gets ACCESS_KEY_ID_LEN + 1 bytes, secret_out
 * ACCESS_SECRET_LEN + 1. */
int access_key_create(char *id_out, char *secret_out, index_db *ix, const char *data_dir,
                      const char *user);

/* The user and plaintext secret of a key id; REG_ENOTFOUND if unknown. */
int access_key_lookup(char *user_out, char *secret_out, index_db *ix, const unsigned char *master,
                      const char *id);

#endif
