/* linger.c - graceful close of connections libmicrohttpd ends (see linger.h). */
#include "server/http/linger.h"
#include "server/http/log.h"
#include "storage/base/reg_error.h"

#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINGER_TICK_MS  100   /* how often the deadlines are looked at */
#define LINGER_READ_MAX 65536 /* bytes dropped per socket per wakeup */

struct linger_set {
    pthread_mutex_t lock; /* guards fds, deadline, n */
    int fds[LINGER_MAX_SOCKETS];
    int64_t deadline[LINGER_MAX_SOCKETS]; /* CLOCK_MONOTONIC ms */
    int n;
    int stop_fd; /* eventfd: written once to stop the thread */
    pthread_t thread;
    char sink[LINGER_READ_MAX]; /* the thread's: where dropped input goes */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read and drop what has arrived: 1 while the peer may send more, 0 once it has closed (or
 * the socket failed). */
static int drain(linger_set *l, int fd)
{
    ssize_t n = recv(fd, l->sink, sizeof(l->sink), MSG_DONTWAIT);
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
}

/* Close the sockets whose peer closed (done[i]) or whose time is up. Only this thread removes
 * entries, so the indexes of the poll snapshot still hold. */
static void sweep(linger_set *l, const char *done, int count)
{
    int64_t now = now_ms();
    pthread_mutex_lock(&l->lock);
    for (int i = l->n - 1; i >= 0; i--) {
        if ((i < count && done[i]) || now >= l->deadline[i]) {
            close(l->fds[i]);
            l->n--;
            l->fds[i] = l->fds[l->n];
            l->deadline[i] = l->deadline[l->n];
        }
    }
    pthread_mutex_unlock(&l->lock);
}

static void *linger_loop(void *arg)
{
    linger_set *l = arg;
    struct pollfd p[LINGER_MAX_SOCKETS + 1];
    char done[LINGER_MAX_SOCKETS];
    for (;;) {
        pthread_mutex_lock(&l->lock);
        int count = l->n;
        for (int i = 0; i < count; i++)
            p[i] = (struct pollfd){.fd = l->fds[i], .events = POLLIN};
        pthread_mutex_unlock(&l->lock);
        p[count] = (struct pollfd){.fd = l->stop_fd, .events = POLLIN};
        if (poll(p, (nfds_t)count + 1, LINGER_TICK_MS) < 0 && errno != EINTR) {
            log_msg(LOG_ERROR, "lingering close stops: poll: %s", strerror(errno));
            break;
        }
        if (p[count].revents)
            break;
        for (int i = 0; i < count; i++)
            done[i] = p[i].revents != 0 && !drain(l, p[i].fd);
        sweep(l, done, count);
    }
    return NULL;
}

int linger_start(linger_set **out)
{
    linger_set *l = calloc(1, sizeof(*l));
    if (!l)
        return REG_ERROR;
    pthread_mutex_init(&l->lock, NULL);
    l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->stop_fd < 0 || pthread_create(&l->thread, NULL, linger_loop, l) != 0) {
        if (l->stop_fd >= 0)
            close(l->stop_fd);
        pthread_mutex_destroy(&l->lock);
        free(l);
        return REG_ERROR;
    }
    *out = l;
    return REG_OK;
}

/* Whether the peer sent something and has been sent nothing (the kernel's count, which
 * libmicrohttpd's own error answers are part of). */
static int is_unanswered(int fd)
{
    struct tcp_info info;
    socklen_t len = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_sent) + sizeof(info.tcpi_bytes_sent))
        return 0;
    return info.tcpi_bytes_received > 0 && info.tcpi_bytes_sent == 0;
}

void linger_close(linger_set *l, int fd, const char *unanswered)
{
    char probe;
    if (fd < 0)
        return;
    if (unanswered && is_unanswered(fd) &&
        send(fd, unanswered, strlen(unanswered), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        log_msg(LOG_DEBUG, "could not answer an unparsable request: %s", strerror(errno));
    shutdown(fd, SHUT_WR);
    /* 0: the peer closed already; an error: nothing left to protect. */
    ssize_t n = recv(fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    int pending = n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    if (l && pending) {
        pthread_mutex_lock(&l->lock);
        if (l->n < LINGER_MAX_SOCKETS) {
            l->fds[l->n] = fd;
            l->deadline[l->n++] = now_ms() + LINGER_MS;
            fd = -1;
        }
        pthread_mutex_unlock(&l->lock);
    }
    if (fd >= 0)
        close(fd);
}

void linger_stop(linger_set *l)
{
    uint64_t one = 1;
    if (!l)
        return;
    if (write(l->stop_fd, &one, sizeof(one)) < 0)
        log_msg(LOG_WARN, "cannot wake the lingering thread: %s", strerror(errno));
    pthread_join(l->thread, NULL);
    for (int i = 0; i < l->n; i++)
        close(l->fds[i]);
    close(l->stop_fd);
    pthread_mutex_destroy(&l->lock);
    free(l);
}
