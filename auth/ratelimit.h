/* ratelimit.h - failed-login throttling per user name and per client address: after
 * RATELIMIT_FAILURES failures within RATELIMIT_WINDOW seconds a key is refused for
 * RATELIMIT_BLOCK seconds. Bounded memory (a fixed table; old entries are overwritten). */
#ifndef OCIREG_RATELIMIT_H
#define OCIREG_RATELIMIT_H

#include <time.h>

#define RATELIMIT_FAILURES 10
#define RATELIMIT_WINDOW 300
#define RATELIMIT_BLOCK 60

/* Seconds the key is still blocked for, 0 if it may try. */
int ratelimit_blocked(const char *key, time_t now);
void ratelimit_failure(const char *key, time_t now);
void ratelimit_success(const char *key);

#endif
