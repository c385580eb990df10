/* console_ops.c - what the admin and image pages show of pull-through cache rules, replication
 * and the outbox (never a password, a URL's userinfo or path), and redelivery of a webhook's
 * parked events. Administrators only. */
#include "server/console/console_ops.h"
#include "auth/scope.h"
#include "server/console/console_api.h"
#include "server/console/console_reply.h"
#include "storage/base/reg_error.h"
#include "storage/index/index_cache.h"
#include "storage/index/index_outbox.h"
#include "storage/index/index_replication.h"
#include "storage/index/index_webhooks.h"

#include <string.h>
#include <time.h>

/* A URL's host[:port], with its scheme ("https://host") when `scheme`: no userinfo, no path. */
static json_t *url_host(const char *url, int scheme)
{
    const char *sep = strstr(url, "://");
    const char *auth = sep ? sep + 3 : url;
    size_t n = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', n);
    while (at && memchr(at + 1, '@', n - (size_t)(at + 1 - auth)))
        at = memchr(at + 1, '@', n - (size_t)(at + 1 - auth));
    if (at) {
        n -= (size_t)(at + 1 - auth);
        auth = at + 1;
    }
    if (scheme && sep)
        return json_sprintf("%.*s://%.*s", (int)(sep - url), url, (int)n, auth);
    return json_sprintf("%.*s", (int)n, auth);
}

static int add_cache_rule(void *ctx, const cache_rule *r)
{
    json_t *rule = json_pack("{s:s, s:o, s:s, s:I, s:b, s:I}", "prefix", r->prefix, "upstreamUrl",
                             url_host(r->upstream_url, 1), "upstreamPrefix", r->upstream_prefix,
                             "ttlSeconds", (json_int_t)r->ttl_seconds, "credentials",
                             r->username[0] || r->password_len || r->credential_arn[0], "createdAt",
                             (json_int_t)r->created_at);
    return rule && json_array_append_new(ctx, rule) == 0 ? REG_OK : REG_ERROR;
}

/* The rule numbered `n` of the configuration being read, made when first met. */
static json_t *rule_at(json_t *rules, int64_t n)
{
    char key[24];
    snprintf(key, sizeof(key), "%lld", (long long)n);
    json_t *rule = json_object_get(rules, key);
    if (!rule && json_object_set_new(
                     rules, key, rule = json_pack("{s:[], s:[]}", "destinations", "filters")) < 0)
        return NULL;
    return rule;
}

/* Append item (a new reference, taken) to list `list` of rule `rule`. */
static int append_to_rule(void *ctx, int64_t rule, const char *list, json_t *item)
{
    json_t *r = rule_at(ctx, rule);
    if (!r) {
        json_decref(item);
        return REG_ERROR;
    }
    return json_array_append_new(json_object_get(r, list), item) == 0 ? REG_OK : REG_ERROR;
}

static int add_rule_destination(void *ctx, int64_t rule, const char *region,
                                const char *registry_id)
{
    return append_to_rule(ctx, rule, "destinations",
                          json_pack("{s:s, s:s}", "region", region, "registryId", registry_id));
}

static int add_rule_filter(void *ctx, int64_t rule, const char *filter, const char *type)
{
    return append_to_rule(ctx, rule, "filters",
                          json_pack("{s:s, s:s}", "filter", filter, "filterType", type));
}

static int add_destination(void *ctx, const replication_destination *d)
{
    json_t *dest =
        json_pack("{s:s, s:s, s:o, s:b, s:I}", "region", d->region, "registryId", d->registry_id,
                  "host", url_host(d->url ? d->url : "", 0), "credentials",
                  d->username || d->password_len, "createdAt", (json_int_t)d->created_at);
    return dest && json_array_append_new(ctx, dest) == 0 ? REG_OK : REG_ERROR;
}

/* The configuration's rules in order, as an array. */
static json_t *rules_array(json_t *by_number)
{
    json_t *list = json_array(), *rule;
    const char *key;
    json_object_foreach(by_number, key, rule)
    {
        json_array_append(list, rule);
    }
    return list;
}

int console_ops_admin(json_t *out, index_db *ix)
{
    json_t *cache = json_array(), *rules = json_object(), *dests = json_array();
    int64_t parked = 0;
    int err = index_cache_rules(ix, NULL, add_cache_rule, cache);
    if (err == REG_OK)
        err = index_replication_rule_destinations(ix, add_rule_destination, rules);
    if (err == REG_OK)
        err = index_replication_rule_filters(ix, add_rule_filter, rules);
    if (err == REG_OK)
        err = index_replication_destinations(ix, add_destination, dests);
    if (err == REG_OK)
        err = index_outbox_parked(&parked, ix);
    json_object_set_new(out, "cacheRules", cache);
    json_object_set_new(
        out, "replication",
        json_pack("{s:o, s:o}", "rules", rules_array(rules), "destinations", dests));
    json_decref(rules);
    json_object_set_new(json_object_get(out, "outbox"), "parked", json_integer(parked));
    return err;
}

