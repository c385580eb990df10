/* index_keys.h - key files shared through the index (table shared_keys): with an index that
 * several instances use, the token signing keys and the secret-sealing key of DATA/keys/
 * travel through it, so that a token or sealed secret made by one instance opens on all. */
#ifndef OCIREG_INDEX_KEYS_H
#define OCIREG_INDEX_KEYS_H

#include "storage/index/index.h"

#include <stddef.h>

/* Store a key file's bytes under its name unless that name is there already (first wins). */
int index_key_offer(index_db *ix, const char *name, const void *content, size_t len);

/* Call cb for every shared key file; cb < 0 stops with that result. */
typedef int (*index_key_cb)(void *ctx, const char *name, const void *content, size_t len);
int index_keys_each(index_db *ix, index_key_cb cb, void *ctx);

#endif
