/* serve.c - `ocireg serve` (see serve.h). */
#include "server/cli/serve.h"
#include "auth/destinations.h"
#include "auth/keys.h"
#include "auth/keyshare.h"
#include "auth/sealed.h"
#include "auth/secretbox.h"
#include "server/cli/reload.h"
#include "server/http/auth.h"
#include "server/http/http.h"
#include "server/router.h"
#include "server/http/log.h"
#include "server/http/systemd.h"
#include "storage/gc.h"
#include "storage/outbox.h"
#include "storage/replicate.h"
#include "storage/webhook.h"
#include "storage/pullthrough.h"
#include "storage/index/index_auth.h"
#include "storage/base/reg_error.h"

#include <errno.h>
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXPIRY_CHECK_SECONDS 600
#define TICK_SECONDS         1
#define DRAIN_MAX            86400 /* seconds: a longer --drain-timeout is a day */
#define PULLS_FLUSH_SECONDS  30

/* Open the store, the index writer and the main thread's index connection, or refuse a data
 * folder we cannot use with a clear message, before listening. On failure nothing is left
 * open. */
static int open_data(store **st_out, index_writer **writer_out, index_db **ix_out,
                     const store_location *loc)
{
    const char *dir = loc->data_dir;
    if (store_open(st_out, loc) < 0) {
        fprintf(stderr, "ocireg: cannot use data folder %s: %s\n", dir,
                reg_error_last("cannot open it"));
        return REG_ERROR;
    }
    int err = index_writer_open(writer_out, (*st_out)->db_path);
    if (err == REG_OK && (err = index_open(ix_out, (*st_out)->db_path)) == REG_OK)
        index_writer_attach(*writer_out, *ix_out);
    if (err < 0)
        fprintf(stderr, "ocireg: cannot open the index %s: %s\n", (*st_out)->db_label,
                index_errmsg(*ix_out));
    if (err == REG_OK && access(dir, W_OK) != 0) {
        fprintf(stderr, "ocireg: data folder %s is not writable\n", dir);
        err = REG_ERROR;
    }
    if (err < 0) {
        index_close(*ix_out);
        index_writer_close(*writer_out);
        store_close(*st_out);
        *ix_out = NULL;
        *writer_out = NULL;
        *st_out = NULL;
    }
    return err;
}

/* Auth is on with --auth or as soon as the data folder has a user. */
static int users_exist(index_db *ix)
{
    int64_t n = 0;
    return ix && index_user_count(&n, ix) == REG_OK && n > 0;
}

/* Whether only this machine can connect: the address of the socket systemd passed, or else
 * --listen as written. */
static int is_loopback_listen(const server *srv)
{
    const char *listen = srv->cfg.listen;
    struct sockaddr_storage addr;
    socklen_t len = sizeof(addr);
    if (srv->activated_fd <= 0)
        return !strncmp(listen, "127.", 4) || !strncmp(listen, "localhost:", 10) ||
               !strncmp(listen, "[::1]:", 6);
    if (getsockname(srv->activated_fd, (struct sockaddr *)&addr, &len) < 0)
        return 0;
    if (addr.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&addr)->sin_addr.s_addr) >> 24) == 127;
    return addr.ss_family == AF_INET6 &&
           IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&addr)->sin6_addr);
}

/* The optional scheduled gc: lifecycle policies and the blob sweep (grace 1h). */
static void periodic_gc(server *srv, index_db *ix)
{
    gc_report rep;
    gc_options opt = {
        .lifecycle = 1, .sweep = 1, .grace = 3600, .upload_expiry = srv->cfg.upload_expiry};
    if (gc_run(&rep, srv->st, ix, &opt) < 0)
        log_msg(LOG_ERROR, "scheduled gc failed: %s", reg_error_last("unknown error"));
    else
        log_msg(LOG_INFO,
                "scheduled gc: %lld images expired, %lld manifests, %lld blobs "
                "(%lld bytes) deleted",
                (long long)rep.images_expired, (long long)rep.totals.manifests_deleted,
                (long long)rep.totals.blobs_deleted, (long long)rep.totals.bytes_freed);
}

/* replicate_connect_fn and replicate_release_fn over the server's pool of destination clients
 * (auth/destinations opens their passwords). */
static int lend_destination(remote **out, void *ctx, index_db *ix, const char *region,
                            const char *registry_id)
{
    return destination_pool_get(out, ctx, ix, region, registry_id);
}

static void return_destination(void *ctx, remote *client)
{
    destination_pool_put(ctx, client);
}

