/* ratelimit.c - the keyed, bounded failure table and the login rules over it (see
 * ratelimit.h). */
#include "auth/ratelimit.h"
#include "storage/base/random.h"
#include "storage/base/reg_error.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_LEN    32
#define TAG_LEN       16
#define LOGIN_KEY_MAX 512

typedef struct counter {
    unsigned char tag[TAG_LEN];
    int failures;
    time_t window_start;
    time_t blocked_until;
} counter;

typedef struct counter_set {
    counter way[RATELIMIT_WAYS];
    counter overflow; /* every key of the set that found no free way */
} counter_set;

struct ratelimit_table {
    pthread_mutex_t lock;
    unsigned char secret[SECRET_LEN];
    size_t nsets;
    counter_set sets[];
};

ratelimit_table *ratelimit_table_new(size_t nsets)
{
    if (nsets == 0 || nsets > SIZE_MAX / sizeof(counter_set) - 1)
        return NULL;
    ratelimit_table *t = calloc(1, sizeof(*t) + nsets * sizeof(counter_set));
    if (!t)
        return NULL;
    if (random_bytes(t->secret, SECRET_LEN) < 0) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    t->nsets = nsets;
    return t;
}

void ratelimit_table_free(ratelimit_table *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* HMAC-SHA256(secret, key): the first 8 bytes choose the set, the next 16 are the tag. A MAC
 * failure (out of memory) maps every key to set 0 with one tag: throttled together, never
 * untracked. */
static counter_set *locate(unsigned char *tag, ratelimit_table *t, const void *key, size_t len)
{
    unsigned char mac[32] = {0};
    size_t mac_len = 0;
    uint64_t index = 0;
    EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, t->secret, SECRET_LEN, key, len, mac, sizeof(mac),
              &mac_len);
    memcpy(&index, mac, sizeof(index));
    memcpy(tag, mac + sizeof(index), TAG_LEN);
    return &t->sets[index % t->nsets];
}

static int is_live(const counter *c, time_t now)
{
    return c->failures > 0 && (c->blocked_until > now || now - c->window_start <= RATELIMIT_WINDOW);
}

static counter *find(counter_set *s, const unsigned char *tag, time_t now)
{
    for (int i = 0; i < RATELIMIT_WAYS; i++)
        if (is_live(&s->way[i], now) && memcmp(s->way[i].tag, tag, TAG_LEN) == 0)
            return &s->way[i];
    return NULL;
}

/* The counter that answers for the key: its own, else the set's overflow when that is live. */
static counter *counter_of(counter_set *s, const unsigned char *tag, time_t now)
{
    counter *c = find(s, tag, now);
    if (!c && is_live(&s->overflow, now))
        c = &s->overflow;
    return c;
}

ratelimit_count ratelimit_table_get(ratelimit_table *t, const void *key, size_t len, time_t now)
{
    unsigned char tag[TAG_LEN];
    ratelimit_count out = {0, 0};
    counter_set *s = locate(tag, t, key, len);
    pthread_mutex_lock(&t->lock);
    const counter *c = counter_of(s, tag, now);
    if (c) {
        out.failures = c->failures;
        out.wait = c->blocked_until > now ? (int)(c->blocked_until - now) : 0;
    }
    pthread_mutex_unlock(&t->lock);
    return out;
}

/* A counter for a key that has none: an expired way (the longest expired first is as good as
 * any: none holds anything), or the overflow counter while every way is live. */
static counter *claim(counter_set *s, const unsigned char *tag, time_t now)
{
    if (is_live(&s->overflow, now))
        return &s->overflow; /* keys counted there stay there until it expires */
    for (int i = 0; i < RATELIMIT_WAYS; i++) {
        counter *c = &s->way[i];
        if (!is_live(c, now)) {
            memset(c, 0, sizeof(*c));
            memcpy(c->tag, tag, TAG_LEN);
            return c;
        }
    }
    memset(&s->overflow, 0, sizeof(s->overflow));
    return &s->overflow;
}

