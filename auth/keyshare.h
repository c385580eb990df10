/* keyshare.h - the same DATA/keys/ on every instance of a shared (PostgreSQL) index: token
 * signing keys (*.pem) and the secret-sealing key (master.key) are offered to the index
 * (the first instance's file wins) and written back from it, so a token or sealed access-key
 * secret made by any instance opens on all. */
#ifndef OCIREG_KEYSHARE_H
#define OCIREG_KEYSHARE_H

#include "storage/index/index.h"

/* Bring data_dir/keys in line with the index, making the first keys if there are none
 * anywhere. On failure reg_error_last() says what failed. */
int keys_share(index_db *ix, const char *data_dir);

#endif
