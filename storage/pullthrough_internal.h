/* pullthrough_internal.h - what pullthrough.c (manifests, the cache) and pullthrough_blob.c
 * (blob fills) share: the cache's state, its fetches under way ("flights", one per key), and the
 * upstream connections kept per rule. Not for use outside them. */
#ifndef OCIREG_PULLTHROUGH_INTERNAL_H
#define OCIREG_PULLTHROUGH_INTERNAL_H

#include "storage/pullthrough.h"

#include <pthread.h>
#include <time.h>

#define FLIGHT_KEY_MAX (REPO_NAME_MAX + DIGEST_MAX + 8)
/* A blob fill wakes its waiting readers per this many new bytes, not per piece from curl
 * (fewer context switches; a reader's timed wait picks up a smaller remainder). */
#define PULLTHROUGH_WAKE_STEP (256u << 10)

/* One upstream client per rule, shared (remote is thread-safe; its token cache is the point). */
typedef struct upstream {
    struct upstream *next;
    char key[CACHE_PREFIX_MAX + CACHE_URL_MAX + CACHE_USERNAME_MAX + 32];
    remote *client;
    int refs; /* users, plus one while it is in the list */
} upstream;

/* A fetch under way: the first request for a key leads it, later ones wait for its result or
 * (blobs) read its bytes as they arrive. Guarded by its own lock; refs by the cache's. */
typedef struct flight {
    struct flight *next;
    pullthrough *pt;
    char key[FLIGHT_KEY_MAX];
    int refs;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int done; /* the result is in err (and stale, msg) */
    int err;
    int stale;
    char msg[256];
    /* blob fills */
    int started;      /* size is known, the transfer runs */
    int64_t size;     /* -1: unknown */
    uint64_t written; /* bytes surely in fd */
    uint64_t woken;   /* written, when waiting readers were last woken */
    int waiting;      /* readers in a timed wait for more bytes */
    int verified;     /* every byte is in and has the blob's digest (the commit may follow) */
    int fd;           /* the bytes so far, which readers pread: the session's spool, or */
    int own_file;     /* an unlinked file of the fill's own, written beside the session */
    char repo[REPO_NAME_MAX + 1];
    char path[REPO_NAME_MAX + DIGEST_MAX + 16]; /* "/v2/<upstream repo>/blobs/<digest>" */
    char scope[REPO_NAME_MAX + 32];
    digest dg;
    upstream *up;
    upload *session;
    struct timespec began; /* of the transfer (CLOCK_MONOTONIC) */
} flight;

struct pullthrough {
    store *s;
    index_writer *writer;
    pullthrough_log_fn log;
    pullthrough_limits limits;
    pthread_mutex_t lock; /* guards flights, upstreams, running */
    pthread_cond_t idle;  /* signalled when a fill thread ends */
    flight *flights;
    upstream *upstreams;
    int running;             /* fill threads */
    pullthrough_stats stats; /* relaxed atomic adds */
};

/* The shared client for the source's rule (opened on first use); put it back after use. */
int upstream_get(upstream **out, pullthrough *pt, const pullthrough_source *src);
void upstream_put(pullthrough *pt, upstream *u);

/* Under pt->lock: the flight of key, with a reference taken, or NULL. */
flight *flight_find(pullthrough *pt, const char *key);
/* Under pt->lock: a new flight of key in the list (two references: the list's and the
 * caller's). NULL when out of memory. */
flight *flight_start(pullthrough *pt, const char *key);
/* Record the result, wake the waiters, leave the list. */
void flight_finish(flight *f, int err, int stale);
/* Wait for the result: its err (and stale), with its message as reg_error_last. */
int flight_wait(flight *f, int *stale_out);
void flight_put(flight *f);

/* The cached repository exists from its first fill on, whether pushes create repositories or
 * not. */
int pullthrough_ensure_repo(index_db *ix, const char *repo);

/* Log a line through the cache's log function. */
void pullthrough_logf(pullthrough *pt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define STAT_ADD(pt, field, n) __atomic_add_fetch(&(pt)->stats.field, (n), __ATOMIC_RELAXED)

/* The upstream's answer as an error: REG_ENOTFOUND for 404, REG_ERROR with its status for the
 * rest (401, 403, 429, 5xx...). */
int upstream_status_error(const pullthrough_source *src, const char *path, long status);

#endif
