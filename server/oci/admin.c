/* admin.c - POST /admin/gc: run garbage collection from the HTTP API (registry admins only)
 * and answer with its report. Query: dry_run=true, untagged=true, grace=<duration>. */
#include "server/http/errors.h"
#include "server/oci/handlers.h"
#include "storage/gc.h"
#include "storage/base/reg_error.h"

#include <string.h>

static int flag(request *req, const char *name)
{
    const char *v = request_query(req, name);
    return v && (!strcmp(v, "true") || !strcmp(v, "1"));
}

void handle_admin_gc(request *req)
{
    const char *grace_text = request_query(req, "grace");
    long long grace = grace_text ? config_parse_duration(grace_text) : 3600;
    gc_report rep;
    index_db *ix;
    if (grace < 0) {
        reply_error(req, 400, "UNSUPPORTED", "grace must be a duration such as 90s, 15m, 1h");
        return;
    }
    if (!(ix = index_or_reply(req)))
        return;
    gc_options opt = {.dry_run = flag(req, "dry_run"),
                      .untagged = flag(req, "untagged"),
                      .lifecycle = 1,
                      .sweep = 1,
                      .grace = grace,
                      .upload_expiry = req->srv->cfg.upload_expiry};
    int err = gc_run(&rep, req->srv->st, ix, &opt);
    if (err < 0) {
        reply_internal(req, err, "gc");
        return;
    }
    reply_json(req, 200,
               json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:s?}", "dry_run", opt.dry_run,
                         "images_expired", (json_int_t)rep.images_expired, "manifests_deleted",
                         (json_int_t)rep.totals.manifests_deleted, "blobs_deleted",
                         (json_int_t)rep.totals.blobs_deleted, "bytes_freed",
                         (json_int_t)rep.totals.bytes_freed, "orphans_deleted",
                         (json_int_t)rep.orphans_deleted, "uploads_deleted",
                         (json_int_t)rep.totals.uploads_deleted, "warning",
                         rep.warning[0] ? rep.warning : NULL),
               NULL);
}
