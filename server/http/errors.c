/* errors.c - spec-shaped JSON error bodies (see errors.h). */
#include "server/http/errors.h"
#include "server/http/log.h"
#include "storage/base/reg_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct MHD_Response *error_response_v(request *req, const char *code, json_t *detail,
                                             const char *fmt, va_list ap)
{
    char message[512];
    vsnprintf(message, sizeof(message), fmt, ap);
    json_t *entry = json_pack("{s:s, s:s}", "code", code, "message", message);
    if (entry && detail)
        json_object_set(entry, "detail", detail);
    json_decref(detail);
    return response_json(req, json_pack("{s:[o]}", "errors", entry), NULL);
}

struct MHD_Response *error_response(request *req, const char *code, json_t *detail, const char *fmt,
                                    ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct MHD_Response *r = error_response_v(req, code, detail, fmt, ap);
    va_end(ap);
    return r;
}

void reply_error_detail(request *req, unsigned status, const char *code, json_t *detail,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct MHD_Response *r = error_response_v(req, code, detail, fmt, ap);
    va_end(ap);
    request_send(req, status, r);
}

void reply_internal(request *req, int err, const char *what)
{
    index_db *ix = err == REG_ENOSPACE ? NULL : request_index(req);
    reply_internal_why(req, err, what, ix ? index_errmsg(ix) : "no index");
}

void reply_internal_why(request *req, int err, const char *what, const char *why)
{
    if (err == REG_ENOSPACE) {
        log_msg(LOG_ERROR, "%s: no space left in the data folder", what);
        reply_error(req, 507, "UNKNOWN", "%s: no space left on the registry's storage", what);
        return;
    }
    log_msg(LOG_ERROR, "%s failed (%d): %s", what, err, why ? why : "no reason recorded");
    reply_error(req, 500, "UNKNOWN", "%s failed: internal error", what);
}
