/* console.h - the web console: its pages (compiled-in files under /console/) and the JSON API
 * they are drawn from (/console/api/...), which answers only what the signed-in user (or an
 * anonymous visitor) may see under the same grants and policies as the registry's APIs. */
#ifndef OCIREG_CONSOLE_H
#define OCIREG_CONSOLE_H

#include "server/http/http.h"

/* Every request under /console (GET, POST, DELETE); it authorizes by itself. */
void handle_console(request *req);

/* GET /: a browser (Accept: text/html) is sent to /console/; anything else is told that / is
 * the ECR API, which takes POST. */
void handle_console_root(request *req);

#endif
