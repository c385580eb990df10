/* referrers.c - GET /v2/<name>/referrers/<digest>?artifactType=: an OCI image index of the
 * manifests whose subject is <digest>. */
#include "server/http/errors.h"
#include "server/oci/handlers.h"
#include "storage/manifest.h"
#include "storage/base/reg_error.h"

#include <stdlib.h>
#include <string.h>

static int add_referrer(void *ctx, const referrer_row *row)
{
    json_t *list = ctx;
    json_t *desc = json_pack("{s:s, s:s, s:I}", "mediaType", row->media_type, "digest", row->digest,
                             "size", (json_int_t)row->size);
    if (!desc)
        return REG_ERROR;
    if (row->artifact_type)
        json_object_set_new(desc, "artifactType", json_string(row->artifact_type));
    if (row->annotations) {
        json_t *annotations = json_loads(row->annotations, 0, NULL);
        if (annotations)
            json_object_set_new(desc, "annotations", annotations);
    }
    return json_array_append_new(list, desc) == 0 ? REG_OK : REG_ERROR;
}

void handle_referrers(request *req)
{
    digest subject;
    index_db *ix;
    if (digest_or_reply(&subject, req, req->arg) < 0 || !(ix = index_or_reply(req)))
        return;
    const char *artifact_type = request_query(req, "artifactType");
    json_t *list = json_array();
    int err = list ? index_referrers(ix, req->name, &subject, artifact_type, add_referrer, list)
                   : REG_ERROR;
    if (err < 0) {
        json_decref(list);
        reply_internal(req, err, "referrers");
        return;
    }
    json_t *body = json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX,
                             "manifests", list);
    struct MHD_Response *r = response_json(req, body, MT_OCI_INDEX);
    if (artifact_type)
        response_header(r, "OCI-Filters-Applied", "artifactType");
    request_send(req, 200, r);
}
