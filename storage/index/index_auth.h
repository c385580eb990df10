/* index_auth.h - users (password hashes) and grants (actions on repository patterns) in the
 * index. Policy decisions are made in auth/; this only stores and lists. */
#ifndef OCIREG_INDEX_AUTH_H
#define OCIREG_INDEX_AUTH_H

#include "storage/index/index.h"

#include <stdint.h>

#define USER_NAME_MAX     64
#define PASSWORD_SALT_LEN 16
#define PASSWORD_HASH_LEN 32

typedef struct user_record {
    char name[USER_NAME_MAX + 1];
    unsigned char salt[PASSWORD_SALT_LEN];
    unsigned char hash[PASSWORD_HASH_LEN];
    int iterations;
    /* Random, set anew with every password (password_hash): a refresh token or ECR login
     * password carries the generation it was issued under and dies when it changes, also when
     * the user is deleted and made again. 0 for users made before generations existed. */
    int64_t generation;
} user_record;

/* Insert or replace a user. */
int index_user_put(index_db *ix, const user_record *u);
int index_user_get(user_record *out, index_db *ix, const char *name);
/* The user's generation alone; REG_ENOTFOUND if there is no such user. */
int index_user_generation(int64_t *out, index_db *ix, const char *name);
/* Remove a user and the user's grants; REG_ENOTFOUND if there is no such user. */
int index_user_delete(index_db *ix, const char *name);
int index_user_list(index_db *ix, index_name_cb cb, void *ctx);
int index_user_count(int64_t *out, index_db *ix);

/* Add actions (a bit set) to a principal's grant on a pattern. */
int index_grant_add(index_db *ix, const char *principal, const char *pattern, unsigned actions);
/* Remove actions; the grant goes when none are left. REG_ENOTFOUND if there was no grant. */
int index_grant_remove(index_db *ix, const char *principal, const char *pattern, unsigned actions);

typedef int (*index_grant_cb)(void *ctx, const char *principal, const char *pattern,
                              unsigned actions);
/* Grants of `principal` and of "anonymous"; with principal NULL, every grant. */
int index_grants(index_db *ix, const char *principal, index_grant_cb cb, void *ctx);

/* Access keys (ECR API): the secret is stored as given (the caller encrypts it). */
#define ACCESS_KEY_ID_MAX      32
#define ACCESS_SECRET_BLOB_MAX 256
int index_access_key_put(index_db *ix, const char *id, const char *user,
                         const unsigned char *secret, size_t len);
/* The key's user (USER_NAME_MAX + 1 bytes) and stored secret; REG_ENOTFOUND if unknown. */
int index_access_key_get(char *user_out, unsigned char *secret_out, size_t *len_out, index_db *ix,
                         const char *id);
int index_access_key_delete(index_db *ix, const char *id);
typedef int (*index_key_cb)(void *ctx, const char *id, const char *user, int64_t created_at);
/* Keys of one user, or every key with user NULL. */
int index_access_keys(index_db *ix, const char *user, index_key_cb cb, void *ctx);

#endif
