/* linger.h - graceful close ("lingering close", as Apache and nginx do it) of connections that
 * libmicrohttpd ends: the write side is shut, and input still arriving is read and dropped for
 * a bounded time before the socket closes. Closing with unread input makes the kernel send a
 * reset, which destroys an answer the client has not read yet (a 400 to a TLS ClientHello on
 * the plain port, an early 401/403/413 to a request whose body is still coming). */
#ifndef OCIREG_LINGER_H
#define OCIREG_LINGER_H

#define LINGER_MAX_SOCKETS 1024 /* sockets lingering at once; beyond, close at once */
#define LINGER_MS          2000 /* longest a socket lingers */

typedef struct linger_set linger_set;

/* Start the lingering thread. REG_OK or REG_ERROR. */
int linger_start(linger_set **out);

/* Take ownership of fd (a duplicate of a connection's socket that libmicrohttpd is closing):
 * shut its write side and close it once the peer has closed, LINGER_MS have passed or at
 * linger_stop; at once when the peer already has or the table is full. NULL l: close now.
 * `unanswered` (a whole HTTP response, or NULL) is written first when the peer sent bytes and
 * was sent none: libmicrohttpd closes without a word on a request line it cannot parse. */
void linger_close(linger_set *l, int fd, const char *unanswered);

/* Stop the thread and close every lingering socket. NULL does nothing. */
void linger_stop(linger_set *l);

#endif
