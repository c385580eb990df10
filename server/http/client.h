/* client.h - who sent a request: the socket's peer address, or, when the peer is a trusted
 * proxy (--trusted-proxy), the client address it forwarded in X-Forwarded-For. */
#ifndef OCIREG_SERVER_CLIENT_H
#define OCIREG_SERVER_CLIENT_H

#include "server/http/http.h"

/* The socket peer's address as text (empty when unknown). */
void request_peer_address(char *out, size_t n, request *req);
/* Whether the socket peer is one of the configured trusted proxies. */
int request_from_trusted_proxy(request *req);
/* The client's address as text (empty when unknown): the peer's, or behind trusted proxies the
 * rightmost X-Forwarded-For address that is not itself a trusted proxy (an entry that is not an
 * IP address ends the walk at the hop before it). Used for throttling and the access log. */
void request_client_address(char *out, size_t n, request *req);

#endif
