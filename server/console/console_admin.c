/* console_admin.c - the console's administration page: storage used, gc totals and recent
 * runs, users and their grants, webhooks and their deliveries, with console_ops.c's cache rules,
 * replication and outbox health. Administrators only (admin on "*"). */
#include "auth/policy.h"
#include "auth/scope.h"
#include "server/console/console_api.h"
#include "server/console/console_ops.h"
#include "server/console/console_reply.h"
#include "storage/base/reg_error.h"
#include "storage/index/index_auth.h"
#include "storage/index/index_console.h"
#include "storage/events.h"
#include "storage/index/index_gc.h"
#include "storage/index/index_outbox.h"
#include "storage/index/index_webhooks.h"

#include <string.h>

static int add_run(void *ctx, const gc_totals *run)
{
    json_t *r =
        json_pack("{s:I, s:I, s:b, s:I, s:I, s:I, s:I}", "startedAt", (json_int_t)run->started_at,
                  "finishedAt", (json_int_t)run->finished_at, "dryRun", run->dry_run,
                  "manifestsDeleted", (json_int_t)run->manifests_deleted, "blobsDeleted",
                  (json_int_t)run->blobs_deleted, "bytesFreed", (json_int_t)run->bytes_freed,
                  "uploadsDeleted", (json_int_t)run->uploads_deleted);
    return r && json_array_append_new(ctx, r) == 0 ? REG_OK : REG_ERROR;
}

static int add_user(void *ctx, const char *name)
{
    return json_object_set_new(ctx, name, json_array()) == 0 ? REG_OK : REG_ERROR;
}

/* Grants by principal: users' under their names, "anonymous" too. */
static int add_grant(void *ctx, const char *principal, const char *pattern, unsigned actions)
{
    char names[48];
    json_t *list = json_object_get(ctx, principal);
    actions_format(names, sizeof(names), actions);
    if (!list && json_object_set_new(ctx, principal, list = json_array()) < 0)
        return REG_ERROR;
    return json_array_append_new(list,
                                 json_pack("{s:s, s:s}", "pattern", pattern, "actions", names)) == 0
               ? REG_OK
               : REG_ERROR;
}

static json_t *principals_json(json_t *by_name)
{
    json_t *list = json_array(), *grants;
    const char *name;
    json_object_foreach(by_name, name, grants)
    {
        json_array_append_new(list, json_pack("{s:s, s:O, s:b}", "name", name, "grants", grants,
                                              "anonymous", !strcmp(name, ANONYMOUS)));
    }
    return list;
}

/* A webhook's URL as far as the page shows it: scheme and host (a path may hold a secret). */
static json_t *url_origin(const char *url)
{
    const char *host = strstr(url, "://");
    size_t n = host ? (size_t)(host + 3 - url) + strcspn(host + 3, "/?#") : 0;
    return json_sprintf("%.*s%s", (int)n, url, n < strlen(url) ? "/..." : "");
}

/* The webhooks, each with its full URL under "url" until its deliveries are read. */
static int add_webhook(void *ctx, const webhook_row *w)
{
    char events[96];
    events_format_types(events, sizeof(events), w->events);
    json_t *hook = json_pack("{s:s, s:s, s:o, s:s, s:s, s:[]}", "name", w->name, "url", w->url,
                             "target", url_origin(w->url), "events", events, "repositoryPrefix",
                             w->repo_prefix, "deliveries");
    return hook && json_array_append_new(ctx, hook) == 0 ? REG_OK : REG_ERROR;
}

typedef struct delivery_ctx {
    json_t *list;
    const char *url;   /* the webhook's URL, which a delivery error may quote */
    const char *shown; /* what the page shows of it */
} delivery_ctx;

static int add_delivery(void *ctx, const outbox_row *row)
{
    const delivery_ctx *c = ctx;
    json_t *d = json_pack("{s:I, s:s, s:I, s:I, s:I, s:s}", "id", (json_int_t)row->id, "state",
                          row->state, "attempts", (json_int_t)row->attempts, "createdAt",
                          (json_int_t)(row->created / 1000), "updatedAt",
                          (json_int_t)(row->updated / 1000), "repository", row->repository);
    if (d && row->last_error)
        json_object_set_new(d, "error", console_replaced(row->last_error, c->url, c->shown));
    return d && json_array_append_new(c->list, d) == 0 ? REG_OK : REG_ERROR;
}

/* Every webhook with its last deliveries (read after the webhooks, one statement at a time),
 * and the outbox's backlog. */
static int add_webhooks(json_t *out, index_db *ix)
{
    json_t *hooks = json_array(), *hook;
    int64_t pending = 0, oldest = 0;
    size_t i;
    int err = index_webhook_each(ix, add_webhook, hooks);
    json_array_foreach(hooks, i, hook)
    {
        delivery_ctx d = {json_object_get(hook, "deliveries"),
                          json_string_value(json_object_get(hook, "url")),
                          json_string_value(json_object_get(hook, "target"))};
        if (err == REG_OK)
            err = index_outbox_list(ix, "webhook", json_string_value(json_object_get(hook, "name")),
                                    0, CONSOLE_DELIVERIES, add_delivery, &d);
        json_object_del(hook, "url");
    }
    if (err == REG_OK)
        err = index_outbox_stats(&pending, &oldest, ix);
    json_object_set_new(out, "webhooks", hooks);
    json_object_set_new(out, "outbox",
                        json_pack("{s:I, s:I}", "pending", (json_int_t)pending, "oldestAt",
                                  (json_int_t)(oldest / 1000)));
    return err;
}

void console_admin(request *req, index_db *ix, const console_viewer *v)
{
    int64_t storage = 0, runs = 0, blobs = 0, bytes = 0, last = 0;
    if (!console_is_admin(v)) {
        console_reply_error(req, 403,
                            "the administration page needs admin on every "
                            "repository (a grant on '*')");
        return;
    }
    json_t *recent = json_array(), *by_name = json_object();
    int err = index_storage_bytes(&storage, ix);
    if (err == REG_OK)
        err = index_gc_summary(&runs, &blobs, &bytes, &last, ix);
    if (err == REG_OK)
        err = index_gc_runs(ix, CONSOLE_GC_RUNS, add_run, recent);
    if (err == REG_OK)
        err = index_user_list(ix, add_user, by_name);
    if (err == REG_OK)
        err = index_grants(ix, NULL, add_grant, by_name);
    if (err < 0) {
        json_decref(recent);
        json_decref(by_name);
        console_reply_error(req, 500, "the registry's state cannot be read: %s",
                            reg_error_last(index_errmsg(ix)));
        return;
    }
    json_t *principals = principals_json(by_name);
    json_decref(by_name);
    json_t *out = json_pack("{s:I, s:{s:I, s:I, s:I, s:I, s:o}, s:o, s:b}", "storageBytes",
                            (json_int_t)storage, "gc", "runs", (json_int_t)runs, "blobsDeleted",
                            (json_int_t)blobs, "bytesFreed", (json_int_t)bytes, "lastFinishedAt",
                            (json_int_t)last, "recent", recent, "principals", principals,
                            "authEnabled", v->auth_on);
    if (!out || add_webhooks(out, ix) < 0 || console_ops_admin(out, ix) < 0) {
        json_decref(out);
        console_reply_error(req, 500, "the webhooks, cache rules or replication cannot be read: %s",
                            reg_error_last(index_errmsg(ix)));
        return;
    }
    console_reply_json(req, 200, out);
}
