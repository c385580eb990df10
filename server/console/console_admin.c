/* console_admin.c - the console's administration page: storage used, gc totals and recent
 * runs, users and their grants (read-only). Administrators only (admin on "*"). */
#include "auth/policy.h"
#include "auth/scope.h"
#include "server/console/console_api.h"
#include "server/console/console_reply.h"
#include "storage/base/reg_error.h"
#include "storage/index/index_auth.h"
#include "storage/index/index_console.h"
#include "storage/index/index_gc.h"

#include <string.h>

static int add_run(void *ctx, const gc_run_row *run)
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

void console_admin(request *req, index_db *ix, const console_viewer *v)
{
    int64_t storage = 0, runs = 0, blobs = 0, bytes = 0, last = 0;
    json_t *recent = json_array(), *by_name = json_object();
    if (!console_is_admin(v)) {
        json_decref(recent);
        json_decref(by_name);
        console_reply_error(req, 403,
                            "the administration page needs admin on every "
                            "repository (a grant on '*')");
        return;
    }
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
    console_reply_json(req, 200,
                       json_pack("{s:I, s:{s:I, s:I, s:I, s:I, s:o}, s:o, s:b}", "storageBytes",
                                 (json_int_t)storage, "gc", "runs", (json_int_t)runs,
                                 "blobsDeleted", (json_int_t)blobs, "bytesFreed", (json_int_t)bytes,
                                 "lastFinishedAt", (json_int_t)last, "recent", recent, "principals",
                                 principals, "authEnabled", v->auth_on));
}
