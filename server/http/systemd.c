/* systemd.c - systemd's notify and socket-activation protocols without libsystemd (see
 * systemd.h). */
#include "server/http/systemd.h"
#include "storage/base/reg_error.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LISTEN_FDS_START 3 /* sd_listen_fds(3): passed sockets begin at fd 3 */

int systemd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (!path || !path[0])
        return REG_OK;
    size_t n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof(addr.sun_path))
        return reg_error_set(REG_EINVALID, "NOTIFY_SOCKET %s is no socket address", path);
    memcpy(addr.sun_path, path, n);
    if (path[0] == '@')
        addr.sun_path[0] = '\0'; /* abstract namespace: the name is not NUL-terminated */
    socklen_t len =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/' ? 1 : 0));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ssize_t sent = fd < 0 ? -1
                          : sendto(fd, state, strlen(state), MSG_NOSIGNAL,
                                   (const struct sockaddr *)&addr, len);
    int saved = errno;
    if (fd >= 0)
        close(fd);
    if (sent < 0)
        return reg_error_set(REG_ERROR, "cannot notify systemd at %s: %s", path, strerror(saved));
    return REG_OK;
}

int systemd_notify_reloading(void)
{
    struct timespec ts;
    char msg[96];
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    return systemd_notify(msg);
}

/* A passed descriptor we can serve on: a stream socket in the listening state. */
static int is_listening_stream(int fd)
{
    int type = 0, listening = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
        return 0;
    len = sizeof(listening);
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening;
}

int systemd_listen_fd(int *out)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    char *end = NULL;
    int mine = pid && strtol(pid, &end, 10) == (long)getpid() && end != pid && !*end;
    long count = mine && fds ? strtol(fds, &end, 10) : 0;
    int passed = mine && fds && end != fds && !*end;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    *out = -1;
    if (!passed || count == 0)
        return REG_OK;
    if (count != 1)
        return reg_error_set(REG_EINVALID,
                             "socket activation passed %ld sockets; ocireg serves "
                             "one (ListenStream= once in the .socket unit)",
                             count);
    if (!is_listening_stream(LISTEN_FDS_START))
        return reg_error_set(REG_EINVALID,
                             "socket activation passed fd %d, which is not a "
                             "listening stream socket",
                             LISTEN_FDS_START);
    int flags = fcntl(LISTEN_FDS_START, F_GETFL);
    if (flags < 0 || fcntl(LISTEN_FDS_START, F_SETFL, flags | O_NONBLOCK) < 0 ||
        fcntl(LISTEN_FDS_START, F_SETFD, FD_CLOEXEC) < 0)
        return reg_error_set(REG_ERROR, "cannot use the passed socket: %s", strerror(errno));
    *out = LISTEN_FDS_START;
    return REG_OK;
}
