/* password.h - password hashing with PBKDF2-HMAC-SHA256 and a per-user random salt, and
 * constant-time verification. */
#ifndef OCIREG_PASSWORD_H
#define OCIREG_PASSWORD_H

#include "storage/index/index_auth.h"

#define PASSWORD_ITERATIONS 100000
#define PASSWORD_MAX        1024

/* Fill salt, hash and iterations of `u` for `password`, and a new random generation (so what
 * was issued under the old password, or to an earlier user of the name, is refused). */
int password_hash(user_record *u, const char *password);
/* REG_OK when `password` matches, REG_EDENIED otherwise. */
int password_verify(const user_record *u, const char *password);
/* REG_EDENIED after the work of verifying a password, for a user that does not exist: an
 * unknown name must answer no faster than a wrong password. */
int password_verify_nobody(const char *password);

#endif
