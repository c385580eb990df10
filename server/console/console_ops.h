/* console_ops.h - the admin and image pages' facts about pull-through cache rules, replication
 * and the outbox, and the redelivery endpoint (console_ops.c). Callers check admin first. */
#ifndef OCIREG_CONSOLE_OPS_H
#define OCIREG_CONSOLE_OPS_H

#include "server/console/console_session.h"

/* Add "cacheRules", "replication" (rules, destinations by host) and outbox.parked to the admin
 * page's `out` (which holds "outbox" already). */
int console_ops_admin(json_t *out, index_db *ix);

/* Add the image's "replication" statuses and, in a cached repository, "cache" (its rule, the
 * tags' last upstream checks) to `img` (which holds "tags"). */
int console_ops_image(json_t *img, index_db *ix, const char *repo, const char *digest);

/* `text` with every copy of `needle` (when not empty) replaced by `with`, as a new JSON
 * string (NULL when out of memory): how a URL that may hold a secret leaves an error text. */
json_t *console_replaced(const char *text, const char *needle, const char *with);

/* POST /console/api/redeliver {"webhook": NAME[, "id": ID]}: parked deliveries queued again. */
void console_redeliver(request *req, index_db *ix, const console_viewer *v);

#endif
