/* destinations.h - replication destinations' credentials: the password sealed (secretbox,
 * under DATA/keys/master.key, as access keys) on the way into the index and opened on the way
 * out to the push engine, which lives below auth and only ever sees plaintext it is handed. */
#ifndef OCIREG_DESTINATIONS_H
#define OCIREG_DESTINATIONS_H

#include "storage/index/index_replication.h"
#include "storage/remote/remote.h"

/* The longest destination password (ECR's login passwords are about 2.5 KB). */
#define DESTINATION_PASSWORD_MAX 8192
/* The longest destination URL and CA file path. */
#define DESTINATION_URL_MAX 1024

/* What a destination needs to be reached, in plaintext (every field malloc'd or NULL). */
typedef struct destination_login {
    char *url;
    char *username;
    char *password;
    char *ca_file;
} destination_login;

/* Add or replace destination (region, registry_id). `password` (NULL for none) is sealed
 * before it is stored. REG_EINVALID (reg_error_last says why) for a bad region, registry id,
 * URL (http:// or https://) or an over-long value. */
int destination_put(index_db *ix, const char *data_dir, const char *region, const char *registry_id,
                    const char *url, const char *username, const char *password,
                    const char *ca_file);

/* The login of destination (region, registry_id), its password opened; REG_ENOTFOUND when
 * no such destination is configured. */
int destination_open(destination_login *out, index_db *ix, const char *data_dir, const char *region,
                     const char *registry_id);
/* Frees the fields, the password wiped first. */
void destination_login_free(destination_login *l);

/* A client for destination (region, registry_id), its credentials opened for it (remote
 * copies them); REG_ENOTFOUND when no such destination is configured. */
int destination_connect(remote **out, index_db *ix, const char *data_dir, const char *region,
                        const char *registry_id);

/* The clients a server's replications share, one per destination while its login stays the
 * same: a remote keeps its tokens, so each delivery does not log in again (a password check at
 * the destination costs it a key derivation). Thread-safe. */
typedef struct destination_pool destination_pool;
int destination_pool_new(destination_pool **out, const char *data_dir);
/* After every client has been put back; NULL ok. */
void destination_pool_free(destination_pool *p);
/* The destination's client, its login read now: a login that changed since (`replication
 * destination add` again) gets a new client, the old one closing once put back. REG_ENOTFOUND
 * when no such destination is configured. */
int destination_pool_get(remote **out, destination_pool *p, index_db *ix, const char *region,
                         const char *registry_id);
void destination_pool_put(destination_pool *p, remote *client);

/* ECR's shapes: Region [0-9a-z-]{2,25}, RegistryId [0-9]{12}. */
int destination_region_valid(const char *region);
int destination_registry_id_valid(const char *registry_id);

#endif
