/* handlers.h - one entry point per endpoint; each is called with a routed request whose
 * repository name is already validated, and either sends a response or sets body callbacks. */
#ifndef OCIREG_HANDLERS_H
#define OCIREG_HANDLERS_H

#include "server/http/http.h"
#include "storage/base/digest.h"

void handle_base(request *req);
void handle_health(request *req);
void handle_ready(request *req);

void handle_blob_get(request *req); /* GET and HEAD */
void handle_blob_delete(request *req);

void handle_upload_start(request *req); /* POST .../blobs/uploads/ */
void handle_upload_patch(request *req);
void handle_upload_put(request *req);
void handle_upload_status(request *req);
void handle_upload_cancel(request *req);

void handle_manifest_get(request *req); /* GET and HEAD */
void handle_manifest_put(request *req);
void handle_manifest_delete(request *req);

void handle_tags_list(request *req);
void handle_referrers(request *req);
void handle_catalog(request *req);
void handle_token(request *req);    /* GET and POST /token */
void handle_admin_gc(request *req); /* POST /admin/gc?dry_run=&untagged=&grace= */

/* Shared checks used by the handlers: each sends the error response itself on failure. */
int digest_or_reply(digest *out, request *req, const char *text);
/* "0-<last byte>" as clients expect in the Range header of an upload ("0-0" when empty). */
const char *upload_range_text(request *req, uint64_t offset);

#endif
