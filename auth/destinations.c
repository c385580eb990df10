/* destinations.c - replication destinations with sealed passwords (see destinations.h). */
#include "auth/destinations.h"
#include "auth/sealed.h"
#include "storage/base/reg_error.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int destination_region_valid(const char *region)
{
    size_t n = strlen(region);
    if (n < 2 || n > REPLICATION_REGION_MAX)
        return 0;
    return strspn(region, "0123456789abcdefghijklmnopqrstuvwxyz-") == n;
}

int destination_registry_id_valid(const char *registry_id)
{
    return strlen(registry_id) == REPLICATION_REGISTRY_ID_LEN &&
           strspn(registry_id, "0123456789") == REPLICATION_REGISTRY_ID_LEN;
}

static int check_fields(const char *region, const char *registry_id, const char *url,
                        const char *username, const char *password, const char *ca_file)
{
    if (!destination_region_valid(region))
        return reg_error_set(REG_EINVALID, "a region is 2 to 25 of [0-9a-z-]");
    if (!destination_registry_id_valid(registry_id))
        return reg_error_set(REG_EINVALID, "a registry id is 12 digits");
    if ((strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) ||
        strlen(url) > DESTINATION_URL_MAX || strpbrk(url, " \t\r\n"))
        return reg_error_set(REG_EINVALID, "the URL must be http:// or https:// (at most %d bytes)",
                             DESTINATION_URL_MAX);
    const char *authority = strstr(url, "://") + 3;
    if (memchr(authority, '@', strcspn(authority, "/?#")))
        return reg_error_set(REG_EINVALID, "credentials go in --username and --password-stdin, "
                                           "not in the URL");
    if (username && (!*username || strlen(username) > 256 || strpbrk(username, ":\r\n")))
        return reg_error_set(REG_EINVALID, "a username is 1 to 256 bytes without ':'");
    if (password && (!username || strlen(password) > DESTINATION_PASSWORD_MAX))
        return reg_error_set(REG_EINVALID, "a password needs a username and at most %d bytes",
                             DESTINATION_PASSWORD_MAX);
    if (ca_file && (!*ca_file || strlen(ca_file) > DESTINATION_URL_MAX))
        return reg_error_set(REG_EINVALID, "the CA file path is too long");
    return REG_OK;
}

int destination_put(index_db *ix, const char *data_dir, const char *region, const char *registry_id,
                    const char *url, const char *username, const char *password,
                    const char *ca_file)
{
    unsigned char box[SEALED_SIZE(DESTINATION_PASSWORD_MAX)];
    size_t box_len = 0;
    int err = check_fields(region, registry_id, url, username, password, ca_file);
    if (err < 0)
        return err;
    if (password &&
        (err = sealed_text_seal(box, &box_len, data_dir, password, DESTINATION_PASSWORD_MAX)) < 0)
        return reg_error_wrap(err, "could not seal the password (DATA/keys/master.key)");
    replication_destination d = {
        .region = region,
        .registry_id = registry_id,
        .url = url,
        .username = username,
        .password = password ? box : NULL,
        .password_len = box_len,
        .ca_file = ca_file,
    };
    err = index_replication_destination_put(ix, &d);
    OPENSSL_cleanse(box, sizeof(box));
    return err;
}

struct open_ctx {
    destination_login *out;
    const char *data_dir;
};

static char *dup_or_null(const char *s, int *failed)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *failed = 1;
    return d;
}

static int open_password(destination_login *out, const char *data_dir,
                         const replication_destination *d)
{
    unsigned char master[SECRETBOX_KEY_LEN];
    if (!(out->password = calloc(1, DESTINATION_PASSWORD_MAX + 1)))
        return reg_error_set(REG_ERROR, "out of memory");
    int err = secretbox_key(master, data_dir);
    if (err == REG_OK)
        err = sealed_text_open(out->password, DESTINATION_PASSWORD_MAX + 1, master, d->password,
                               d->password_len);
    OPENSSL_cleanse(master, sizeof(master));
    if (err < 0)
        return reg_error_wrap(err, "could not open the destination's password");
    return REG_OK;
}

static int take_row(void *c, const replication_destination *d)
{
    struct open_ctx *x = c;
    int failed = 0;
    x->out->url = dup_or_null(d->url, &failed);
    x->out->username = dup_or_null(d->username, &failed);
    x->out->ca_file = dup_or_null(d->ca_file, &failed);
    if (failed)
        return reg_error_set(REG_ERROR, "out of memory");
    return d->password ? open_password(x->out, x->data_dir, d) : REG_OK;
}

int destination_open(destination_login *out, index_db *ix, const char *data_dir, const char *region,
                     const char *registry_id)
{
    struct open_ctx x = {out, data_dir};
    memset(out, 0, sizeof(*out));
    int err = index_replication_destination_get(ix, region, registry_id, take_row, &x);
    if (err < 0)
        destination_login_free(out);
    return err;
}

void destination_login_free(destination_login *l)
{
    if (!l)
        return;
    if (l->password)
        OPENSSL_cleanse(l->password, strlen(l->password));
    free(l->url);
    free(l->username);
    free(l->password);
    free(l->ca_file);
    memset(l, 0, sizeof(*l));
}

