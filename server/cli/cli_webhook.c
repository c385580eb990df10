/* cli_webhook.c - `ocireg webhook` (see cli_webhook.h). */
#include "server/cli/cli_webhook.h"
#include "server/cli/cli_args.h"
#include "auth/sealed.h"
#include "storage/events.h"
#include "storage/index/index_outbox.h"
#include "storage/index/index_webhooks.h"
#include "storage/webhook.h"
#include "storage/base/reg_error.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WEBHOOK_NAME_MAX   64
#define WEBHOOK_URL_MAX    2048
#define WEBHOOK_PREFIX_MAX 256
#define USERINFO_MAX       511 /* bytes of the "user:password" a webhook URL may carry */
#define DELIVERIES_SHOWN   100 /* `deliveries` lists the newest this many */

static const char usage[] =
    "Usage: ocireg webhook add NAME URL [--events push,delete,replication,pull-through]\n"
    "                          [--repository-prefix P] [--secret-stdin] [--data DIR]\n"
    "       ocireg webhook list [--json] [--data DIR]\n"
    "       ocireg webhook delete NAME [--data DIR]\n"
    "       ocireg webhook test NAME [--registry-id ID] [--region R] [--data DIR]\n"
    "       ocireg webhook deliveries NAME [--failed] [--json] [--data DIR]\n"
    "       ocireg webhook redeliver NAME [ID...] [--data DIR]\n\n"
    "Every push and delete (and replication, pull-through fill) is queued in the index in the\n"
    "transaction of the change and POSTed by `ocireg serve` to each webhook that wants it, as\n"
    "EventBridge's \"ECR Image Action\" JSON, retried with backoff until a 2xx answer, parked\n"
    "after --outbox-max-attempts. --events defaults to push,delete. With --secret-stdin the\n"
    "first line of standard input is the signing secret: each body is signed with\n"
    "X-Ocireg-Signature: sha256=HEX (HMAC-SHA256). A URL's user:password@ and the secret are\n"
    "stored encrypted and never shown. `redeliver` without IDs sends every parked event again.\n";

static const char *const bools[] = {"secret-stdin", "json", "failed", NULL};
static const char *const valued[] = {"events", "repository-prefix", "registry-id", "region", NULL};

static int valid_name(const char *name)
{
    size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
    return n > 0 && n <= WEBHOOK_NAME_MAX && name[n] == '\0';
}

/* "https://user:pw@host/x" -> url "https://host/x", userinfo "user:pw" (both out of `url`). */
static int split_url(char *url, char *userinfo, size_t n)
{
    char *rest = NULL;
    userinfo[0] = '\0';
    if (!strncmp(url, "http://", 7))
        rest = url + 7;
    else if (!strncmp(url, "https://", 8))
        rest = url + 8;
    if (!rest || strlen(url) >= WEBHOOK_URL_MAX || strpbrk(url, " \t\r\n"))
        return reg_error_set(REG_EINVALID, "expected an http:// or https:// URL");
    size_t host = strcspn(rest, "/?#");
    char *at = memchr(rest, '@', host);
    if (!at)
        return REG_OK;
    if ((size_t)(at - rest) >= n)
        return reg_error_set(REG_EINVALID, "the URL's user and password are too long");
    snprintf(userinfo, n, "%.*s", (int)(at - rest), rest);
    memmove(rest, at + 1, strlen(at + 1) + 1);
    return REG_OK;
}

