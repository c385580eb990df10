/* listener.c - accept thread feeding libmicrohttpd (see listener.h). */
#include "server/http/listener.h"
#include "server/http/log.h"
#include "storage/base/reg_error.h"

#include <errno.h>
#include <linux/filter.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct listener {
    int fd;
    int stop_fd; /* eventfd: written once to stop the thread */
    int reuse_port;
    pthread_mutex_t daemon_lock; /* held while a connection is added: see listener_set_daemon */
    struct MHD_Daemon *daemon;
    uint64_t accepted; /* __atomic: connections taken, for listener_drain's quiet wait */
    pthread_t thread;
    int running;
    time_t warned_at; /* last "cannot accept" warning */
};

static listener *listener_new(int fd)
{
    listener *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->fd = fd;
    l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&l->daemon_lock, NULL);
    return l;
}

int listener_adopt(listener **out, int fd)
{
    listener *l = listener_new(fd);
    if (!l || l->stop_fd < 0) {
        listener_close(l);
        return REG_ERROR;
    }
    *out = l;
    return REG_OK;
}

int listener_open(listener **out, const struct sockaddr_storage *addr, int backlog, int reuse_port)
{
    listener *l = listener_new(-1);
    int one = 1;
    socklen_t len =
        addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (!l)
        return REG_ERROR;
    l->reuse_port = reuse_port;
    l->fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (l->stop_fd < 0 || l->fd < 0 ||
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (reuse_port && setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
        (addr->ss_family == AF_INET6 &&
         setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(l->fd, (const struct sockaddr *)addr, len) < 0 || listen(l->fd, backlog) < 0) {
        int saved = errno;
        listener_close(l);
        errno = saved;
        return REG_ERROR;
    }
    *out = l;
    return REG_OK;
}

/* A warning about errno, at most one line a second: a flood of clients must not flood the log. */
static void warn(listener *l, const char *what)
{
    time_t now = time(NULL);
    if (now != l->warned_at)
        log_msg(LOG_WARN, "%s: %s", what, strerror(errno));
    l->warned_at = now;
}

/* Accept until the queue is empty. Out of descriptors, wait a little rather than spin: the
 * pending clients stay queued until connections close. */
static void accept_pending(listener *l)
{
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            /* MHD closes the socket itself when it cannot take the connection (beyond its
             * limit, which is above --max-connections, or out of memory). */
            pthread_mutex_lock(&l->daemon_lock);
            enum MHD_Result added =
                MHD_add_connection(l->daemon, fd, (const struct sockaddr *)&peer, len);
            pthread_mutex_unlock(&l->daemon_lock);
            __atomic_add_fetch(&l->accepted, 1, __ATOMIC_RELAXED);
            if (added != MHD_YES)
                warn(l, "a new connection was refused");
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            warn(l, "cannot accept a connection");
            usleep(10000);
        }
        return;
    }
}

static void *accept_loop(void *arg)
{
    listener *l = arg;
    struct pollfd p[2] = {{.fd = l->fd, .events = POLLIN}, {.fd = l->stop_fd, .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_msg(LOG_ERROR, "accept thread stops: poll: %s", strerror(errno));
            break;
        }
        if (p[1].revents)
            break;
        if (p[0].revents)
            accept_pending(l);
    }
    return NULL;
}

int listener_start(listener *l, struct MHD_Daemon *daemon)
{
    listener_set_daemon(l, daemon);
    if (pthread_create(&l->thread, NULL, accept_loop, l) != 0)
        return REG_ERROR;
    l->running = 1;
    return REG_OK;
}

void listener_set_daemon(listener *l, struct MHD_Daemon *daemon)
{
    pthread_mutex_lock(&l->daemon_lock);
    l->daemon = daemon;
    pthread_mutex_unlock(&l->daemon_lock);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* New connections to the reuseport group's socket 1 (see listener.h). */
static void steer_to_newcomer(listener *l)
{
    struct sock_filter code[] = {{BPF_RET | BPF_K, 0, 0, 1}};
    struct sock_fprog prog = {.len = 1, .filter = code};
    if (setsockopt(l->fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
        log_msg(LOG_WARN, "cannot steer new connections away from this server: %s",
                strerror(errno));
}

void listener_drain(listener *l)
{
    if (!l || !l->running || !l->reuse_port)
        return;
    steer_to_newcomer(l);
    int64_t start = monotonic_ms(), last_change = start;
    uint64_t seen = __atomic_load_n(&l->accepted, __ATOMIC_RELAXED);
    for (int64_t now = start;
         now - last_change < LISTENER_QUIET_MS && now - start < LISTENER_DRAIN_MAX_MS;
         now = monotonic_ms()) {
        usleep(20000);
        uint64_t n = __atomic_load_n(&l->accepted, __ATOMIC_RELAXED);
        if (n != seen) {
            seen = n;
            last_change = monotonic_ms();
        }
    }
}

void listener_close(listener *l)
{
    if (!l)
        return;
    if (l->running) {
        uint64_t one = 1;
        if (write(l->stop_fd, &one, sizeof(one)) < 0)
            log_msg(LOG_WARN, "cannot wake the accept thread: %s", strerror(errno));
        pthread_join(l->thread, NULL);
    }
    if (l->fd >= 0)
        close(l->fd);
    if (l->stop_fd >= 0)
        close(l->stop_fd);
    pthread_mutex_destroy(&l->daemon_lock);
    free(l);
}
