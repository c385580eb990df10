/* console_reply.c - security headers, JSON bodies and errors of the web console (see
 * console_reply.h). */
#include "server/console/console_reply.h"
#include "server/http/log.h"

#include <stdarg.h>
#include <stdio.h>

void console_send(request *req, unsigned status, struct MHD_Response *r)
{
    response_header(r, "Content-Security-Policy", CONSOLE_CSP);
    response_header(r, "X-Frame-Options", "DENY");
    response_header(r, "X-Content-Type-Options", "nosniff");
    response_header(r, "Referrer-Policy", "no-referrer");
    response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
    response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
    request_send(req, status, r);
}

void console_reply_json(request *req, unsigned status, json_t *body)
{
    struct MHD_Response *r = response_json(req, body, NULL);
    response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    console_send(req, status, r);
}

void console_reply_error(request *req, unsigned status, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    for (char *c = message; *c; c++)
        if ((unsigned char)*c >= 0x80 || (unsigned char)*c < 0x20)
            *c = '?'; /* client text in a message is kept to printable ASCII */
    if (status >= 500)
        log_msg(LOG_ERROR, "console: %s %s: %s", req->method, req->url, message);
    console_reply_json(req, status, json_pack("{s:s}", "message", message));
}

void console_redirect(request *req, unsigned status, const char *location)
{
    struct MHD_Response *r = response_empty();
    response_header(r, MHD_HTTP_HEADER_LOCATION, location);
    console_send(req, status, r);
}