/* Register the delivery of webhook events and replications, and start the outbox's workers. */
static int start_outbox(outbox **out, server *srv, webhook_sender *sender,
                        replicate_kind *replication, destination_pool **pool)
{
    int err = destination_pool_new(pool, srv->cfg.data_dir);
    *replication = (replicate_kind){.s = srv->st,
                                    .writer = srv->writer,
                                    .connect = lend_destination,
                                    .release = return_destination,
                                    .connect_ctx = *pool};
    *sender = (webhook_sender){.registry_id = srv->cfg.registry_id,
                               .region = srv->cfg.region,
                               .master_key = srv->master_key,
                               .open = sealed_text_open,
                               .timeout_ms = srv->cfg.webhook_timeout_ms};
    outbox_options opt = {.index_location = srv->st->db_path,
                          .writer = srv->writer,
                          .workers = srv->cfg.outbox_workers,
                          .max_attempts = srv->cfg.outbox_max_attempts,
                          .target_concurrency = srv->cfg.outbox_target_concurrency,
                          .retry_ms = srv->cfg.outbox_retry_ms,
                          .lease_ms = srv->cfg.outbox_lease_ms,
                          .release_leases = !index_is_shared(srv->st->db_path)};
    if (err == REG_OK)
        err = outbox_register_kind("webhook", webhook_deliver, sender);
    if (err == REG_OK)
        err = outbox_register_batch_kind("replication", replicate_deliver_batch, replication,
                                         REPLICATE_BATCH_MAX);
    if (err == REG_OK)
        err = outbox_start(out, &opt);
    if (err < 0)
        fprintf(stderr, "ocireg: cannot start the outbox: %s\n", reg_error_last("unknown error"));
    return err;
}

/* systemd's readiness protocol: a failure to tell it is logged, and serving goes on. */
static void notify(const char *state)
{
    if (systemd_notify(state) < 0)
        log_msg(LOG_WARN, "%s", reg_error_last("cannot notify systemd"));
}

/* SIGHUP, told to systemd as Type=notify-reload expects. */
static void reload(server *srv, index_db *ix, int argc, char **argv)
{
    if (systemd_notify_reloading() < 0)
        log_msg(LOG_WARN, "%s", reg_error_last("cannot notify systemd"));
    reload_run(srv, ix, argc, argv);
    notify("READY=1");
}

/* Block until SIGTERM or SIGINT; meanwhile reload on SIGHUP, notice new users (auth goes on)
 * and expire idle upload sessions. */
static void wait_for_signal(server *srv, index_db *ix, int argc, char **argv)
{
    sigset_t set;
    struct timespec tick = {.tv_sec = TICK_SECONDS};
    time_t last_expiry = time(NULL), last_flush = time(NULL), last_gc = time(NULL);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            log_msg(LOG_INFO, "signal %d: finishing in-flight requests (--drain-timeout %llds)",
                    sig, (long long)srv->cfg.drain_timeout);
            return;
        }
        if (sig == SIGHUP)
            reload(srv, ix, argc, argv);
        time_t now = time(NULL);
        server_tick(srv);
        server_reap_slow(srv, srv->cfg.connection_timeout);
        if (now - last_flush >= PULLS_FLUSH_SECONDS) {
            last_flush = now;
            if (pulls_flush(srv->st->pulls, ix) < 0)
                log_msg(LOG_WARN, "could not record pull times: %s", index_errmsg(ix));
            malloc_trim(0); /* give memory freed after a burst back to the system */
        }
        if (srv->cfg.gc_interval > 0 && now - last_gc >= srv->cfg.gc_interval) {
            last_gc = now;
            periodic_gc(srv, ix);
        }
        if (!auth_enabled(srv) && users_exist(ix)) {
            log_msg(LOG_INFO, "a user exists now: authentication is on");
            auth_set_enabled(srv, 1);
        }
        if (time(NULL) - last_expiry >= EXPIRY_CHECK_SECONDS) {
            last_expiry = time(NULL);
            int n = upload_expire(srv->st->uploads, srv->cfg.upload_expiry);
            if (n > 0)
                log_msg(LOG_INFO, "expired %d idle upload files", n);
        }
    }
}

static void log_pullthrough(const char *line)
{
    log_msg(LOG_WARN, "%s", line);
}

/* Before any thread starts: malloc's arenas and thresholds, and the signals that only the
 * main thread takes (synchronously: server threads never see them). */
