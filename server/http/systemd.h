/* systemd.h - systemd's readiness notification and socket activation, spoken as documented
 * (sd_notify(3), sd_listen_fds(3)) without libsystemd: a datagram to $NOTIFY_SOCKET, and the
 * listening socket passed as fd 3 with LISTEN_PID / LISTEN_FDS. */
#ifndef OCIREG_SYSTEMD_H
#define OCIREG_SYSTEMD_H

/* Send `state` ("READY=1", "STOPPING=1", ...) to $NOTIFY_SOCKET: a path, or an abstract
 * socket written with a leading '@'. REG_OK also when the variable is unset (not under
 * systemd); REG_ERROR with a message when the datagram cannot be sent. */
int systemd_notify(const char *state);

/* "RELOADING=1" with the MONOTONIC_USEC= that Type=notify-reload wants. */
int systemd_notify_reloading(void);

/* The listening socket passed by socket activation: *out is fd 3 when LISTEN_PID is this
 * process and LISTEN_FDS is 1, else -1. The variables are removed either way, so that no
 * child takes them for its own. REG_EINVALID when more than one socket or a socket that is
 * not a listening stream socket was passed. */
int systemd_listen_fd(int *out);

#endif
