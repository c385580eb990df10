/* pullthrough.c - the pull-through cache (see pullthrough.h): its upstream clients, its fetches
 * under way, and manifest fills and tag checks (blob fills: pullthrough_blob.c). */
#include "storage/pullthrough_internal.h"
#include "storage/base/reg_error.h"
#include "storage/cache_rules.h"
#include "storage/index/index_repos.h"
#include "storage/manifest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What a manifest fetch accepts: every manifest type the registry stores. */
static const char *const manifest_headers[] = {
    "Accept: application/vnd.oci.image.index.v1+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json",
    NULL};

int pullthrough_new(pullthrough **out, store *s, index_writer *w, const pullthrough_limits *limits,
                    pullthrough_log_fn log)
{
    pullthrough *pt = calloc(1, sizeof(*pt));
    if (!pt)
        return reg_error_set(REG_ERROR, "out of memory");
    pt->s = s;
    pt->limits = *limits;
    pt->writer = w;
    pt->log = log;
    pthread_mutex_init(&pt->lock, NULL);
    pthread_cond_init(&pt->idle, NULL);
    *out = pt;
    return REG_OK;
}

void pullthrough_free(pullthrough *pt)
{
    if (!pt)
        return;
    pthread_mutex_lock(&pt->lock);
    while (pt->running)
        pthread_cond_wait(&pt->idle, &pt->lock);
    pthread_mutex_unlock(&pt->lock);
    for (upstream *u = pt->upstreams, *next; u; u = next) {
        next = u->next;
        remote_close(u->client);
        free(u);
    }
    pthread_cond_destroy(&pt->idle);
    pthread_mutex_destroy(&pt->lock);
    free(pt);
}

void pullthrough_logf(pullthrough *pt, const char *fmt, ...)
{
    char line[REG_ERROR_MAX + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (pt->log)
        pt->log(line);
}

void pullthrough_stats_get(pullthrough_stats *out, pullthrough *pt)
{
    out->manifest_fills = __atomic_load_n(&pt->stats.manifest_fills, __ATOMIC_RELAXED);
    out->blob_fills = __atomic_load_n(&pt->stats.blob_fills, __ATOMIC_RELAXED);
    out->blob_bytes = __atomic_load_n(&pt->stats.blob_bytes, __ATOMIC_RELAXED);
    out->upstream_failures = __atomic_load_n(&pt->stats.upstream_failures, __ATOMIC_RELAXED);
    out->stale_served = __atomic_load_n(&pt->stats.stale_served, __ATOMIC_RELAXED);
    out->joined = __atomic_load_n(&pt->stats.joined, __ATOMIC_RELAXED);
}

/* ---- upstream clients, one per rule ---- */

/* A rule deleted and made again (or another user) gets a new client. */
static void upstream_key(char *out, size_t n, const pullthrough_source *src)
{
    snprintf(out, n, "%s|%lld|%s|%s", src->rule->prefix, (long long)src->rule->created_at,
             src->rule->upstream_url, src->rule->username);
}

int upstream_get(upstream **out, pullthrough *pt, const pullthrough_source *src)
{
    char key[sizeof(((upstream *)0)->key)];
    upstream_key(key, sizeof(key), src);
    pthread_mutex_lock(&pt->lock);
    for (upstream **p = &pt->upstreams, *u; (u = *p); p = &u->next) {
        if (!strcmp(u->key, key)) {
            u->refs++;
            pthread_mutex_unlock(&pt->lock);
            *out = u;
            return REG_OK;
        }
        if (!strncmp(u->key, key, strlen(src->rule->prefix) + 1)) {
            *p = u->next; /* the rule changed: the old client goes with its last user */
            if (--u->refs == 0) {
                remote_close(u->client);
                free(u);
            }
            break;
        }
    }
    upstream *u = calloc(1, sizeof(*u));
    int err = u ? remote_open(&u->client, src->ep) : reg_error_set(REG_ERROR, "out of memory");
    if (err == REG_OK) {
        snprintf(u->key, sizeof(u->key), "%s", key);
        u->refs = 2;
        u->next = pt->upstreams;
        pt->upstreams = u;
        *out = u;
    } else {
        free(u);
    }
    pthread_mutex_unlock(&pt->lock);
    return err;
}

void upstream_put(pullthrough *pt, upstream *u)
{
    if (!u)
        return;
    pthread_mutex_lock(&pt->lock);
    int last = --u->refs == 0;
    pthread_mutex_unlock(&pt->lock);
    if (last) {
        remote_close(u->client);
        free(u);
    }
}

int upstream_status_error(const pullthrough_source *src, const char *path, long status)
{
    if (status == 404)
        return reg_error_set(REG_ENOTFOUND, "upstream %s has no %s", src->rule->upstream_url, path);
    return reg_error_set(REG_ERROR, "upstream %s answered %ld for %s", src->rule->upstream_url,
                         status, path);
}

int pullthrough_ensure_repo(index_db *ix, const char *repo)
{
    int64_t id;
    int err = index_begin(ix);
    if (err < 0)
        return err;
    if ((err = index_repo_ensure(&id, ix, repo)) < 0 || (err = index_commit(ix)) < 0)
        index_rollback(ix);
    return err;
}

/* ---- flights ---- */

flight *flight_find(pullthrough *pt, const char *key)
{
    for (flight *f = pt->flights; f; f = f->next)
        if (!strcmp(f->key, key)) {
            f->refs++;
            return f;
        }
    return NULL;
}

flight *flight_start(pullthrough *pt, const char *key)
{
    flight *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->pt = pt;
    snprintf(f->key, sizeof(f->key), "%s", key);
    f->refs = 2;
    f->fd = -1;
    f->size = -1;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->changed, NULL);
    f->next = pt->flights;
    pt->flights = f;
    return f;
}