static void setup_process(void)
{
    sigset_t set;
    /* Few malloc arenas: server threads allocate little, and each arena keeps its own pages. */
    mallopt(M_ARENA_MAX, 2);
    /* Large buffers (an S3 upload's 8 MiB part, a 4 MiB streaming ring) always mapped and
     * unmapped: glibc otherwise raises its mmap threshold after the first such free, and the
     * next ones stay in an arena for good (bench/RESULTS-s3.md: idle RSS after load). */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* The data folder's keys, upload sessions, auth and pull-through cache, before the socket
 * opens: REG_OK, or an error already said on stderr. */
static int prepare_server(server *srv, index_db *ix)
{
    if (index_is_shared(srv->st->db_path) && keys_share(ix, srv->cfg.data_dir) < 0) {
        fprintf(stderr, "ocireg: %s\n", reg_error_last("cannot share the keys"));
        return REG_ERROR;
    }
    if (secretbox_key(srv->master_key, srv->cfg.data_dir) < 0) {
        fprintf(stderr, "ocireg: cannot load or create %s/keys/master.key\n", srv->cfg.data_dir);
        return REG_ERROR;
    }
    if (upload_table_sign_ids(srv->st->uploads, srv->master_key, srv->cfg.upload_expiry) < 0) {
        fprintf(stderr, "ocireg: %s\n", reg_error_last("cannot set up upload sessions"));
        return REG_ERROR;
    }
    auth_set_enabled(srv, srv->cfg.auth || users_exist(ix));
    /* With auth on, a key that cannot be loaded stops the start; without, it loads when the
     * token endpoint or the ECR API first needs it. */
    if (auth_enabled(srv) && !server_keys(srv)) {
        fprintf(stderr, "ocireg: cannot load or create the token signing key in %s/keys\n",
                srv->cfg.data_dir);
        return REG_ERROR;
    }
    if (!auth_enabled(srv) && !is_loopback_listen(srv) && !srv->cfg.insecure_no_auth) {
        fprintf(stderr,
                "ocireg: refusing to listen on %s without authentication: add a user "
                "(ocireg user add), pass --auth, or pass --insecure-no-auth\n",
                srv->activated_fd > 0 ? "the socket systemd passed" : srv->cfg.listen);
        return REG_ERROR;
    }
    pullthrough_limits limits = {.grace_seconds = srv->cfg.upstream_stall_timeout,
                                 .min_rate = (uint64_t)srv->cfg.upstream_min_rate};
    if (pullthrough_new(&srv->pullthrough, srv->st, srv->writer, &limits, log_pullthrough) < 0) {
        fprintf(stderr, "ocireg: %s\n", reg_error_last("cannot set up the pull-through cache"));
        return REG_ERROR;
    }
    return REG_OK;
}

/* Serve until SIGTERM or SIGINT, then drain and stop: 0, or 1 when serving could not start. */
static int serve_until_signal(server *srv, index_db *ix, int argc, char **argv)
{
    outbox *box = NULL;
    webhook_sender sender;
    replicate_kind replication;
    destination_pool *pool = NULL;
    if (server_start(srv) < 0) {
        server_stop(srv, 0);
        return 1;
    }
    if (start_outbox(&box, srv, &sender, &replication, &pool) < 0) {
        server_stop(srv, 0);
        destination_pool_free(pool);
        return 1;
    }
    log_msg(LOG_INFO, "ocireg %s serving %s on %s (auth %s)", OCIREG_VERSION, srv->cfg.data_dir,
            srv->activated_fd > 0 ? "the socket systemd passed" : srv->cfg.listen,
            auth_enabled(srv) ? "on" : "off");
    /* The socket listens and the accept thread runs: a client connecting now is answered. */
    notify("READY=1");
    wait_for_signal(srv, ix, argc, argv);
    notify("STOPPING=1");
    long long drain = srv->cfg.drain_timeout;
    server_stop(srv, (int)(drain < DRAIN_MAX ? drain : DRAIN_MAX));
    outbox_stop(box);
    replicate_kind_close(&replication);
    pulls_flush(srv->st->pulls, ix);
    destination_pool_free(pool);
    return 0;
}

int serve_main(int argc, char **argv)
{
    server srv = {.dispatch = router_dispatch};
    pthread_mutex_init(&srv.keys_lock, NULL);
    config_defaults(&srv.cfg);
    int rc = config_load_serve(&srv.cfg, argc, argv);
    if (rc == 1) {
        config_print_serve_help("ocireg");
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "ocireg serve: %s (see ocireg serve --help)\n",
                reg_error_last("invalid settings"));
        return 2;
    }
    log_set_level((log_level)srv.cfg.log_level);
    setup_process();
    store_location loc = {.data_dir = srv.cfg.data_dir,
                          .storage = srv.cfg.storage,
                          .index = srv.cfg.index,
                          .inline_max = (uint64_t)srv.cfg.inline_max};
    index_db *ix = NULL;
    if (systemd_listen_fd(&srv.activated_fd) < 0) {
        fprintf(stderr, "ocireg: %s\n", reg_error_last("socket activation failed"));
        return 1;
    }
    if (open_data(&srv.st, &srv.writer, &ix, &loc) < 0)
        return 1;
    srv.st->create_on_push = srv.cfg.create_on_push;
    srv.st->max_blob_size = (uint64_t)srv.cfg.max_blob_size;
    int rc_exit = prepare_server(&srv, ix) < 0 ? 1 : serve_until_signal(&srv, ix, argc, argv);
    pullthrough_free(srv.pullthrough);
    OPENSSL_cleanse(srv.master_key, sizeof(srv.master_key));
    index_close(ix);
    index_writer_close(srv.writer);
    keyring_free(srv.keys);
    reload_free();
    store_close(srv.st);
    if (rc_exit == 0)
        log_msg(LOG_INFO, "stopped");
    return rc_exit;
}
