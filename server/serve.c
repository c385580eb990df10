/* serve.c - `ocireg serve` (see serve.h). */
#include "server/serve.h"
#include "server/http.h"
#include "server/log.h"
#include "storage/reg_error.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SHUTDOWN_GRACE_SECONDS 10
#define EXPIRY_CHECK_SECONDS 600

/* Refuse a data folder we cannot write with a clear message, before listening. */
static int check_data_dir(const char *dir)
{
    index_db *ix = NULL;
    store *st = NULL;
    if (store_open(&st, dir) < 0) {
        fprintf(stderr, "ocireg: cannot use data folder %s: %s\n", dir, strerror(errno));
        return REG_ERROR;
    }
    int err = index_open(&ix, st->db_path);
    if (err < 0)
        fprintf(stderr, "ocireg: cannot open the index %s: %s\n", st->db_path, index_errmsg(ix));
    if (err == REG_OK && access(dir, W_OK) != 0) {
        fprintf(stderr, "ocireg: data folder %s is not writable\n", dir);
        err = REG_ERROR;
    }
    index_close(ix);
    store_close(st);
    return err;
}

/* Block until SIGTERM or SIGINT, expiring idle upload sessions now and then. */
static void wait_for_signal(server *srv)
{
    sigset_t set;
    struct timespec tick = {.tv_sec = EXPIRY_CHECK_SECONDS};
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            log_msg(LOG_INFO, "signal %d: finishing in-flight requests", sig);
            return;
        }
        if (sig < 0 && errno == EAGAIN) {
            int n = upload_expire(srv->st->uploads, srv->cfg.upload_expiry);
            if (n > 0)
                log_msg(LOG_INFO, "expired %d idle upload files", n);
        }
    }
}

int serve_main(int argc, char **argv)
{
    server srv = {0};
    char err[512];
    sigset_t set;
    config_defaults(&srv.cfg);
    int rc = config_load_serve(&srv.cfg, argc, argv, err, sizeof(err));
    if (rc == 1) {
        config_print_serve_help("ocireg");
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "ocireg serve: %s (see ocireg serve --help)\n", err);
        return 2;
    }
    log_set_level((log_level)srv.cfg.log_level);
    /* Signals are taken synchronously by the main thread; server threads never see them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (check_data_dir(srv.cfg.data_dir) < 0)
        return 1;
    if (store_open(&srv.st, srv.cfg.data_dir) < 0 || server_start(&srv) < 0) {
        store_close(srv.st);
        return 1;
    }
    log_msg(LOG_INFO, "ocireg %s serving %s on http://%s", OCIREG_VERSION, srv.cfg.data_dir,
            srv.cfg.listen);
    wait_for_signal(&srv);
    server_stop(&srv, SHUTDOWN_GRACE_SECONDS);
    store_close(srv.st);
    log_msg(LOG_INFO, "stopped");
    return 0;
}