/* destination_open, saying what to do when there is no such destination. */
static int open_login(destination_login *out, index_db *ix, const char *data_dir,
                      const char *region, const char *registry_id)
{
    int err = destination_open(out, ix, data_dir, region, registry_id);
    if (err == REG_ENOTFOUND)
        return reg_error_set(err,
                             "no destination %s/%s is configured (ocireg replication destination "
                             "add)",
                             region, registry_id);
    return err;
}

/* A client of the destination the login describes. */
static int open_client(remote **out, const destination_login *l)
{
    remote_endpoint ep = {
        .url = l->url, .username = l->username, .password = l->password, .ca_file = l->ca_file};
    return remote_open(out, &ep);
}

int destination_connect(remote **out, index_db *ix, const char *data_dir, const char *region,
                        const char *registry_id)
{
    destination_login login;
    int err = open_login(&login, ix, data_dir, region, registry_id);
    if (err < 0)
        return err;
    err = open_client(out, &login);
    destination_login_free(&login);
    return err;
}

/* ---- the pool ---- */

typedef struct pooled {
    struct pooled *next;
    char key[REPLICATION_REGION_MAX + REPLICATION_REGISTRY_ID_LEN + 2];
    destination_login login; /* what the client was opened with */
    remote *client;
    int refs;
    int stale; /* replaced by a newer login: closes when the last user puts it back */
} pooled;

struct destination_pool {
    pthread_mutex_t lock;
    char *data_dir;
    pooled *entries; /* current and stale ones */
};

int destination_pool_new(destination_pool **out, const char *data_dir)
{
    destination_pool *p = calloc(1, sizeof(*p));
    if (!p || !(p->data_dir = strdup(data_dir))) {
        free(p);
        return reg_error_set(REG_ERROR, "out of memory");
    }
    pthread_mutex_init(&p->lock, NULL);
    *out = p;
    return REG_OK;
}

static void pooled_free(pooled *e)
{
    remote_close(e->client);
    destination_login_free(&e->login);
    free(e);
}

void destination_pool_free(destination_pool *p)
{
    if (!p)
        return;
    while (p->entries) {
        pooled *e = p->entries;
        p->entries = e->next;
        pooled_free(e);
    }
    pthread_mutex_destroy(&p->lock);
    free(p->data_dir);
    free(p);
}

static int same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int same_login(const destination_login *a, const destination_login *b)
{
    return same_text(a->url, b->url) && same_text(a->username, b->username) &&
           same_text(a->password, b->password) && same_text(a->ca_file, b->ca_file);
}

/* Under the lock: the current entry of key with this login, others of the key made stale. */
static pooled *find_current(destination_pool *p, const char *key, const destination_login *l)
{
    pooled *found = NULL;
    for (pooled *e = p->entries; e; e = e->next) {
        if (e->stale || strcmp(e->key, key) != 0)
            continue;
        if (same_login(&e->login, l))
            found = e;
        else
            e->stale = 1;
    }
    return found;
}

/* Under the lock: close stale entries nobody uses. */
static void sweep(destination_pool *p)
{
    for (pooled **at = &p->entries; *at;) {
        pooled *e = *at;
        if (e->stale && e->refs == 0) {
            *at = e->next;
            pooled_free(e);
        } else {
            at = &e->next;
        }
    }
}

static int pooled_open(pooled **out, const char *key, destination_login *login)
{
    pooled *e = calloc(1, sizeof(*e));
    if (!e)
        return reg_error_set(REG_ERROR, "out of memory");
    int err = open_client(&e->client, login);
    if (err < 0) {
        free(e);
        return err;
    }
    snprintf(e->key, sizeof(e->key), "%s", key);
    e->login = *login;
    memset(login, 0, sizeof(*login));
    *out = e;
    return REG_OK;
}

int destination_pool_get(remote **out, destination_pool *p, index_db *ix, const char *region,
                         const char *registry_id)
{
    char key[REPLICATION_REGION_MAX + REPLICATION_REGISTRY_ID_LEN + 2];
    destination_login login;
    pooled *e = NULL;
    snprintf(key, sizeof(key), "%s/%s", region, registry_id);
    int err = open_login(&login, ix, p->data_dir, region, registry_id);
    if (err < 0)
        return err;
    pthread_mutex_lock(&p->lock);
    if (!(e = find_current(p, key, &login)) && (err = pooled_open(&e, key, &login)) == REG_OK) {
        e->next = p->entries;
        p->entries = e;
    }
    if (err == REG_OK) {
        e->refs++;
        *out = e->client;
    }
    sweep(p);
    pthread_mutex_unlock(&p->lock);
    destination_login_free(&login);
    return err;
}

void destination_pool_put(destination_pool *p, remote *client)
{
    if (!client)
        return;
    pthread_mutex_lock(&p->lock);
    for (pooled *e = p->entries; e; e = e->next)
        if (e->client == client)
            e->refs--;
    sweep(p);
    pthread_mutex_unlock(&p->lock);
}
