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

/* Bind and listen on addr (SO_REUSEADDR; IPv6 only for an IPv6 address). REG_OK or REG_ERROR
 * with errno set. */
int listener_open(listener **out, const struct sockaddr_storage *addr, int backlog);

/* Start accepting into daemon (started with MHD_USE_NO_LISTEN_SOCKET and MHD_USE_ITC). At
 * the daemon's connection limit libmicrohttpd closes a new connection at once, where its own
 * accept would have left it queued (http.c sets that limit a little above --max-connections
 * and answers the connections in between 503). */
int listener_start(listener *l, struct MHD_Daemon *daemon);

/* Stop accepting and close the socket; new clients are refused from then on. */
void listener_close(listener *l);

#endif
