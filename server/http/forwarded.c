/* forwarded.c - X-Forwarded-For hops and the client behind trusted proxies (see forwarded.h). */
#include "server/http/forwarded.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define ADDRESS_TEXT_MAX INET6_ADDRSTRLEN

void forwarded_add(forwarded_hops *h, const char *value)
{
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
}

int forwarded_is_trusted(const char *trusted, const char *addr)
{
    size_t n = strlen(addr);
    for (const char *p = trusted; n && *p;) {
        size_t len = strcspn(p, ", ");
        if (len == n && memcmp(p, addr, n) == 0)
            return 1;
        p += len;
        p += strspn(p, ", ");
    }
    return 0;
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

void forwarded_client(char *out, size_t n, const forwarded_hops *h, const char *trusted)
{
    char hop[ADDRESS_TEXT_MAX];
    size_t kept = h->count < CLIENT_FORWARDED_HOPS_MAX ? h->count : CLIENT_FORWARDED_HOPS_MAX;
    for (size_t i = 0; i < kept; i++) {
        size_t slot = (h->count - 1 - i) % CLIENT_FORWARDED_HOPS_MAX;
        if (!canonical_address(hop, sizeof(hop), h->at[slot], h->len[slot]))
            return;
        snprintf(out, n, "%s", hop);
        if (!forwarded_is_trusted(trusted, hop))
            return;
    }
}
