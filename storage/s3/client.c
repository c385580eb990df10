/* client.c - an S3 client of s3.h: its own copy of the configuration, libcurl loaded and set
 * up once, the DNS and TLS caches its requests share, and the pool of curl handles. */
#include "storage/s3/s3_internal.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
    curl_init_result = CURLE_FAILED_INIT;
    if (dynlib_load_curl() == REG_OK)
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *user)
{
    s3_client *c = user;
    if ((unsigned)data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *user)
{
    s3_client *c = user;
    if ((unsigned)data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&c->share_locks[data]);
}

/* A configuration may be built by hand rather than parsed, so it is checked again. */
static int copy_config(s3_config *out, const s3_config *in)
{
    memset(out, 0, sizeof(*out));
    if (!in->bucket || !in->endpoint || !in->region || !in->access_key || !in->secret_key ||
        !config_text_ok("region", in->region) || !config_text_ok("access_key", in->access_key) ||
        !config_text_ok("secret_key", in->secret_key) ||
        (in->prefix && !config_text_ok("prefix", in->prefix)))
        return REG_EINVALID;
    *out = *in;
    out->bucket = strdup(in->bucket);
    out->endpoint = strdup(in->endpoint);
    out->region = strdup(in->region);
    out->access_key = strdup(in->access_key);
    out->secret_key = strdup(in->secret_key);
    out->prefix = strdup(in->prefix ? in->prefix : "");
    if (!out->bucket || !out->endpoint || !out->region || !out->access_key || !out->secret_key ||
        !out->prefix) {
        s3_config_free(out);
        return REG_ERROR;
    }
    if (out->timeout_ms <= 0)
        out->timeout_ms = 30000;
    if (out->max_retries < 0)
        out->max_retries = 0;
    if (out->list_page_size < 0 || out->list_page_size > 1000)
        out->list_page_size = 0;
    return REG_OK;
}

/* The client's base URL, Host and bucket path, path-style or virtual-hosted. */
static int set_addresses(s3_client *c, const char *endpoint)
{
    const char *authority = strstr(endpoint, "://") + 3;
    size_t scheme_len = (size_t)(authority - endpoint);
    size_t need = strlen(endpoint) + strlen(c->cfg.bucket) + 2;
    c->base = malloc(need);
    c->host = malloc(need);
    c->bucket_path = malloc(strlen(c->cfg.bucket) + 2);
    if (!c->base || !c->host || !c->bucket_path)
        return reg_error_set(REG_ERROR, "out of memory");
    if (c->cfg.path_style) {
        snprintf(c->base, need, "%s", endpoint);
        snprintf(c->host, need, "%s", authority);
        snprintf(c->bucket_path, strlen(c->cfg.bucket) + 2, "/%s", c->cfg.bucket);
    } else {
        snprintf(c->base, need, "%.*s%s.%s", (int)scheme_len, endpoint, c->cfg.bucket, authority);
        snprintf(c->host, need, "%s.%s", c->cfg.bucket, authority);
        c->bucket_path[0] = '\0';
    }
    snprintf(c->sigv4, sizeof(c->sigv4), "aws:amz:%s:s3", c->cfg.region);
    return REG_OK;
}

/* DNS answers and TLS sessions shared by the client's handles. */
static int share_new(s3_client *c)
{
    DYNLIB_CURL_LOCAL(curl_share_setopt);
    if (!(c->share = curl_share_init()) ||
        curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_USERDATA, c) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
        return reg_error_set(REG_ERROR, "curl_share_init failed");
    return REG_OK;
}

int s3_client_new(s3_client **out, const s3_config *cfg)
{
    s3_client *c = calloc(1, sizeof(*c));
    char *endpoint = NULL;
    int err = REG_ERROR;
    if (!c)
        return reg_error_set(REG_ERROR, "out of memory");
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_locks[i], NULL);
    pthread_mutex_init(&c->pool_lock, NULL);
    pthread_once(&curl_once, curl_init);
    if (curl_init_result != CURLE_OK) {
        if (dynlib_load_curl() == REG_OK)
            reg_error_set(REG_ERROR, "curl_global_init failed");
        err = reg_error_wrap(REG_ERROR, "S3 storage needs libcurl");
        goto fail;
    }
    if ((err = copy_config(&c->cfg, cfg)) < 0 ||
        (err = normalize_endpoint(&endpoint, c->cfg.endpoint)) < 0 ||
        (err = check_bucket(c->cfg.bucket, c->cfg.path_style)) < 0) {
        reg_error_set(err, "incomplete or invalid S3 configuration");
        goto fail;
    }
    if ((err = set_addresses(c, endpoint)) < 0 || (err = share_new(c)) < 0)
        goto fail;
    free(endpoint);
    *out = c;
    return REG_OK;
fail:
    free(endpoint);
    s3_client_free(c);
    return err;
}

void s3_client_free(s3_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nidle; i++)
        curl_easy_cleanup(c->idle[i]);
    if (c->share)
        curl_share_cleanup(c->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->share_locks[i]);
    pthread_mutex_destroy(&c->pool_lock);
    free(c->base);
    free(c->host);
    free(c->bucket_path);
    s3_config_free(&c->cfg);
    free(c);
}

/* A curl handle for one request; its open connections come along from the last user. */
CURL *handle_take(s3_client *c)
{
    DYNLIB_CURL_LOCAL(curl_easy_setopt);
    CURL *h = NULL;
    pthread_mutex_lock(&c->pool_lock);
    if (c->nidle > 0)
        h = c->idle[--c->nidle];
    pthread_mutex_unlock(&c->pool_lock);
    if (h)
        return h;
    if (!(h = curl_easy_init()))
        return NULL;
    if (curl_easy_setopt(h, CURLOPT_SHARE, c->share) != CURLE_OK) {
        curl_easy_cleanup(h);
        return NULL;
    }
    return h;
}

void handle_give(s3_client *c, CURL *h)
{
    pthread_mutex_lock(&c->pool_lock);
    if (c->nidle < POOL_MAX_IDLE) {
        c->idle[c->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_lock);
    if (h)
        curl_easy_cleanup(h);
}

/* Keys are relative to cfg.prefix, must not be empty, and must fit S3's limit with it. */
int check_key(const s3_client *c, const char *key)
{
    size_t len = key ? strlen(key) : 0;
    if (len == 0 || len + strlen(c->cfg.prefix) > S3_MAX_KEY || !is_clean_text(key, len))
        return reg_error_set(REG_EINVALID, "invalid S3 key \"%.64s\"", key ? key : "(null)");
    return REG_OK;
}
