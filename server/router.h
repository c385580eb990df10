/* router.h - maps a request's method and path to its handler, validating the repository
 * name on the way (the only place path text is parsed). */
#ifndef OCIREG_ROUTER_H
#define OCIREG_ROUTER_H

#include "server/http/http.h"

/* Parse `path` (already percent-decoded) into a route kind, repository name and last
 * argument. REG_EINVALID when the name is malformed (*route_out says which route it was). */
int router_parse(route_kind *route_out, char **name_out, char **arg_out, arena *mem,
                 const char *path);

/* Route the request and call its handler (which sends a response or waits for the body). */
void router_dispatch(request *req);

#endif
