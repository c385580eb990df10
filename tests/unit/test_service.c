/* test_service.c - what running as a service rests on: which settings a SIGHUP applies and
 * which it names for a restart (config_reload), and systemd's notify and socket-activation
 * protocols as systemd.c speaks them. */
#include "server/http/config.h"
#include "server/http/systemd.h"
#include "storage/base/reg_error.h"
#include "check.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void test_reload_applies_safe_settings_and_names_the_others(void)
{
    config live, fresh;
    const char *restart[8];
    config_defaults(&live);
    config_defaults(&fresh);
    CHECK_INT(config_reload(&live, &fresh, restart, 8), 0);
    fresh.log_level = 3;
    fresh.access_log = 0;
    fresh.drain_timeout = 99;
    fresh.max_blob_size = 1 << 20;
    fresh.threads = 7;
    snprintf(fresh.listen, sizeof(fresh.listen), "127.0.0.1:6000");
    CHECK_INT(config_reload(&live, &fresh, restart, 8), 2);
    CHECK_STR(restart[0], "listen");
    CHECK_STR(restart[1], "threads");
    CHECK_INT(live.log_level, 3);
    CHECK_INT(live.access_log, 0);
    CHECK_INT(live.drain_timeout, 99);
    CHECK_INT(live.max_blob_size, 1 << 20);
    CHECK_INT(live.threads, 0);
    CHECK_STR(live.listen, "127.0.0.1:5000");
    /* More changed than room: the count is still right. */
    CHECK_INT(config_reload(&live, &fresh, restart, 1), 2);
}

/* One datagram sent to `address` (as NOTIFY_SOCKET) arrives on `rx` as `state`. */
static void check_notify(int rx, const char *address, const char *state)
{
    char got[128] = {0};
    setenv("NOTIFY_SOCKET", address, 1);
    CHECK_INT(systemd_notify(state), REG_OK);
    ssize_t n = recv(rx, got, sizeof(got) - 1, MSG_DONTWAIT);
    CHECK(n == (ssize_t)strlen(state) && !strcmp(got, state), "%s: expected \"%s\", got \"%s\"",
          address, state, got);
}

static void test_notify_reaches_path_and_abstract_sockets(void)
{
    struct sockaddr_un path = {.sun_family = AF_UNIX}, abstract = {.sun_family = AF_UNIX};
    char dir[64];
    CHECK_INT(check_tempdir(dir, sizeof(dir), "notify"), 0);
    snprintf(path.sun_path, sizeof(path.sun_path), "%s/notify", dir);
    int a = socket(AF_UNIX, SOCK_DGRAM, 0), b = socket(AF_UNIX, SOCK_DGRAM, 0);
    const char *name = "ocireg-unit-notify";
    memcpy(abstract.sun_path + 1, name, strlen(name));
    CHECK_INT(bind(a, (struct sockaddr *)&path, sizeof(path)), 0);
    CHECK_INT(bind(b, (struct sockaddr *)&abstract,
                   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name))),
              0);
    check_notify(a, path.sun_path, "READY=1");
    check_notify(b, "@ocireg-unit-notify", "STOPPING=1");
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    CHECK_INT(systemd_notify("READY=1"), REG_EINVALID);
    unsetenv("NOTIFY_SOCKET");
    CHECK_INT(systemd_notify("READY=1"), REG_OK); /* not under systemd: nothing to do */
    close(a);
    close(b);
    CHECK_RMDIR(dir);
}

static void set_listen_env(long pid, const char *fds)
{
    char text[32];
    snprintf(text, sizeof(text), "%ld", pid);
    setenv("LISTEN_PID", text, 1);
    setenv("LISTEN_FDS", fds, 1);
}

static void test_listen_fd_takes_only_our_one_listening_socket(void)
{
    int fd = 0;
    set_listen_env((long)getpid() + 1, "1"); /* meant for another process */
    CHECK_INT(systemd_listen_fd(&fd), REG_OK);
    CHECK_INT(fd, -1);
    CHECK(!getenv("LISTEN_PID") && !getenv("LISTEN_FDS"), "the variables are removed");
    set_listen_env((long)getpid(), "2");
    CHECK_INT(systemd_listen_fd(&fd), REG_EINVALID);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_INT(bind(s, (struct sockaddr *)&any, sizeof(any)), 0);
    CHECK_INT(dup2(s, 3), 3);
    set_listen_env((long)getpid(), "1");
    CHECK_INT(systemd_listen_fd(&fd), REG_EINVALID); /* bound, not listening */
    CHECK_INT(listen(3, 4), 0);
    set_listen_env((long)getpid(), "1");
    CHECK_INT(systemd_listen_fd(&fd), REG_OK);
    CHECK_INT(fd, 3);
    CHECK(fcntl(3, F_GETFL) & O_NONBLOCK, "the passed socket is made non-blocking");
    CHECK(fcntl(3, F_GETFD) & FD_CLOEXEC, "and close-on-exec");
    close(3);
    close(s);
}

int main(void)
{
    test_reload_applies_safe_settings_and_names_the_others();
    test_notify_reaches_path_and_abstract_sockets();
    test_listen_fd_takes_only_our_one_listening_socket();
    return check_failures ? 1 : 0;
}
