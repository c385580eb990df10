/* ecr_layers.c - the ECR layer API: BatchCheckLayerAvailability, InitiateLayerUpload,
 * UploadLayerPart, CompleteLayerUpload, GetDownloadUrlForLayer. Uploads are the OCI API's
 * upload sessions (a part is an append, completing verifies the digest and publishes as a
 * blob PUT does), so an upload started here could be finished there and the other way. */
#include "auth/base64url.h"
#include "auth/blob_url.h"
#include "auth/scope.h"
#include "server/ecr/ecr.h"
#include "server/http/auth.h"
#include "storage/base/reg_error.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LAYER_DIGESTS_MAX 100 /* BatchedOperationLayerDigestList */

_Static_assert((ECR_LAYER_PART_MAX + 2) / 3 * 4 <= BASE64_TEXT_MAX,
               "a layer part in base64 must fit base64_decode");

int ecr_repo_ready(ecr_call *c, const char *repo, unsigned actions)
{
    int64_t id;
    if (!ecr_allowed(c, repo, actions))
        return 0;
    int err = index_repo_id(&id, c->ix, repo);
    if (err == REG_OK)
        return 1;
    if (err == REG_ENOTFOUND)
        ecr_fail(c, "RepositoryNotFoundException",
                 "The repository with name '%s' does not exist in the registry with id '%s'", repo,
                 ecr_registry_id(c));
    else
        ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    return 0;
}

static json_t *layer_failure(const char *dg, const char *code, const char *reason)
{
    return json_pack("{s:s, s:s, s:s}", "layerDigest", dg, "failureCode", code, "failureReason",
                     reason);
}

json_t *ecr_batch_check_layer_availability(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in);
    json_t *list = json_object_get(in, "layerDigests"), *item;
    size_t i;
    if (!repo || !ecr_repo_ready(c, repo, ACTION_PULL))
        return NULL;
    if (!json_is_array(list) || json_array_size(list) == 0 ||
        json_array_size(list) > LAYER_DIGESTS_MAX)
        return ecr_fail(c, "InvalidParameterException", "layerDigests must list 1 to %d digests",
                        LAYER_DIGESTS_MAX);
    json_t *layers = json_array(), *failures = json_array();
    json_array_foreach(list, i, item)
    {
        const char *text = json_string_value(item);
        uint64_t size = 0;
        digest d;
        if (!text || digest_parse(&d, text) < 0) {
            json_array_append_new(failures, layer_failure(text ? text : "", "InvalidLayerDigest",
                                                          "Invalid layer digest"));
            continue;
        }
        int err = index_blob_in_repo(&size, c->ix, repo, &d);
        if (err == REG_ENOTFOUND) {
            json_array_append_new(
                failures, layer_failure(d.str, "MissingLayerDigest", "Could not find layer"));
        } else if (err < 0) {
            json_decref(layers);
            json_decref(failures);
            return ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
        } else {
            json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "layerDigest", d.str,
                                                    "layerAvailability", "AVAILABLE", "layerSize",
                                                    (json_int_t)size));
        }
    }
    return json_pack("{s:o, s:o}", "layers", layers, "failures", failures);
}

json_t *ecr_initiate_layer_upload(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in);
    char id[UPLOAD_ID_LEN + 1];
    upload *u = NULL;
    if (!repo || !ecr_repo_ready(c, repo, ACTION_PUSH))
        return NULL;
    if (upload_create(&u, id, c->req->srv->st->uploads, repo) < 0)
        return ecr_fail(c, "ServerException", "%s", reg_error_last("cannot start an upload"));
    upload_release(c->req->srv->st->uploads, u, 1);
    return json_pack("{s:s, s:I}", "uploadId", id, "partSize", (json_int_t)ECR_LAYER_PART_MAX);
}

/* Take the session named by uploadId; NULL after recording the error. */
static upload *session_or_fail(ecr_call *c, json_t *in, const char *repo, unsigned *generation)
{
    const char *id = json_string_value(json_object_get(in, "uploadId"));
    upload *u = NULL;
    if (!id)
        return ecr_fail(c, "InvalidParameterException", "uploadId is required"), NULL;
    int err = upload_acquire(&u, generation, c->req->srv->st->uploads, id, repo);
    if (err == REG_ENOTFOUND)
        return ecr_fail(c, "UploadNotFoundException",
                        "Upload with id '%s' is not found in repository '%s'", id, repo),
               NULL;
    if (err == REG_EBUSY)
        return ecr_fail(c, "InvalidLayerPartException",
                        "Upload with id '%s' is in use by another request; retry later", id),
               NULL;
    if (err < 0)
        return ecr_fail(c, "ServerException", "%s", reg_error_last("upload lookup failed")), NULL;
    return u;
}

