/* client.c - the request's client address, through trusted proxies (see client.h). */
#include "server/http/client.h"

#include <arpa/inet.h>
#include <stdio.h>
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

static int is_trusted(const server *srv, const char *addr)
{
    size_t n = strlen(addr);
    for (const char *p = srv->cfg.trusted_proxies; n && *p;) {
        size_t len = strcspn(p, ", ");
        if (len == n && memcmp(p, addr, n) == 0)
            return 1;
        p += len;
        p += strspn(p, ", ");
    }
    return 0;
}

int request_from_trusted_proxy(request *req)
{
    char addr[ADDRESS_TEXT_MAX];
    if (!req->srv->cfg.trusted_proxies[0])
        return 0;
    request_peer_address(addr, sizeof(addr), req);
    return is_trusted(req->srv, addr);
}

/* The hops of every X-Forwarded-For header in order, the last CLIENT_FORWARDED_HOPS_MAX kept
 * (as spans into the header values, which live as long as the request). */
typedef struct hops {
    const char *at[CLIENT_FORWARDED_HOPS_MAX];
    size_t len[CLIENT_FORWARDED_HOPS_MAX];
    size_t count; /* every hop seen; the last min(count, MAX) are kept */
} hops;

static enum MHD_Result collect_hops(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    hops *h = cls;
    (void)kind;
    if (strcasecmp(key, "X-Forwarded-For") != 0 || !value)
        return MHD_YES;
    for (const char *p = value; *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        size_t trimmed = len;
        while (trimmed > 0 && (p[trimmed - 1] == ' ' || p[trimmed - 1] == '\t'))
            trimmed--;
        if (trimmed > 0) {
            h->at[h->count % CLIENT_FORWARDED_HOPS_MAX] = p;
            h->len[h->count % CLIENT_FORWARDED_HOPS_MAX] = trimmed;
            h->count++;
        }
        p += len;
    }
    return MHD_YES;
}

/* A hop as a canonical IP address (as inet_ntop writes it), or 0 if it is not one. */
static int canonical_address(char *out, size_t n, const char *hop, size_t len)
{
    char text[ADDRESS_TEXT_MAX];
    unsigned char raw[sizeof(struct in6_addr)];
    if (len >= sizeof(text))
        return 0;
    memcpy(text, hop, len);
    text[len] = '\0';
    if (inet_pton(AF_INET, text, raw) == 1)
        return inet_ntop(AF_INET, raw, out, (socklen_t)n) != NULL;
    if (inet_pton(AF_INET6, text, raw) == 1)
        return inet_ntop(AF_INET6, raw, out, (socklen_t)n) != NULL;
    return 0;
}

void request_client_address(char *out, size_t n, request *req)
{
    hops h = {.count = 0};
    char hop[ADDRESS_TEXT_MAX];
    request_peer_address(out, n, req);
    if (!request_from_trusted_proxy(req))
        return;
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, collect_hops, &h);
    size_t kept = h.count < CLIENT_FORWARDED_HOPS_MAX ? h.count : CLIENT_FORWARDED_HOPS_MAX;
    for (size_t i = 0; i < kept; i++) {
        size_t slot = (h.count - 1 - i) % CLIENT_FORWARDED_HOPS_MAX;
        if (!canonical_address(hop, sizeof(hop), h.at[slot], h.len[slot]))
            return;
        snprintf(out, n, "%s", hop);
        if (!is_trusted(req->srv, hop))
            return;
    }
}
