/* keys.h - token signing keys: EC P-256 private keys in DATA/keys/ (*.pem, mode 0600). The
 * newest file signs; every key verifies, so tokens signed before a rotation stay valid until
 * they expire. The first key is generated at the first load (see server_keys()). */
#ifndef OCIREG_KEYS_H
#define OCIREG_KEYS_H

#include <openssl/evp.h>

#define KEY_ID_MAX 32

typedef struct keyring keyring;

/* Load every key under data_dir/keys, generating keys/token.pem when there is none. */
int keyring_load(keyring **out, const char *data_dir);
void keyring_free(keyring *kr);

/* Write a new key that becomes the signing key at the next load. Its path goes to path_out. */
int keyring_rotate(const char *data_dir, char *path_out, size_t n);

/* Both answer NULL for a NULL keyring (one that could not be loaded). */
EVP_PKEY *keyring_signer(const keyring *kr, const char **kid_out);
EVP_PKEY *keyring_find(const keyring *kr, const char *kid);

#endif