void ratelimit_table_fail(ratelimit_table *t, const void *key, size_t len, int limit, time_t now)
{
    unsigned char tag[TAG_LEN];
    counter_set *s = locate(tag, t, key, len);
    pthread_mutex_lock(&t->lock);
    counter *c = find(s, tag, now);
    if (!c)
        c = claim(s, tag, now);
    if (c->failures == 0 || (now - c->window_start > RATELIMIT_WINDOW && c->blocked_until <= now)) {
        c->failures = 0;
        c->window_start = now;
        c->blocked_until = 0;
    }
    if (++c->failures >= limit)
        c->blocked_until = now + RATELIMIT_BLOCK;
    pthread_mutex_unlock(&t->lock);
}

void ratelimit_table_forget(ratelimit_table *t, const void *key, size_t len, time_t now)
{
    unsigned char tag[TAG_LEN];
    counter_set *s = locate(tag, t, key, len);
    pthread_mutex_lock(&t->lock);
    counter *c = find(s, tag, now);
    if (c)
        memset(c, 0, sizeof(*c));
    pthread_mutex_unlock(&t->lock);
}

/* ---- the login rules ---- */

static ratelimit_table *login_table;
static pthread_once_t login_once = PTHREAD_ONCE_INIT;

static void make_login_table(void)
{
    login_table = ratelimit_table_new(RATELIMIT_SETS);
}

/* An IPv6 address stands for its /64: one host usually has the whole prefix to pick from. */
static const char *address_scope(char *out, size_t n, const char *addr)
{
    struct in6_addr a;
    char text[INET6_ADDRSTRLEN];
    if (!addr || inet_pton(AF_INET6, addr, &a) != 1 || IN6_IS_ADDR_V4MAPPED(&a))
        return addr ? addr : "";
    memset(a.s6_addr + 8, 0, 8);
    if (!inet_ntop(AF_INET6, &a, text, sizeof(text)))
        return addr;
    snprintf(out, n, "%s/64", text);
    return out;
}

/* A kind letter, then the fields NUL-separated, so that no two (kind, user, address) triples
 * make the same bytes. Returns the length. */
static size_t login_key(char *out, char kind, const char *user, const char *addr)
{
    char scope[INET6_ADDRSTRLEN + 4];
    int n = snprintf(out, LOGIN_KEY_MAX, "%c%s%c%s", kind, user ? user : "", '\0',
                     addr ? address_scope(scope, sizeof(scope), addr) : "");
    return n < 0 ? 0 : (size_t)n < LOGIN_KEY_MAX ? (size_t)n : LOGIN_KEY_MAX - 1;
}

static ratelimit_table *table(void)
{
    pthread_once(&login_once, make_login_table);
    return login_table;
}

static int max_wait(int a, int b)
{
    return a > b ? a : b;
}

int ratelimit_login_wait(const char *user, const char *addr, time_t now)
{
    char pair[LOGIN_KEY_MAX], address[LOGIN_KEY_MAX], name[LOGIN_KEY_MAX];
    ratelimit_table *t = table();
    if (!t)
        return reg_error_set(REG_ERROR, "the login throttle table cannot be made");
    ratelimit_count p = ratelimit_table_get(t, pair, login_key(pair, 'p', user, addr), now);
    ratelimit_count a = ratelimit_table_get(t, address, login_key(address, 'a', NULL, addr), now);
    ratelimit_count u = ratelimit_table_get(t, name, login_key(name, 'u', user, NULL), now);
    int wait = max_wait(p.wait, a.wait);
    if (a.failures > 0)
        wait = max_wait(wait, u.wait);
    return wait;
}

void ratelimit_login_failed(const char *user, const char *addr, time_t now)
{
    char key[LOGIN_KEY_MAX];
    ratelimit_table *t = table();
    if (!t)
        return;
    ratelimit_table_fail(t, key, login_key(key, 'p', user, addr), RATELIMIT_FAILURES, now);
    ratelimit_table_fail(t, key, login_key(key, 'a', NULL, addr), RATELIMIT_ADDRESS_FAILURES, now);
    ratelimit_table_fail(t, key, login_key(key, 'u', user, NULL), RATELIMIT_USER_FAILURES, now);
}

void ratelimit_login_succeeded(const char *user, const char *addr, time_t now)
{
    char key[LOGIN_KEY_MAX];
    ratelimit_table *t = table();
    if (t)
        ratelimit_table_forget(t, key, login_key(key, 'p', user, addr), now);
}
