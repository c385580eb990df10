/* cache_credentials.h - the upstream password of a pull-through cache rule, sealed at rest
 * under the master key (secretbox) as access-key secrets are, and opened only to connect. */
#ifndef OCIREG_CACHE_CREDENTIALS_H
#define OCIREG_CACHE_CREDENTIALS_H

#include "storage/index/index_cache.h"

#include <stddef.h>

/* Seal `password` (1 to CACHE_PASSWORD_MAX bytes) into rule->password under the master key
 * of data_dir (made on first use). */
int cache_password_seal(cache_rule *rule, const char *data_dir, const char *password);

/* The rule's password into out (CACHE_PASSWORD_MAX + 1 bytes; "" when it has none).
 * REG_EDENIED when the box does not open under `master`. */
int cache_password_open(char *out, const cache_rule *rule, const unsigned char *master);

#endif