/* InvalidLayerPartException with where the upload stands. */
static json_t *part_refused(ecr_call *c, const char *repo, upload *u, const char *why)
{
    uint64_t offset = upload_offset(u);
    c->error_fields = json_pack("{s:s, s:s, s:s, s:I}", "registryId", ecr_registry_id(c),
                                "repositoryName", repo, "uploadId", upload_id(u),
                                "lastValidByteReceived", (json_int_t)(offset ? offset - 1 : 0));
    return ecr_fail(c, "InvalidLayerPartException", "%s; the upload holds %llu bytes", why,
                    (unsigned long long)offset);
}

/* The decoded layerPartBlob (malloc'd), or NULL after recording the error. */
static unsigned char *part_bytes(ecr_call *c, json_t *in, size_t *len)
{
    json_t *blob = json_object_get(in, "layerPartBlob");
    const char *text = json_string_value(blob);
    unsigned char *bytes = text ? base64_decode(text, json_string_length(blob), len) : NULL;
    if (!bytes)
        return ecr_fail(c, "InvalidParameterException", "layerPartBlob must be base64"), NULL;
    if (*len > ECR_LAYER_PART_MAX) {
        free(bytes);
        return ecr_fail(c, "InvalidParameterException", "layerPartBlob is larger than %u bytes",
                        ECR_LAYER_PART_MAX),
               NULL;
    }
    return bytes;
}

static json_t *append_part(ecr_call *c, const char *repo, upload *u, unsigned generation,
                           json_t *in, const unsigned char *bytes, size_t len)
{
    json_t *first = json_object_get(in, "partFirstByte"),
           *last = json_object_get(in, "partLastByte");
    uint64_t offset = upload_offset(u);
    if (!json_is_integer(first) || !json_is_integer(last))
        return ecr_fail(c, "InvalidParameterException",
                        "partFirstByte and partLastByte are required integers");
    if (len == 0)
        return part_refused(c, repo, u, "the layer part is empty");
    if (json_integer_value(first) != (json_int_t)offset ||
        json_integer_value(last) != (json_int_t)(offset + len - 1))
        return part_refused(c, repo, u,
                            "partFirstByte and partLastByte must continue the upload exactly");
    int err = store_upload_append(c->req->srv->st, u, generation, bytes, len);
    if (err == REG_OK)
        err = upload_flush(u);
    if (err == REG_ETOOLARGE)
        return ecr_fail(c, "LimitExceededException", "%s (--max-blob-size)",
                        reg_error_last("the layer is too large"));
    if (err == REG_EBUSY)
        return part_refused(c, repo, u, "the upload was taken over by another request");
    if (err < 0)
        return ecr_fail(c, "ServerException", "%s", reg_error_last("upload write failed"));
    return json_pack("{s:s, s:s, s:s, s:I}", "registryId", ecr_registry_id(c), "repositoryName",
                     repo, "uploadId", upload_id(u), "lastByteReceived",
                     (json_int_t)(upload_offset(u) - 1));
}

json_t *ecr_upload_layer_part(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in);
    unsigned generation = 0;
    unsigned char *bytes = NULL;
    upload *u = NULL;
    size_t len = 0;
    if (!repo || !ecr_allowed(c, repo, ACTION_PUSH) || !(bytes = part_bytes(c, in, &len)))
        return NULL;
    json_t *out = NULL;
    if ((u = session_or_fail(c, in, repo, &generation)) != NULL) {
        out = append_part(c, repo, u, generation, in, bytes, len);
        upload_release(c->req->srv->st->uploads, u, generation);
    }
    free(bytes);
    return out;
}

