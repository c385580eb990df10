/* base.c - GET /v2/ (API version check), /healthz, /readyz, and the small checks every
 * handler shares (digest_or_reply, upload_range_text). */
#include "server/http/errors.h"
#include "server/oci/handlers.h"
#include "storage/base/reg_error.h"

#include <unistd.h>

int digest_or_reply(digest *out, request *req, const char *text)
{
    if (digest_parse(out, text) == REG_OK)
        return REG_OK;
    reply_error(req, 400, "DIGEST_INVALID",
                "invalid digest: expected sha256:<64 hex> or sha512:<128 hex> in lower case");
    return REG_EINVALID;
}

const char *upload_range_text(request *req, uint64_t offset)
{
    return arena_printf(&req->mem, "0-%llu", (unsigned long long)(offset > 0 ? offset - 1 : 0));
}

void handle_base(request *req)
{
    struct MHD_Response *r = response_from_copy("{}", 2);
    req->bytes_out = 2;
    response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    request_send(req, 200, r);
}

void handle_health(request *req)
{
    reply_json(req, 200, json_pack("{s:s}", "status", "ok"), NULL);
}

void handle_ready(request *req)
{
    index_db *ix = request_index(req);
    int64_t unused;
    if (!ix || index_repo_id(&unused, ix, "") == REG_ERROR ||
        access(req->srv->st->data_dir, W_OK) != 0) {
        reply_json(req, 503, json_pack("{s:s}", "status", "not ready"), NULL);
        return;
    }
    reply_json(req, 200, json_pack("{s:s}", "status", "ready"), NULL);
}