static int add(index_db *ix, const cli_args *a)
{
    char url[WEBHOOK_URL_MAX + 1], userinfo[USERINFO_MAX + 1], secret[WEBHOOK_SECRET_MAX + 2];
    unsigned char creds_box[SEALED_SIZE(USERINFO_MAX)], secret_box[SEALED_SIZE(WEBHOOK_SECRET_MAX)];
    const char *events = cli_opt(a, "events"), *prefix = cli_opt(a, "repository-prefix");
    webhook_row w = {.name = (char *)a->pos[1],
                     .url = url,
                     .repo_prefix = (char *)prefix,
                     .created_at = (int64_t)time(NULL)};
    int err = REG_OK;
    snprintf(url, sizeof(url), "%s", a->pos[2]);
    if (!valid_name(a->pos[1]))
        err = reg_error_set(REG_EINVALID,
                            "a webhook name is 1 to %d letters, digits, '.', '_', "
                            "'-'",
                            WEBHOOK_NAME_MAX);
    else if (prefix && strlen(prefix) > WEBHOOK_PREFIX_MAX)
        err = reg_error_set(REG_EINVALID, "the repository prefix is longer than %d bytes",
                            WEBHOOK_PREFIX_MAX);
    if (err == REG_OK)
        err = events_parse_types(&w.events, events ? events : "push,delete");
    if (err == REG_OK)
        err = split_url(url, userinfo, sizeof(userinfo));
    if (err == REG_OK && userinfo[0] &&
        (err = sealed_text_seal(creds_box, &w.credentials_len, a->data_dir, userinfo,
                                USERINFO_MAX)) == REG_OK)
        w.credentials = creds_box;
    if (err == REG_OK && cli_opt(a, "secret-stdin") &&
        (err = cli_read_secret(secret, sizeof(secret), WEBHOOK_SECRET_MAX, "the secret")) ==
            REG_OK &&
        (err = sealed_text_seal(secret_box, &w.secret_len, a->data_dir, secret,
                                WEBHOOK_SECRET_MAX)) == REG_OK)
        w.secret = secret_box;
    if (err == REG_OK)
        err = index_webhook_add(ix, &w);
    OPENSSL_cleanse(userinfo, sizeof(userinfo));
    OPENSSL_cleanse(secret, sizeof(secret));
    if (err < 0)
        fprintf(stderr, "ocireg webhook add: %s\n", reg_error_last("cannot add the webhook"));
    else
        printf("webhook %s added\n", a->pos[1]);
    return err < 0 ? (err == REG_EINVALID ? 2 : 1) : 0;
}

static int print_webhook(void *ctx, const webhook_row *w)
{
    char events[128];
    events_format_types(events, sizeof(events), w->events);
    if (ctx)
        json_array_append_new(ctx, json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:I}", "name", w->name,
                                             "url", w->url, "events", events, "repositoryPrefix",
                                             w->repo_prefix, "signed", w->secret != NULL,
                                             "credentials", w->credentials != NULL, "created",
                                             (json_int_t)w->created_at));
    else
        printf("%-20s %-40s %-30s %-16s%s%s\n", w->name, w->url, events,
               w->repo_prefix[0] ? w->repo_prefix : "*", w->secret ? " signed" : "",
               w->credentials ? " credentials" : "");
    return REG_OK;
}

/* With --json (all not NULL) and a listing that succeeded, print the array gathered; free it. */
static void print_list(json_t *all, int err)
{
    if (all && err == REG_OK) {
        char *text = json_dumps(all, JSON_INDENT(2));
        printf("%s\n", text ? text : "[]");
        free(text);
    }
    json_decref(all);
}

static int list(index_db *ix, const cli_args *a)
{
    json_t *all = cli_opt(a, "json") ? json_array() : NULL;
    int err = index_webhook_each(ix, print_webhook, all);
    print_list(all, err);
    if (err < 0)
        fprintf(stderr, "ocireg webhook list: %s\n", index_errmsg(ix));
    return err < 0;
}

static int delete (index_db *ix, const cli_args *a)
{
    int err = index_begin(ix);
    if (err == REG_OK)
        err = index_end(ix, index_webhook_delete(ix, a->pos[1]));
    if (err < 0)
        fprintf(stderr, "ocireg webhook delete: %s\n", reg_error_last(index_errmsg(ix)));
    else
        printf("webhook %s deleted\n", a->pos[1]);
    return err < 0;
}

/* A PUSH event of a made-up image, POSTed now, waiting for the answer. */
static int test(index_db *ix, const cli_args *a)
{
    unsigned char key[SECRETBOX_KEY_LEN];
    webhook_row w;
    long status = 0;
    const char *id = cli_opt(a, "registry-id"), *region = cli_opt(a, "region");
    webhook_sender s = {.registry_id = id ? id : "000000000000",
                        .region = region ? region : "us-east-1",
                        .master_key = key,
                        .open = sealed_text_open};
    event ev = {.type = EVENT_PUSH,
                .repository = "ocireg-webhook-test",
                .digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                .tag = "test"};
    char *payload = NULL;
    int err = index_webhook_get(&w, ix, a->pos[1]);
    if (err < 0) {
        fprintf(stderr, "ocireg webhook test: %s\n", reg_error_last(index_errmsg(ix)));
        return 1;
    }
    if ((err = secretbox_key(key, a->data_dir)) == REG_OK && !(payload = events_payload(&ev)))
        err = reg_error_set(REG_ERROR, "out of memory");
    if (err == REG_OK)
        err = webhook_post(&status, &s, &w, ev.repository, payload);
    OPENSSL_cleanse(key, sizeof(key));
    if (err < 0)
        fprintf(stderr, "ocireg webhook test: %s\n", reg_error_last("delivery failed"));
    else
        printf("delivered: HTTP %ld\n", status);
    free(payload);
    index_webhook_row_clear(&w);
    return err < 0;
}

