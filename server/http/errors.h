/* errors.h - the OCI Distribution Spec's JSON error responses:
 * {"errors":[{"code":"BLOB_UNKNOWN","message":"...","detail":...}]} */
#ifndef OCIREG_ERRORS_H
#define OCIREG_ERRORS_H

#include "server/http/http.h"

#include <jansson.h>

/* Build an error response to add headers to before request_send(). `detail` is stolen. */
struct MHD_Response *error_response(request *req, const char *code, json_t *detail, const char *fmt,
                                    ...) __attribute__((format(printf, 4, 5)));

/* Send an error. `detail` (may be NULL) is stolen. */
void reply_error_detail(request *req, unsigned status, const char *code, json_t *detail,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define reply_error(req, status, code, ...) reply_error_detail(req, status, code, NULL, __VA_ARGS__)

/* Map an unexpected storage result (REG_ERROR, REG_ENOSPACE, ...) to a 5xx answer and log it. */
void reply_internal(request *req, int err, const char *what);
/* The same with the failure's own message (read where it happened, reg_error_last). */
void reply_internal_why(request *req, int err, const char *what, const char *why);

#endif
