/* listener.h - the listening socket and its accept thread. libmicrohttpd's own poll loop
 * accepts one connection per turn of each worker thread, and a turn serves every ready
 * connection first: when a thousand clients connect at once, the last ones wait for hundreds
 * of turns before their first request is even read. The accept thread takes every pending
 * connection as soon as it arrives and hands it to a worker (MHD_add_connection). */
#ifndef OCIREG_LISTENER_H
#define OCIREG_LISTENER_H

#include <sys/socket.h>

struct MHD_Daemon;
typedef struct listener listener;

/* Bind and listen on addr (SO_REUSEADDR; IPv6 only for an IPv6 address; with reuse_port,
 * SO_REUSEPORT, so that a new server can listen beside this one). REG_OK or REG_ERROR with
 * errno set. */
int listener_open(listener **out, const struct sockaddr_storage *addr, int backlog, int reuse_port);

/* Serve on a socket that is already listening (socket activation); the listener owns fd. */
int listener_adopt(listener **out, int fd);

/* Start accepting into daemon (started with MHD_USE_NO_LISTEN_SOCKET and MHD_USE_ITC). At
 * the daemon's connection limit libmicrohttpd closes a new connection at once, where its own
 * accept would have left it queued (http.c sets that limit a little above --max-connections
 * and answers the connections in between 503). */
int listener_start(listener *l, struct MHD_Daemon *daemon);

/* Hand new connections to another daemon from now on (a TLS reload): the accept thread
 * never adds to the previous one after this returns. */
void listener_set_daemon(listener *l, struct MHD_Daemon *daemon);

/* Before closing a SO_REUSEPORT socket: the kernel resets the connections still queued on a
 * listening socket when it closes. Steer new connections to the group's newest socket (a
 * classic BPF program returning 1: sockets join the group in order and a closed one's slot
 * is taken by the last, so 1 is the newcomer while both listen, and once one is left the
 * index is out of range and the kernel picks by hash as before), then keep accepting until
 * no connection came for LISTENER_QUIET_MS (at most LISTENER_DRAIN_MAX_MS), so that the
 * handshakes already under way are taken. Without SO_REUSEPORT only the quiet wait. */
#define LISTENER_QUIET_MS     250
#define LISTENER_DRAIN_MAX_MS 2000
void listener_drain(listener *l);

/* Stop accepting and close the socket; new clients are refused from then on. */
void listener_close(listener *l);

#endif