static void flight_unlist(flight *f)
{
    pullthrough *pt = f->pt;
    pthread_mutex_lock(&pt->lock);
    for (flight **p = &pt->flights; *p; p = &(*p)->next)
        if (*p == f) {
            *p = f->next;
            f->refs--;
            break;
        }
    pthread_mutex_unlock(&pt->lock);
}

void flight_finish(flight *f, int err, int stale)
{
    flight_unlist(f);
    pthread_mutex_lock(&f->lock);
    f->err = err;
    f->stale = stale;
    snprintf(f->msg, sizeof(f->msg), "%s",
             err < 0 || stale ? reg_error_last("upstream failed") : "");
    f->done = 1;
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->lock);
}

int flight_wait(flight *f, int *stale_out)
{
    pthread_mutex_lock(&f->lock);
    while (!f->done)
        pthread_cond_wait(&f->changed, &f->lock);
    int err = f->err;
    if (stale_out)
        *stale_out = f->stale;
    if (err < 0 || f->stale)
        reg_error_set(err < 0 ? err : REG_ERROR, "%s", f->msg);
    pthread_mutex_unlock(&f->lock);
    return err;
}

void flight_put(flight *f)
{
    if (!f)
        return;
    pullthrough *pt = f->pt;
    pthread_mutex_lock(&pt->lock);
    int last = --f->refs == 0;
    pthread_mutex_unlock(&pt->lock);
    if (!last)
        return;
    if (f->fd >= 0)
        close(f->fd);
    upstream_put(pt, f->up);
    pthread_cond_destroy(&f->changed);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

/* ---- manifests ---- */

/* "application/json; charset=utf-8" -> "application/json" (bounded). */
static const char *bare_media_type(char *out, size_t n, const char *content_type)
{
    if (!content_type)
        return NULL;
    snprintf(out, n, "%.*s", (int)strcspn(content_type, "; \t"), content_type);
    return out[0] ? out : NULL;
}

/* Where a manifest of the source's repository is upstream: its path for `ref` (a tag or a
 * digest) and the scope that pulls it. */
typedef struct upstream_manifest {
    char path[REPO_NAME_MAX + DIGEST_MAX + 32];
    char scope[REPO_NAME_MAX + 32];
} upstream_manifest;

static int upstream_manifest_of(upstream_manifest *out, const pullthrough_source *src,
                                const char *ref)
{
    char upstream_repo[REPO_NAME_MAX + 1];
    int err = cache_upstream_repo(upstream_repo, sizeof(upstream_repo), src->rule, src->repo);
    if (err < 0)
        return err;
    snprintf(out->path, sizeof(out->path), "/v2/%s/manifests/%s", upstream_repo, ref);
    snprintf(out->scope, sizeof(out->scope), "repository:%s:pull", upstream_repo);
    return REG_OK;
}

/* Send `method` for the manifest `ref` (a tag or digest) of src upstream: REG_OK when it
 * answered 200, the answer in *resp (remote_response_free it, also after an error); `doing`
 * names the request in the error of a failed send. */
static int ask_manifest(remote_response *resp, const pullthrough_source *src, upstream *up,
                        const char *method, const char *ref, uint64_t max_body, const char *doing)
{
    upstream_manifest at;
    memset(resp, 0, sizeof(*resp));
    int err = upstream_manifest_of(&at, src, ref);
    if (err < 0)
        return err;
    remote_request rq = {.method = method,
                         .path = at.path,
                         .scope = at.scope,
                         .headers = manifest_headers,
                         .max_body = max_body};
    if ((err = remote_send(resp, up->client, &rq)) < 0)
        return reg_error_wrap(err, "%s", doing);
    return resp->status == 200 ? REG_OK : upstream_status_error(src, at.path, resp->status);
}

/* GET the manifest at `what` (a tag or digest) and store it, under `tag` when not NULL.
 * `expected`: the digest its bytes must have (by digest, or the one a HEAD announced). */
static int fetch_manifest(pullthrough *pt, index_db *ix, const pullthrough_source *src,
                          upstream *up, const char *what, const char *tag, const digest *expected)
{
    char media[256];
    remote_response resp;
    int err =
        ask_manifest(&resp, src, up, "GET", what, MANIFEST_MAX_BYTES, "upstream manifest fetch");
    if (err < 0)
        goto done;
    digest announced;
    if (!expected && resp.docker_content_digest &&
        digest_parse(&announced, resp.docker_content_digest) == REG_OK)
        expected = &announced;
    const char *const tags[1] = {tag};
    manifest_push push = {.repo = src->repo,
                          .content_type = bare_media_type(media, sizeof(media), resp.content_type),
                          .body = (const char *)resp.body,
                          .len = resp.body_len,
                          .expected = expected,
                          .tags = tags,
                          .ntags = tag ? 1 : 0,
                          .refs_later = 1};
    err = store_push_manifest(pt->s, ix, &push);
    manifest_info_free(push.info);
    if (err == REG_OK)
        STAT_ADD(pt, manifest_fills, 1);
    else
        reg_error_wrap(err, "manifest from the upstream not stored");
done:
    remote_response_free(&resp);
    return err;
}

/* HEAD the tag upstream: its digest into out ("" when the answer names none). */
static int head_tag(digest *out, const pullthrough_source *src, upstream *up, const char *tag)
{
    remote_response resp;
    int err = ask_manifest(&resp, src, up, "HEAD", tag, 0, "upstream tag check");
    if (err == REG_OK &&
        (!resp.docker_content_digest || digest_parse(out, resp.docker_content_digest) < 0))
        out->str[0] = '\0';
    remote_response_free(&resp);
    return err;
}

/* In a write transaction of its own, as every index write. */
static int record_check(index_db *ix, const char *repo, const char *tag, int64_t when)
{
    int err = index_begin(ix);
    if (err < 0)
        return err;
    if ((err = index_cache_tag_checked(ix, repo, tag, when)) < 0 || (err = index_commit(ix)) < 0)
        index_rollback(ix);
    return err;
}

/* Whether the cached tag was checked within the rule's TTL. */
static int tag_is_fresh(index_db *ix, const pullthrough_source *src, const char *tag)
{
    int64_t checked = 0;
    if (index_cache_tag_checked_at(&checked, ix, src->repo, tag) < 0)
        return 0;
    return (int64_t)time(NULL) - checked < src->rule->ttl_seconds;
}

int pullthrough_fresh(index_db *ix, const cache_rule *rule, const char *repo, const reference *ref,
                      int cached)
{
    pullthrough_source src = {.rule = rule, .repo = repo};
    return cached && (ref->is_digest || tag_is_fresh(ix, &src, ref->tag));
}

/* Check a cached tag upstream and follow it when it moved. */
static int refresh_tag(pullthrough *pt, index_db *ix, const pullthrough_source *src, upstream *up,
                       const char *tag, const manifest_row *cached)
{
    digest now;
    if (!cached) /* nothing to compare: the manifest at once */
        return fetch_manifest(pt, ix, src, up, tag, tag, NULL);
    int err = head_tag(&now, src, up, tag);
    if (err < 0)
        return err;
    if (!now.str[0]) /* no digest in the answer: the manifest itself tells */
        return fetch_manifest(pt, ix, src, up, tag, tag, NULL);
    if (!strcmp(now.str, cached->dg.str))
        return REG_OK;
    return fetch_manifest(pt, ix, src, up, now.str, tag, &now);
}

/* The fill or check itself, by the flight's leader. */
static int fill_manifest(int *stale_out, pullthrough *pt, index_db *ix,
                         const pullthrough_source *src, const reference *ref)
{
    upstream *up = NULL;
    manifest_row row;
    int cached = !ref->is_digest && index_manifest_by_tag(&row, ix, src->repo, ref->tag) == REG_OK;
    int err = pullthrough_ensure_repo(ix, src->repo);
    if (err == REG_OK)
        err = upstream_get(&up, pt, src);
    if (err == REG_OK)
        err = ref->is_digest ? fetch_manifest(pt, ix, src, up, ref->dg.str, NULL, &ref->dg)
                             : refresh_tag(pt, ix, src, up, ref->tag, cached ? &row : NULL);
    upstream_put(pt, up);
    if (err < 0)
        STAT_ADD(pt, upstream_failures, 1);
    if (ref->is_digest)
        return err;
    int64_t now = (int64_t)time(NULL), retry = src->rule->ttl_seconds < PULLTHROUGH_RETRY_SECONDS
                                                   ? src->rule->ttl_seconds
                                                   : PULLTHROUGH_RETRY_SECONDS;
    if (err < 0 && cached) {
        char why[REG_ERROR_MAX];
        snprintf(why, sizeof(why), "%s", reg_error_last("upstream failed"));
        STAT_ADD(pt, stale_served, 1);
        pullthrough_logf(pt, "pull-through: serving the cached %s:%s (%s): %s", src->repo, ref->tag,
                         row.dg.str, why);
        record_check(ix, src->repo, ref->tag, now - src->rule->ttl_seconds + retry);
        reg_error_set(REG_ERROR, "%s", why);
        *stale_out = 1;
        return REG_OK;
    }
    if (err == REG_OK)
        record_check(ix, src->repo, ref->tag, now);
    return err;
}

/* Under pt->lock, before leading a fetch: whether another just finished it. */
static int filled_meanwhile(index_db *ix, const pullthrough_source *src, const reference *ref)
{
    manifest_row row;
    if (ref->is_digest)
        return index_manifest_by_digest(&row, ix, src->repo, &ref->dg) == REG_OK;
    return index_manifest_by_tag(&row, ix, src->repo, ref->tag) == REG_OK &&
           tag_is_fresh(ix, src, ref->tag);
}

int pullthrough_manifest(int *stale_out, pullthrough *pt, index_db *ix,
                         const pullthrough_source *src, const reference *ref, int cached)
{
    char key[FLIGHT_KEY_MAX];
    *stale_out = 0;
    if (pullthrough_fresh(ix, src->rule, src->repo, ref, cached))
        return REG_OK;
    snprintf(key, sizeof(key), "m:%s:%s", src->repo, ref->is_digest ? ref->dg.str : ref->tag);
    pthread_mutex_lock(&pt->lock);
    flight *f = flight_find(pt, key);
    if (!f && filled_meanwhile(ix, src, ref)) {
        pthread_mutex_unlock(&pt->lock);
        return REG_OK;
    }
    int leader = !f;
    if (leader && !(f = flight_start(pt, key))) {
        pthread_mutex_unlock(&pt->lock);
        return reg_error_set(REG_ERROR, "out of memory");
    }
    pthread_mutex_unlock(&pt->lock);
    int err;
    if (leader) {
        err = fill_manifest(stale_out, pt, ix, src, ref);
        flight_finish(f, err, *stale_out);
    } else {
        STAT_ADD(pt, joined, 1);
        err = flight_wait(f, stale_out);
    }
    flight_put(f);
    return err;
}
