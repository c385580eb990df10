/* pulls.c - batched last-pull times (see pulls.h): an open-addressing table under a mutex. */
#include "storage/pulls.h"
#include "storage/index/index_repos.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS  1024
#define PROBES 8

typedef struct pull_entry {
    char repo[REPO_NAME_MAX + 1];
    char digest[DIGEST_MAX];
    int64_t when; /* 0: free */
} pull_entry;

struct pull_table {
    pthread_mutex_t lock;
    pull_entry *slots;
};

int pulls_new(pull_table **out)
{
    pull_table *t = calloc(1, sizeof(*t));
    if (!t || !(t->slots = calloc(SLOTS, sizeof(*t->slots)))) {
        free(t);
        return REG_ERROR;
    }
    pthread_mutex_init(&t->lock, NULL);
    *out = t;
    return REG_OK;
}

void pulls_free(pull_table *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t->slots);
    free(t);
}

static uint32_t hash(const char *repo, const char *digest)
{
    uint32_t h = 2166136261u;
    for (const char *p = repo; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    for (const char *p = digest; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

void pulls_note(pull_table *t, const char *repo, const char *digest, int64_t when)
{
    if (strlen(repo) > REPO_NAME_MAX || strlen(digest) >= DIGEST_MAX)
        return;
    uint32_t h = hash(repo, digest);
    pthread_mutex_lock(&t->lock);
    for (int i = 0; i < PROBES; i++) {
        pull_entry *e = &t->slots[(h + (uint32_t)i) % SLOTS];
        if (e->when && (strcmp(e->digest, digest) != 0 || strcmp(e->repo, repo) != 0))
            continue;
        if (!e->when) {
            strcpy(e->repo, repo);
            strcpy(e->digest, digest);
        }
        e->when = when;
        break;
    }
    pthread_mutex_unlock(&t->lock);
}

int pulls_flush(pull_table *t, index_db *ix)
{
    pull_entry *batch = malloc(SLOTS * sizeof(*batch));
    int n = 0, err;
    if (!batch)
        return REG_ERROR;
    pthread_mutex_lock(&t->lock);
    for (int i = 0; i < SLOTS; i++)
        if (t->slots[i].when) {
            batch[n++] = t->slots[i];
            t->slots[i].when = 0;
        }
    pthread_mutex_unlock(&t->lock);
    if (n == 0 || (err = index_begin(ix)) < 0) {
        free(batch);
        return n == 0 ? 0 : err;
    }
    for (int i = 0; err == REG_OK && i < n; i++)
        err = index_record_pull(ix, batch[i].repo, batch[i].digest, batch[i].when);
    if ((err = index_end(ix, err)) == REG_OK)
        err = n;
    free(batch);
    return err;
}
