/* ecr_put_image.c - ECR PutImage: a manifest pushed as JSON text, stored through the same
 * path as the OCI manifest PUT (store_push_manifest), with ECR's errors for what it refuses. */
#include "auth/scope.h"
#include "server/ecr/ecr.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"

#include <string.h>

typedef struct put_args {
    const char *repo;
    const char *manifest;
    size_t len;
    const char *media_type; /* NULL: the manifest's own */
    const char *tag;        /* NULL: untagged */
    digest expected;
    int has_digest;
} put_args;

/* Read and check the input; REG_EINVALID after recording the error. */
static int read_args(ecr_call *c, json_t *in, put_args *a)
{
    json_t *manifest = json_object_get(in, "imageManifest");
    json_t *media = json_object_get(in, "imageManifestMediaType");
    json_t *tag = json_object_get(in, "imageTag"), *dg = json_object_get(in, "imageDigest");
    a->manifest = json_string_value(manifest);
    a->len = json_string_length(manifest);
    a->media_type = json_string_value(media);
    a->tag = json_string_value(tag);
    a->has_digest = dg != NULL;
    if (!a->manifest || a->len == 0)
        ecr_fail(c, "InvalidParameterException", "imageManifest is required");
    else if (a->len > MANIFEST_MAX_BYTES)
        ecr_fail(c, "InvalidParameterException", "imageManifest is longer than %u bytes",
                 MANIFEST_MAX_BYTES);
    else if ((media && !a->media_type) || (tag && !a->tag) || (dg && !json_is_string(dg)))
        ecr_fail(c, "InvalidParameterException",
                 "imageManifestMediaType, imageTag and imageDigest must be strings");
    else if (a->tag && reference_check_tag(a->tag) < 0)
        ecr_fail(c, "InvalidParameterException",
                 "Invalid parameter at 'imageTag': must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}");
    else if (dg && digest_parse(&a->expected, json_string_value(dg)) < 0)
        ecr_fail(c, "InvalidParameterException", "Invalid parameter at 'imageDigest': '%s'",
                 json_string_value(dg));
    else
        return REG_OK;
    return REG_EINVALID;
}

static int references_manifest(const manifest_info *info, const char *dg)
{
    for (size_t i = 0; info && i < info->nrefs; i++)
        if (info->refs[i].kind == REF_MANIFEST && !strcmp(info->refs[i].dg.str, dg))
            return 1;
    return 0;
}

static json_t *put_failure(ecr_call *c, int err, const manifest_push *p)
{
    switch (err) {
    case REG_EMISMATCH:
        return ecr_fail(c, "ImageDigestDoesNotMatchException", "%s",
                        reg_error_last("the manifest does not have the given digest"));
    case REG_EINVALID:
        return ecr_fail(c, "InvalidParameterException", "Invalid parameter at 'imageManifest': %s",
                        reg_error_last("invalid manifest"));
    case REG_ENOTFOUND:
        if (references_manifest(p->info, p->detail))
            return ecr_fail(c, "ReferencedImagesNotFoundException",
                            "The manifest list references image %s, which does not exist in "
                            "repository '%s'",
                            p->detail, p->repo);
        return ecr_fail(c, "LayersNotFoundException", "Layer %s is not in repository '%s'",
                        p->detail, p->repo);
    case REG_ECONFLICT:
        return ecr_fail(c, "ImageTagAlreadyExistsException",
                        "The image tag '%s' already exists in the '%s' repository and cannot be "
                        "overwritten because the repository is immutable.",
                        p->detail, p->repo);
    case REG_EDENIED:
        return ecr_fail(c, "RepositoryNotFoundException",
                        "The repository with name '%s' does not exist", p->repo);
    default:
        return ecr_fail(c, "ServerException", "%s", reg_error_last("cannot store the manifest"));
    }
}

static json_t *image_json(ecr_call *c, const put_args *a, const manifest_push *p)
{
    json_t *id = json_pack("{s:s}", "imageDigest", p->dg.str);
    if (a->tag)
        json_object_set_new(id, "imageTag", json_string(a->tag));
    return json_pack("{s:{s:s, s:s, s:o, s:s%, s:s}}", "image", "registryId", ecr_registry_id(c),
                     "repositoryName", a->repo, "imageId", id, "imageManifest", a->manifest, a->len,
                     "imageManifestMediaType", p->info->media_type);
}

json_t *ecr_put_image(ecr_call *c, json_t *in)
{
    put_args a = {.repo = ecr_repo_name(c, in)};
    int unchanged = 0;
    if (!a.repo || !ecr_repo_ready(c, a.repo, ACTION_PUSH) || read_args(c, in, &a) < 0)
        return NULL;
    manifest_push push = {.repo = a.repo,
                          .content_type = a.media_type,
                          .body = a.manifest,
                          .len = a.len,
                          .expected = a.has_digest ? &a.expected : NULL,
                          .tags = a.tag ? &a.tag : NULL,
                          .ntags = a.tag ? 1 : 0,
                          .unchanged_out = &unchanged};
    int err = store_push_manifest(c->req->srv->st, c->ix, &push);
    json_t *out;
    if (err < 0)
        out = put_failure(c, err, &push);
    else if (unchanged)
        out =
            ecr_fail(c, "ImageAlreadyExistsException",
                     "Image with digest '%s'%s%s%s already exists in repository '%s'", push.dg.str,
                     a.tag ? " and tag '" : "", a.tag ? a.tag : "", a.tag ? "'" : "", a.repo);
    else
        out = image_json(c, &a, &push);
    manifest_info_free(push.info);
    return out;
}
