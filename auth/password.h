/* password.h - password hashing with PBKDF2-HMAC-SHA256 and a per-user random salt, and
 * constant-time verification. */
#ifndef OCIREG_PASSWORD_H
#define OCIREG_PASSWORD_H

#include "storage/index/index_auth.h"

#define PASSWORD_ITERATIONS 100000
#define PASSWORD_MAX 1024

/* Fill salt, hash and iterations of `u` for `password`. */
int password_hash(user_record *u, const char *password);
/* REG_OK when `password` matches, REG_EDENIED otherwise. */
int password_verify(const user_record *u, const char *password);

#endif
