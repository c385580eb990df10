/* reload.c - SIGHUP in `ocireg serve` (see reload.h). */
#include "server/cli/reload.h"
#include "auth/keys.h"
#include "auth/keyshare.h"
#include "server/http/log.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <string.h>

/* Keyrings replaced by a reload. A request thread may still hold the one it loaded a moment
 * before the swap (a token signature or check takes microseconds), so a replaced keyring is
 * freed only when RETIRED_KEYRINGS later reloads have replaced it too, or at exit. */
#define RETIRED_KEYRINGS 16
static keyring *retired[RETIRED_KEYRINGS];
static unsigned retired_next;

static void reload_settings(server *srv, int argc, char **argv)
{
    config fresh;
    const char *restart[32];
    config_defaults(&fresh);
    if (config_load_serve(&fresh, argc, argv) != 0) {
        log_msg(LOG_ERROR, "reload: settings not changed: %s", reg_error_last("invalid settings"));
        return;
    }
    int n = config_reload(&srv->cfg, &fresh, restart, (int)(sizeof(restart) / sizeof(*restart)));
    for (int i = 0; i < n && i < (int)(sizeof(restart) / sizeof(*restart)); i++)
        log_msg(LOG_WARN, "reload: --%s changed but needs a restart; still using the old value",
                restart[i]);
    log_set_level((log_level)srv->cfg.log_level);
    __atomic_store_n(&srv->st->create_on_push, srv->cfg.create_on_push, __ATOMIC_RELAXED);
    __atomic_store_n(&srv->st->max_blob_size, (uint64_t)srv->cfg.max_blob_size, __ATOMIC_RELAXED);
}

/* The keys under DATA/keys as they are now; the current keyring is kept when they cannot be
 * loaded or sign with the same key. Only a keyring that was loaded is reloaded. */
static void reload_keys(server *srv, index_db *ix)
{
    keyring *old = __atomic_load_n(&srv->keys, __ATOMIC_ACQUIRE), *kr = NULL;
    const char *old_kid = NULL, *new_kid = NULL;
    if (!old)
        return;
    /* On a shared index a rotation made elsewhere is in the index: fetch it first. */
    if (index_is_shared(srv->st->db_path) && keys_share(ix, srv->cfg.data_dir) < 0)
        log_msg(LOG_WARN, "reload: %s", reg_error_last("cannot share the keys"));
    if (keyring_load(&kr, srv->cfg.data_dir) < 0) {
        log_msg(LOG_ERROR,
                "reload: cannot load the token signing keys in %s/keys; keeping "
                "the loaded ones",
                srv->cfg.data_dir);
        return;
    }
    keyring_signer(old, &old_kid);
    keyring_signer(kr, &new_kid);
    if (old_kid && new_kid && !strcmp(old_kid, new_kid)) {
        keyring_free(kr);
        return;
    }
    pthread_mutex_lock(&srv->keys_lock);
    __atomic_store_n(&srv->keys, kr, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&srv->keys_lock);
    keyring_free(retired[retired_next % RETIRED_KEYRINGS]);
    retired[retired_next++ % RETIRED_KEYRINGS] = old;
    log_msg(LOG_INFO, "reload: tokens are now signed by key %s", new_kid ? new_kid : "?");
}

void reload_run(server *srv, index_db *ix, int argc, char **argv)
{
    log_msg(LOG_INFO, "SIGHUP: reloading settings, TLS certificate and signing keys");
    reload_settings(srv, argc, argv);
    reg_error_clear();
    int tls = server_reload_tls(srv);
    if (tls < 0)
        log_msg(LOG_ERROR, "reload: %s; still serving the previous certificate",
                reg_error_last("cannot load the TLS certificate"));
    else if (tls > 0)
        log_msg(LOG_INFO, "reload: new connections get the certificate in %s", srv->cfg.tls_cert);
    reload_keys(srv, ix);
}

void reload_free(void)
{
    for (unsigned i = 0; i < RETIRED_KEYRINGS; i++) {
        keyring_free(retired[i]);
        retired[i] = NULL;
    }
}
