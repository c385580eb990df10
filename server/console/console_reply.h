/* console_reply.h - what every answer of the web console carries: the security headers (a
 * strict Content-Security-Policy, no framing, no sniffing, no referrer) and, for its JSON API,
 * bodies that are never cached and errors as one readable message. */
#ifndef OCIREG_CONSOLE_REPLY_H
#define OCIREG_CONSOLE_REPLY_H

#include "server/http/http.h"

#include <jansson.h>

/* Only the console's own files: no inline script or style, no other origin, no framing. */
#define CONSOLE_CSP                                                                                \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "                    \
    "form-action 'self'; frame-ancestors 'none'"

/* Add the security headers to r (NULL is fine) and send it. */
void console_send(request *req, unsigned status, struct MHD_Response *r);
/* A JSON body (stolen), with Cache-Control: no-store. */
void console_reply_json(request *req, unsigned status, json_t *body);
/* {"message": "..."}: what the page shows the user. */
void console_reply_error(request *req, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A redirect to `location` (a path of ours). */
void console_redirect(request *req, unsigned status, const char *location);

#endif