static int add_status(void *ctx, const char *region, const char *registry_id, const char *status,
                      const char *reason, int64_t updated_at)
{
    json_t *s = json_pack("{s:s, s:s, s:s, s:I}", "region", region, "registryId", registry_id,
                          "status", status, "updatedAt", (json_int_t)updated_at);
    if (s && reason)
        json_object_set_new(s, "reason", json_string(reason));
    return s && json_array_append_new(ctx, s) == 0 ? REG_OK : REG_ERROR;
}

/* The rule a cached repository came from and when each of the image's tags was checked. */
static int add_cache(json_t *img, index_db *ix, const char *repo)
{
    cache_rule rule;
    json_t *tag, *checks = json_array();
    size_t i;
    int err = index_cache_rule_match(&rule, ix, repo);
    if (err < 0) {
        json_decref(checks);
        return err == REG_ENOTFOUND ? REG_OK : err;
    }
    json_array_foreach(json_object_get(img, "tags"), i, tag)
    {
        int64_t at = 0;
        if (err == REG_OK &&
            (err = index_cache_tag_checked_at(&at, ix, repo, json_string_value(tag))) == REG_OK)
            json_array_append_new(checks,
                                  json_pack("{s:O, s:I}", "tag", tag, "checkedAt", (json_int_t)at));
    }
    json_object_set_new(img, "cache",
                        json_pack("{s:s, s:o, s:s, s:I, s:o}", "rule", rule.prefix, "upstreamUrl",
                                  url_host(rule.upstream_url, 1), "upstreamPrefix",
                                  rule.upstream_prefix, "ttlSeconds", (json_int_t)rule.ttl_seconds,
                                  "tagChecks", checks));
    return err;
}

json_t *console_replaced(const char *text, const char *needle, const char *with)
{
    size_t n = strlen(needle);
    const char *hit = n ? strstr(text, needle) : NULL;
    if (!hit)
        return json_string(text);
    json_t *rest = console_replaced(hit + n, needle, with);
    json_t *out =
        rest ? json_sprintf("%.*s%s%s", (int)(hit - text), text, with, json_string_value(rest))
             : NULL;
    json_decref(rest);
    return out;
}

static int copy_url(void *ctx, const replication_destination *d)
{
    snprintf(ctx, 1024, "%s", d->url ? d->url : "");
    return REG_OK;
}

/* A status's reason without its destination's URL or the URL's path (which may hold a
 * secret: the engine keeps the path of where a copy stopped). */
static int redact_reason(json_t *status, index_db *ix)
{
    char url[1024] = "";
    json_t *reason = json_object_get(status, "reason");
    if (!reason)
        return REG_OK;
    int err = index_replication_destination_get(
        ix, json_string_value(json_object_get(status, "region")),
        json_string_value(json_object_get(status, "registryId")), copy_url, url);
    if (err < 0)
        return err == REG_ENOTFOUND ? REG_OK : err;
    const char *sep = strstr(url, "://");
    const char *path = sep ? sep + 3 + strcspn(sep + 3, "/?#") : "";
    json_t *once = console_replaced(json_string_value(reason), url, "(destination)");
    json_t *twice = once && strlen(path) > 1
                        ? console_replaced(json_string_value(once), path, "/...")
                        : json_incref(once);
    json_decref(once);
    return twice && json_object_set_new(status, "reason", twice) == 0 ? REG_OK : REG_ERROR;
}

int console_ops_image(json_t *img, index_db *ix, const char *repo, const char *digest)
{
    json_t *statuses = json_array(), *status;
    size_t i;
    int err = index_replication_statuses(ix, repo, digest, add_status, statuses);
    json_array_foreach(statuses, i, status)
    {
        if (err == REG_OK)
            err = redact_reason(status, ix);
    }
    json_object_set_new(img, "replication", statuses);
    return err < 0 ? err : add_cache(img, ix, repo);
}

/* Body {"webhook": NAME, "id": ID}: that delivery again, or without "id" every parked one. */
void console_redeliver(request *req, index_db *ix, const console_viewer *v)
{
    json_t *body = console_body(req), *id = json_object_get(body, "id");
    const char *name = json_string_value(json_object_get(body, "webhook"));
    webhook_row w;
    int64_t count = 0;
    if (!console_is_admin(v)) {
        console_reply_error(req, 403, "redelivery needs admin on every repository");
        return;
    }
    if (!name || (id && (!json_is_integer(id) || json_integer_value(id) < 0))) {
        console_reply_error(req, 400, "the body names a webhook and, optionally, a delivery id");
        return;
    }
    int err = index_webhook_get(&w, ix, name);
    if (err == REG_OK)
        index_webhook_row_clear(&w);
    if (err == REG_OK)
        err = index_outbox_redeliver(&count, ix, "webhook", name,
                                     id ? (int64_t)json_integer_value(id) : -1,
                                     (int64_t)time(NULL) * 1000);
    if (err == REG_ENOTFOUND)
        console_reply_error(req, 404, "no webhook %s", name);
    else if (err < 0)
        console_reply_error(req, 500, "the deliveries cannot be queued again: %s",
                            reg_error_last(index_errmsg(ix)));
    else
        console_reply_json(req, 200, json_pack("{s:I}", "redelivered", (json_int_t)count));
}
