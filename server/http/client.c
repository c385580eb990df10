/* client.c - the request's client address, through trusted proxies (see client.h). */
#include "server/http/client.h"
#include "server/http/forwarded.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define ADDRESS_TEXT_MAX INET6_ADDRSTRLEN

void request_peer_address(char *out, size_t n, request *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
}

int request_from_trusted_proxy(request *req)
{
    char addr[ADDRESS_TEXT_MAX];
    if (!req->srv->cfg.trusted_proxies[0])
        return 0;
    request_peer_address(addr, sizeof(addr), req);
    return forwarded_is_trusted(req->srv->cfg.trusted_proxies, addr);
}

static enum MHD_Result collect_hops(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    if (strcasecmp(key, "X-Forwarded-For") == 0 && value)
        forwarded_add(cls, value);
    return MHD_YES;
}

void request_client_address(char *out, size_t n, request *req)
{
    forwarded_hops h = {.count = 0};
    request_peer_address(out, n, req);
    if (!request_from_trusted_proxy(req))
        return;
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, collect_hops, &h);
    forwarded_client(out, n, &h, req->srv->cfg.trusted_proxies);
}