static void format_ms(char *out, size_t n, int64_t ms)
{
    struct tm tm;
    time_t t = (time_t)(ms / 1000);
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int print_delivery(void *ctx, const outbox_row *r)
{
    json_t *p = json_loads(r->payload, 0, NULL), *detail = json_object_get(p, "detail");
    const char *id = json_string_value(json_object_get(p, "id"));
    const char *action = json_string_value(json_object_get(detail, "action-type"));
    const char *tag = json_string_value(json_object_get(detail, "image-tag"));
    const char *dg = json_string_value(json_object_get(detail, "image-digest"));
    char created[32], updated[32];
    format_ms(created, sizeof(created), r->created);
    format_ms(updated, sizeof(updated), r->updated);
    if (ctx)
        json_array_append_new(
            ctx, json_pack("{s:I, s:s, s:s?, s:s, s:s?, s:s?, s:s?, s:I, s:s, s:s, s:s?}", "id",
                           (json_int_t)r->id, "state", r->state, "eventId", id, "repository",
                           r->repository, "action", action, "tag", tag, "digest", dg, "attempts",
                           (json_int_t)r->attempts, "created", created, "updated", updated,
                           "lastError", r->last_error));
    else
        printf("%-8lld %-8s %-3lld %s %-7s %s%s%s %s\n", (long long)r->id, r->state,
               (long long)r->attempts, created, action ? action : "-", r->repository,
               tag ? ":" : "", tag ? tag : "", r->last_error ? r->last_error : "");
    json_decref(p);
    return REG_OK;
}

static int deliveries(index_db *ix, const cli_args *a)
{
    webhook_row w;
    json_t *all = cli_opt(a, "json") ? json_array() : NULL;
    int err = index_webhook_get(&w, ix, a->pos[1]);
    if (err == REG_OK) {
        index_webhook_row_clear(&w);
        err = index_outbox_list(ix, "webhook", a->pos[1], cli_opt(a, "failed") != NULL,
                                DELIVERIES_SHOWN, print_delivery, all);
    }
    print_list(all, err);
    if (err < 0)
        fprintf(stderr, "ocireg webhook deliveries: %s\n", reg_error_last(index_errmsg(ix)));
    return err < 0;
}

static int redeliver(index_db *ix, const cli_args *a)
{
    webhook_row w;
    int64_t total = 0, n = 0;
    int err = index_webhook_get(&w, ix, a->pos[1]);
    if (err == REG_OK)
        index_webhook_row_clear(&w);
    for (int i = 2; err == REG_OK && i < a->npos; i++) {
        char *end = NULL;
        long long id = strtoll(a->pos[i], &end, 10);
        if (!*a->pos[i] || *end || id < 0)
            err = reg_error_set(REG_EINVALID, "not a delivery id: %s", a->pos[i]);
        else if ((err = index_outbox_redeliver(&n, ix, "webhook", a->pos[1], id,
                                               (int64_t)time(NULL) * 1000)) == REG_OK)
            total += n;
    }
    if (err == REG_OK && a->npos == 2 &&
        (err = index_outbox_redeliver(&n, ix, "webhook", a->pos[1], -1,
                                      (int64_t)time(NULL) * 1000)) == REG_OK)
        total = n;
    if (err < 0)
        fprintf(stderr, "ocireg webhook redeliver: %s\n", reg_error_last(index_errmsg(ix)));
    else
        printf("%lld deliveries queued again\n", (long long)total);
    return err < 0;
}

int cli_webhook_main(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(&a, argc, argv, bools, valued, usage);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    const char *verb = a.npos > 0 ? a.pos[0] : "";
    int known =
        (!strcmp(verb, "add") && a.npos == 3) || (!strcmp(verb, "list") && a.npos == 1) ||
        ((!strcmp(verb, "delete") || !strcmp(verb, "test") || !strcmp(verb, "deliveries")) &&
         a.npos == 2) ||
        (!strcmp(verb, "redeliver") && a.npos >= 2);
    if (!known)
        return cli_usage_error(usage);
    index_db *ix = cli_open_index(&a);
    if (!ix)
        return 1;
    if (!strcmp(verb, "add"))
        rc = add(ix, &a);
    else if (!strcmp(verb, "list"))
        rc = list(ix, &a);
    else if (!strcmp(verb, "delete"))
        rc = delete (ix, &a);
    else if (!strcmp(verb, "test"))
        rc = test(ix, &a);
    else if (!strcmp(verb, "deliveries"))
        rc = deliveries(ix, &a);
    else
        rc = redeliver(ix, &a);
    index_close(ix);
    return rc;
}
