/* ratelimit.c - fixed-size, mutex-protected failure counters (see ratelimit.h). */
#include "auth/ratelimit.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define SLOTS 4096

typedef struct slot {
    uint64_t key;
    int failures;
    time_t window_start;
    time_t blocked_until;
} slot;

static slot table[SLOTS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t key_hash(const char *key)
{
    unsigned char md[32];
    unsigned n = 0;
    uint64_t h = 0;
    if (EVP_Digest(key, strlen(key), md, &n, EVP_sha256(), NULL) == 1)
        memcpy(&h, md, sizeof(h));
    return h | 1; /* 0 marks a free slot */
}

static slot *find(uint64_t h)
{
    return &table[h % SLOTS];
}

int ratelimit_blocked(const char *key, time_t now)
{
    uint64_t h = key_hash(key);
    int left = 0;
    pthread_mutex_lock(&table_lock);
    slot *s = find(h);
    if (s->key == h && s->blocked_until > now)
        left = (int)(s->blocked_until - now);
    pthread_mutex_unlock(&table_lock);
    return left;
}

void ratelimit_failure(const char *key, time_t now)
{
    uint64_t h = key_hash(key);
    pthread_mutex_lock(&table_lock);
    slot *s = find(h);
    if (s->key != h || now - s->window_start > RATELIMIT_WINDOW) {
        s->key = h;
        s->failures = 0;
        s->window_start = now;
        s->blocked_until = 0;
    }
    if (++s->failures >= RATELIMIT_FAILURES)
        s->blocked_until = now + RATELIMIT_BLOCK;
    pthread_mutex_unlock(&table_lock);
}

void ratelimit_success(const char *key)
{
    uint64_t h = key_hash(key);
    pthread_mutex_lock(&table_lock);
    slot *s = find(h);
    if (s->key == h)
        memset(s, 0, sizeof(*s));
    pthread_mutex_unlock(&table_lock);
}
