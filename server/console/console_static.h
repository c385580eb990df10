/* console_static.h - the console's files served from the binary (console_assets.h): strong
 * ETags (304 on a match), revalidated on every use, gzip when the client takes it; and GET /,
 * which sends a browser to the console. */
#ifndef OCIREG_CONSOLE_STATIC_H
#define OCIREG_CONSOLE_STATIC_H

#include "server/console/console_assets.h"
#include "server/http/http.h"

/* What a browser gets, with a 404, for a path that names no file. */
#define CONSOLE_NOT_FOUND_PAGE "notfound.html"

/* The asset called `name` ("" is index.html), or NULL. */
const console_asset *console_asset_find(const char *name);

/* Answer GET /console/<name> with the asset, 304, or a 404 (the not-found page for a
 * browser, a JSON message otherwise). */
void console_serve_asset(request *req, const char *name);

/* Whether an Accept-Encoding value takes gzip (a "gzip" or "*" coding without q=0). */
int console_accepts_gzip(const char *accept_encoding);

#endif
