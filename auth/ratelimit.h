/* ratelimit.h - failed-login throttling: failure counters per (user, client address), per
 * client address and per user in a bounded table keyed by a per-process secret. */
#ifndef OCIREG_RATELIMIT_H
#define OCIREG_RATELIMIT_H

#include <stddef.h>
#include <time.h>

/* Every counter counts failures in a window that opens at its first failure and lasts
 * RATELIMIT_WINDOW seconds; reaching its limit blocks it for RATELIMIT_BLOCK seconds (and again
 * at each further failure in the window). A login is refused while
 *   - its (user, address) pair has had RATELIMIT_FAILURES failures, or
 *   - its address has had RATELIMIT_ADDRESS_FAILURES failures (under any names), or
 *   - its user has had RATELIMIT_USER_FAILURES failures (from any addresses) AND the address
 *     itself has failed within its window: guessing spread over many addresses is slowed to
 *     one try per fresh address, while a correct password from an address that has not been
 *     failing is never refused.
 * An IPv6 address counts as its /64 prefix. A success forgets only its (user, address) pair. */
#define RATELIMIT_FAILURES         10
#define RATELIMIT_ADDRESS_FAILURES 30
#define RATELIMIT_USER_FAILURES    10
#define RATELIMIT_WINDOW           300
#define RATELIMIT_BLOCK            60
/* The login table: RATELIMIT_SETS sets of RATELIMIT_WAYS counters (about 1.4 MiB). */
#define RATELIMIT_SETS 4096
#define RATELIMIT_WAYS 8

/* Seconds a login of `user` from `addr` must wait, 0 if it may try, REG_ERROR if the table
 * cannot be made (no memory or randomness: the caller refuses the login). */
int ratelimit_login_wait(const char *user, const char *addr, time_t now);
void ratelimit_login_failed(const char *user, const char *addr, time_t now);
/* Forgets the (user, address) pair's failures only: neither the address's nor the user's. */
void ratelimit_login_succeeded(const char *user, const char *addr, time_t now);

/* The table under the login rules, for tests. A key is hashed with HMAC-SHA256 under the
 * table's random secret to a set and a 128-bit tag, so nobody can choose keys that share a
 * set. A counter is never replaced while it is live (within its window or blocked): a new key
 * takes an expired counter of its set, or, when all are live, is counted in the set's
 * overflow counter, which answers for every key its set does not hold. A full set therefore
 * never forgets a failure: at worst keys of a flooded set share one counter, and are throttled
 * together, until its counters expire. */
typedef struct ratelimit_table ratelimit_table;

typedef struct ratelimit_count {
    int failures; /* within the window */
    int wait;     /* seconds still blocked, 0 if not */
} ratelimit_count;

/* NULL if out of memory or randomness; nsets > 0. */
ratelimit_table *ratelimit_table_new(size_t nsets);
void ratelimit_table_free(ratelimit_table *t);
ratelimit_count ratelimit_table_get(ratelimit_table *t, const void *key, size_t len, time_t now);
/* Count a failure; the key is blocked once it has `limit` failures in its window. */
void ratelimit_table_fail(ratelimit_table *t, const void *key, size_t len, int limit, time_t now);
/* Forget the key's own counter (never a set's overflow counter, which others share). */
void ratelimit_table_forget(ratelimit_table *t, const void *key, size_t len, time_t now);

#endif