/* The one digest of layerDigests, or REG_EINVALID after recording the error. */
static int layer_digest(ecr_call *c, json_t *in, digest *out)
{
    json_t *list = json_object_get(in, "layerDigests");
    const char *text = json_string_value(json_array_get(list, 0));
    if (!json_is_array(list) || json_array_size(list) != 1 || !text) {
        ecr_fail(c, "InvalidParameterException", "layerDigests must name the layer's one digest");
        return REG_EINVALID;
    }
    if (digest_parse(out, text) < 0) {
        ecr_fail(c, "InvalidParameterException", "layerDigests: invalid digest '%s'", text);
        return REG_EINVALID;
    }
    return REG_OK;
}

/* Verify and publish the session's bytes (the caller has checked there are some); the
 * session is consumed on success and stays the caller's otherwise. */
static json_t *commit_layer(ecr_call *c, const char *repo, upload *u, const digest *d)
{
    const char *id = arena_strdup(&c->req->mem, upload_id(u));
    int err = store_commit_upload(c->req->srv->st, c->ix, u, repo, d);
    if (err == REG_EMISMATCH)
        return ecr_fail(c, "InvalidLayerException",
                        "The calculated digest of the upload does not match '%s'", d->str);
    if (err == REG_ENOTFOUND)
        return ecr_fail(c, "RepositoryNotFoundException",
                        "The repository with name '%s' does not exist", repo);
    if (err < 0)
        return ecr_fail(c, "ServerException", "%s", reg_error_last("cannot store the layer"));
    return json_pack("{s:s, s:s, s:s, s:s}", "registryId", ecr_registry_id(c), "repositoryName",
                     repo, "uploadId", id ? id : "", "layerDigest", d->str);
}

json_t *ecr_complete_layer_upload(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in);
    upload_table *t = c->req->srv->st->uploads;
    unsigned generation = 0;
    json_t *out = NULL;
    upload *u;
    digest d;
    if (!repo || !ecr_repo_ready(c, repo, ACTION_PUSH) || layer_digest(c, in, &d) < 0 ||
        !(u = session_or_fail(c, in, repo, &generation)))
        return NULL;
    if (upload_offset(u) == 0) {
        ecr_fail(c, "EmptyUploadException", "The upload with id '%s' has no layer parts",
                 upload_id(u));
    } else if (index_blob_in_repo(NULL, c->ix, repo, &d) == REG_OK) {
        upload_discard(t, u); /* nothing is left to do with it */
        u = NULL;
        ecr_fail(c, "LayerAlreadyExistsException",
                 "The layer '%s' already exists in the repository with name '%s'", d.str, repo);
    } else if ((out = commit_layer(c, repo, u, &d)) != NULL) {
        u = NULL; /* the commit consumed the session */
    }
    if (u)
        upload_release(t, u, generation);
    return out;
}

/* A URL on the object store where it can presign, else on this registry (auth/blob_url.h). */
static char *download_url(ecr_call *c, const char *repo, const digest *d)
{
    char *url = NULL, *query = NULL;
    int err = blobstore_presign(&url, c->req->srv->st->blobs, c->ix, d, BLOB_URL_SECONDS);
    if (err == REG_OK)
        return url;
    if (err != REG_EINVALID || blob_url_query(&query, c->req->srv->master_key, repo, d->str,
                                              time(NULL) + BLOB_URL_SECONDS) < 0)
        return NULL;
    if (asprintf(&url, "%s/v2/%s/blobs/%s?%s", request_base_url(c->req), repo, d->str, query) < 0)
        url = NULL;
    free(query);
    return url;
}

json_t *ecr_get_download_url_for_layer(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in);
    const char *text = json_string_value(json_object_get(in, "layerDigest"));
    digest d;
    if (!repo || !ecr_repo_ready(c, repo, ACTION_PULL))
        return NULL;
    if (!text || digest_parse(&d, text) < 0)
        return ecr_fail(c, "InvalidParameterException", "layerDigest is not a valid digest");
    int err = index_blob_in_repo(NULL, c->ix, repo, &d);
    if (err == REG_ENOTFOUND)
        return ecr_fail(c, "LayersNotFoundException",
                        "The layer with digest '%s' does not exist in the repository with name "
                        "'%s'",
                        d.str, repo);
    if (err < 0)
        return ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    char *url = download_url(c, repo, &d);
    if (!url)
        return ecr_fail(c, "ServerException", "%s", reg_error_last("cannot make a download URL"));
    json_t *out = json_pack("{s:s, s:s}", "downloadUrl", url, "layerDigest", d.str);
    free(url);
    return out;
}
