/* console.c - the console's front door: files or API by path (see console.h). */
#include "server/console/console.h"
#include "server/console/console_api.h"
#include "server/console/console_reply.h"
#include "server/console/console_static.h"
#include "server/http/errors.h"

#include <string.h>

#define API_PREFIX "/console/api/"

void handle_console(request *req)
{
    const char *path = req->url;
    if (!strncmp(path, API_PREFIX, strlen(API_PREFIX))) {
        console_api(req, path + strlen(API_PREFIX));
        return;
    }
    if (!request_is(req, "GET") && !request_is(req, "HEAD")) {
        console_reply_error(req, 405, "method %s is not supported here", req->method);
        return;
    }
    if (!strcmp(path, "/console"))
        console_redirect(req, 301, "/console/");
    else
        console_serve_asset(req, path + strlen("/console/"));
}

void handle_console_root(request *req)
{
    const char *accept = request_header(req, MHD_HTTP_HEADER_ACCEPT);
    if (accept && strstr(accept, "text/html")) {
        console_redirect(req, 302, "/console/");
        return;
    }
    reply_error(req, 405, "UNSUPPORTED",
                "/ is the ECR API (POST with X-Amz-Target); the web console is at /console/");
}
