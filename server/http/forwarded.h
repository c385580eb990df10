/* forwarded.h - X-Forwarded-For read as hostile text: the hops of its headers collected in
 * order (bounded), and the client address found walking them from the right past trusted proxies.
 */
#ifndef OCIREG_SERVER_FORWARDED_H
#define OCIREG_SERVER_FORWARDED_H

#include <stddef.h>

/* Hops of X-Forwarded-For looked at, from the right; more are ignored. */
#define CLIENT_FORWARDED_HOPS_MAX 16

/* The hops of every X-Forwarded-For header in order, the last CLIENT_FORWARDED_HOPS_MAX kept
 * as spans into the header values (which must outlive the struct). Zero-initialise it. */
typedef struct forwarded_hops {
    const char *at[CLIENT_FORWARDED_HOPS_MAX];
    size_t len[CLIENT_FORWARDED_HOPS_MAX];
    size_t count; /* every hop seen; the last min(count, MAX) are kept */
} forwarded_hops;

/* Adds the comma-separated hops of one X-Forwarded-For header value (blank hops skipped). */
void forwarded_add(forwarded_hops *h, const char *value);

/* Whether addr is one of the comma- or space-separated addresses in trusted. */
int forwarded_is_trusted(const char *trusted, const char *addr);

/* Walks the hops from the right: out (n bytes, already holding the peer's address) becomes
 * each hop in turn, as a canonical IP address, until one is not a trusted proxy; an entry that
 * is not an IP address ends the walk at the hop before it. */
void forwarded_client(char *out, size_t n, const forwarded_hops *h, const char *trusted);

#endif
