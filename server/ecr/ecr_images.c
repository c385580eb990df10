/* ecr_images.c - ECR image operations: ListImages, DescribeImages, BatchGetImage,
 * BatchDeleteImage, over the same manifests and tags the OCI API serves. */
#include "auth/scope.h"
#include "server/ecr/ecr.h"
#include "storage/index/index_repos.h"
#include "storage/base/reference.h"
#include "storage/base/buf.h"
#include "storage/base/reg_error.h"

#include <ctype.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ECR_MAX_RESULTS     1000 /* the model's MaxResults bound */
#define ECR_MEDIA_TYPES_MAX 100  /* the model's MediaTypeList bound */

typedef struct image_set {
    ecr_call *c;
    image_info *items; /* strings live in the request arena */
    size_t n, cap;
} image_set;

static int keep_image(void *ctx, const image_info *img)
{
    image_set *s = ctx;
    arena *mem = &s->c->req->mem;
    if (buf_grow_array((void **)&s->items, &s->cap, s->n, sizeof(*s->items), SIZE_MAX) < 0)
        return REG_ERROR;
    image_info *copy = &s->items[s->n++];
    *copy = *img;
    copy->digest = arena_strdup(mem, img->digest);
    copy->media_type = arena_strdup(mem, img->media_type);
    copy->artifact_type = img->artifact_type ? arena_strdup(mem, img->artifact_type) : NULL;
    copy->tags = img->tags ? arena_strdup(mem, img->tags) : NULL;
    copy->subject = NULL;
    return copy->digest && copy->media_type ? REG_OK : REG_ERROR;
}

/* Load every image of the repository (after the permission check). */
static int load_images(image_set *s, const char *repo, unsigned actions)
{
    ecr_call *c = s->c;
    if (!ecr_allowed(c, repo, actions))
        return REG_EDENIED;
    int err = index_images(c->ix, repo, keep_image, s);
    if (err == REG_ENOTFOUND)
        ecr_fail(c, "RepositoryNotFoundException",
                 "The repository with name '%s' does not exist in the registry with id '%s'", repo,
                 ecr_registry_id(c));
    else if (err < 0)
        ecr_fail(c, "ServerException", "%s", index_errmsg(c->ix));
    return err;
}

/* What ListImages and DescribeImages read first: the tagStatus filter, the page and the
 * repository's images. On failure (the error set) the images are freed. */
typedef struct image_listing {
    const char *status, *cursor;
    int64_t limit;
} image_listing;

static int load_listing(image_listing *out, image_set *s, json_t *in, const char *repo)
{
    ecr_call *c = s->c;
    if (ecr_tag_status(c, in, &out->status) < 0 ||
        ecr_page_args_default(c, in, ECR_MAX_RESULTS, &out->limit, &out->cursor) < 0 ||
        load_images(s, repo, ACTION_PULL) < 0) {
        free(s->items);
        return REG_EINVALID;
    }
    return REG_OK;
}

/* The next tag of an image's comma-separated tags (*at moves past it), its length in *len;
 * NULL after the last. */
static const char *next_tag(const char **at, size_t *len)
{
    const char *tag = *at;
    if (!tag || !*tag)
        return NULL;
    *len = strcspn(tag, ",");
    *at = tag + *len + (tag[*len] == ',');
    return tag;
}

static int has_tag(const image_info *img, const char *tag)
{
    size_t n = strlen(tag), len;
    const char *at = img->tags;
    for (const char *t; (t = next_tag(&at, &len));)
        if (len == n && !strncmp(t, tag, n))
            return 1;
    return 0;
}

static json_t *tag_list(const image_info *img)
{
    json_t *tags = json_array();
    size_t len;
    const char *at = img->tags;
    for (const char *t; (t = next_tag(&at, &len));)
        json_array_append_new(tags, json_stringn(t, len));
    return tags;
}

int ecr_tag_status(ecr_call *c, json_t *in, const char **out)
{
    const char *st = json_string_value(json_object_get(json_object_get(in, "filter"), "tagStatus"));
    *out = st ? st : "ANY";
    if (strcmp(*out, "TAGGED") && strcmp(*out, "UNTAGGED") && strcmp(*out, "ANY")) {
        ecr_fail(c, "InvalidParameterException",
                 "filter.tagStatus must be TAGGED, UNTAGGED or ANY");
        return REG_EINVALID;
    }
    return REG_OK;
}

static int passes(const image_info *img, const char *status)
{
    return !strcmp(status, "ANY") || (!strcmp(status, "TAGGED") == (img->tags != NULL));
}

int ecr_page_args_default(ecr_call *c, json_t *in, int64_t max, int64_t *limit, const char **cursor)
{
    int err = ecr_page_args(c, in, max, limit, cursor);
    if (err == REG_OK && !json_object_get(in, "maxResults"))
        *limit = ECR_PAGE_DEFAULT;
    return err;
}

int ecr_page_list(ecr_call *c, json_t *out, const char *key, json_t *all, const char *cursor,
                  int64_t limit)
{
    size_t n = json_array_size(all), start = 0, end;
    if (cursor) {
        char *stop = NULL;
        unsigned long long v = strtoull(cursor, &stop, 10);
        if (*stop || v > n || !isdigit((unsigned char)*cursor)) {
            json_decref(all);
            ecr_fail(c, "InvalidParameterException", "nextToken is invalid");
            return REG_EINVALID;
        }
        start = (size_t)v;
    }
    end = n - start > (uint64_t)limit ? start + (size_t)limit : n;
    json_t *page = json_array();
    for (size_t i = start; i < end; i++)
        json_array_append(page, json_array_get(all, i));
    json_decref(all);
    json_object_set_new(out, key, page);
    if (end < n) {
        char text[32];
        snprintf(text, sizeof(text), "%zu", end);
        char *token = ecr_next_token(text);
        json_object_set_new(out, "nextToken", json_string(token));
        free(token);
    }
    return REG_OK;
}

json_t *ecr_list_images(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in);
    image_set s = {.c = c};
    image_listing l;
    if (!repo || load_listing(&l, &s, in, repo) < 0)
        return NULL;
    json_t *ids = json_array();
    for (size_t i = 0; i < s.n; i++) {
        const image_info *img = &s.items[i];
        if (!passes(img, l.status))
            continue;
        if (!img->tags)
            json_array_append_new(ids, json_pack("{s:s}", "imageDigest", img->digest));
        size_t len;
        const char *at = img->tags;
        for (const char *t; (t = next_tag(&at, &len));)
            json_array_append_new(
                ids, json_pack("{s:s, s:s%}", "imageDigest", img->digest, "imageTag", t, len));
    }
    free(s.items);
    json_t *out = json_object();
    if (ecr_page_list(c, out, "imageIds", ids, l.cursor, l.limit) < 0)
        return json_decref(out), NULL;
    return out;
}

static json_t *image_detail(ecr_call *c, const char *repo, const image_info *img)
{
    json_t *d = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "registryId", ecr_registry_id(c),
                          "repositoryName", repo, "imageDigest", img->digest, "imageSizeInBytes",
                          (json_int_t)img->size, "imagePushedAt", (json_int_t)img->pushed_at,
                          "imageManifestMediaType", img->media_type);
    if (img->tags)
        json_object_set_new(d, "imageTags", tag_list(img));
    if (img->last_pulled_at)
        json_object_set_new(d, "lastRecordedPullTime", json_integer(img->last_pulled_at));
    if (img->artifact_type)
        json_object_set_new(d, "artifactMediaType", json_string(img->artifact_type));
    return d;
}

static const image_info *by_digest(const image_set *s, const char *digest)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->items[i].digest, digest))
            return &s->items[i];
    return NULL;
}

static const image_info *by_tag(const image_set *s, const char *tag)
{
    for (size_t i = 0; i < s->n; i++)
        if (has_tag(&s->items[i], tag))
            return &s->items[i];
    return NULL;
}

/* Why an imageId names no image: ECR's failureCode and failureReason. */
typedef struct id_failure {
    const char *code, *reason;
} id_failure;

/* The image an imageId ({imageDigest?, imageTag?}) names; NULL with *why filled in when it
 * names none (with both, the tag must name that digest). */
static const image_info *find_image(const image_set *s, json_t *id, id_failure *why)
{
    const char *dg = json_string_value(json_object_get(id, "imageDigest"));
    const char *tag = json_string_value(json_object_get(id, "imageTag"));
    const image_info *img = NULL;
    digest d;
    *why = (id_failure){"ImageNotFound", "Requested image not found"};
    if (!dg && !tag)
        *why = (id_failure){"MissingDigestAndTag", "Missing image digest and image tag"};
    else if (dg && digest_parse(&d, dg) < 0)
        *why = (id_failure){"InvalidImageDigest", "Invalid image digest"};
    else if (tag && reference_check_tag(tag) < 0)
        *why = (id_failure){"InvalidImageTag", "Invalid image tag"};
    else if (!tag)
        img = by_digest(s, dg);
    else if ((img = by_tag(s, tag)) && dg && strcmp(img->digest, dg)) {
        *why = (id_failure){"ImageTagDoesNotMatchDigest", "Invalid image tag for image digest"};
        img = NULL;
    }
    return img;
}

static json_t *failure(json_t *id, const char *code, const char *reason)
{
    return json_pack("{s:O, s:s, s:s}", "imageId", id, "failureCode", code, "failureReason",
                     reason);
}

json_t *ecr_describe_images(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in);
    json_t *ids = json_object_get(in, "imageIds");
    image_set s = {.c = c};
    image_listing l;
    size_t i;
    json_t *id;
    if (repo && ids && (json_object_get(in, "maxResults") || json_object_get(in, "nextToken")))
        return ecr_fail(c, "InvalidParameterException",
                        "maxResults and nextToken cannot be used when you specify images with "
                        "imageIds");
    if (!repo || load_listing(&l, &s, in, repo) < 0)
        return NULL;
    json_t *details = json_array();
    json_array_foreach(ids, i, id)
    {
        id_failure why;
        const image_info *img = find_image(&s, id, &why);
        if (!img) {
            const char *tag = json_string_value(json_object_get(id, "imageTag"));
            const char *dg = json_string_value(json_object_get(id, "imageDigest"));
            json_decref(details);
            free(s.items);
            return ecr_fail(c, "ImageNotFoundException",
                            "The image with imageId %s does not exist within the repository with "
                            "name '%s' in the registry with id '%s' (%s)",
                            tag  ? tag
                            : dg ? dg
                                 : "{}",
                            repo, ecr_registry_id(c), why.reason);
        }
        json_array_append_new(details, image_detail(c, repo, img));
    }
    for (i = 0; !ids && i < s.n; i++)
        if (passes(&s.items[i], l.status))
            json_array_append_new(details, image_detail(c, repo, &s.items[i]));
    free(s.items);
    json_t *out = json_object();
    if (ecr_page_list(c, out, "imageDetails", details, l.cursor, l.limit) < 0)
        return json_decref(out), NULL;
    return out;
}

/* The manifest's bytes as a JSON string, or NULL. */
static json_t *manifest_text(ecr_call *c, const char *digest_text)
{
    digest d;
    int fd = -1;
    uint64_t size = 0;
    if (digest_parse(&d, digest_text) < 0 ||
        blobstore_open_blob(&fd, &size, c->req->srv->st->blobs, c->ix, &d) < 0)
        return NULL;
    char *text = size <= MANIFEST_MAX_BYTES ? malloc(size + 1) : NULL;
    json_t *out = NULL;
    if (text && pread(fd, text, size, 0) == (ssize_t)size)
        out = json_stringn(text, size);
    free(text);
    close(fd);
    return out;
}

/* acceptedMediaTypes: NULL (every type) or 1 to 100 strings; REG_EINVALID after recording
 * InvalidParameterException. */
static int accepted_types(ecr_call *c, json_t *in, json_t **out)
{
    json_t *types = *out = json_object_get(in, "acceptedMediaTypes"), *t;
    size_t i;
    if (!types)
        return REG_OK;
    if (!ecr_list_sized(types, ECR_MEDIA_TYPES_MAX)) {
        ecr_fail(c, "InvalidParameterException", "acceptedMediaTypes must list 1 to %d media types",
                 ECR_MEDIA_TYPES_MAX);
        return REG_EINVALID;
    }
    json_array_foreach(types, i, t)
    {
        if (!json_is_string(t)) {
            ecr_fail(c, "InvalidParameterException", "acceptedMediaTypes must be strings");
            return REG_EINVALID;
        }
    }
    return REG_OK;
}

static int is_accepted(json_t *types, const char *media_type)
{
    json_t *t;
    size_t i;
    json_array_foreach(types, i, t)
    {
        if (!strcmp(json_string_value(t), media_type))
            return 1;
    }
    return !types;
}

/* One image of BatchGetImage, or a failure. */
static void get_one(ecr_call *c, const char *repo, const image_set *s, json_t *types, json_t *id,
                    json_t *images, json_t *failures)
{
    const char *tag = json_string_value(json_object_get(id, "imageTag"));
    id_failure why;
    const image_info *img = find_image(s, id, &why);
    json_t *text = NULL;
    if (!img)
        return (void)json_array_append_new(failures, failure(id, why.code, why.reason));
    if (!is_accepted(types, img->media_type))
        return (void)json_array_append_new(
            failures, failure(id, "UnsupportedImageType",
                              "The image's manifest media type is not in acceptedMediaTypes"));
    if (!(text = manifest_text(c, img->digest)))
        return (void)json_array_append_new(
            failures, failure(id, "ImageNotFound", "The image's manifest could not be read"));
    json_t *image_id = json_pack("{s:s}", "imageDigest", img->digest);
    if (tag)
        json_object_set_new(image_id, "imageTag", json_string(tag));
    json_array_append_new(images,
                          json_pack("{s:s, s:s, s:o, s:o, s:s}", "registryId", ecr_registry_id(c),
                                    "repositoryName", repo, "imageId", image_id, "imageManifest",
                                    text, "imageManifestMediaType", img->media_type));
}

json_t *ecr_batch_get_image(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in);
    json_t *ids = json_object_get(in, "imageIds"), *types, *id;
    image_set s = {.c = c};
    size_t i;
    if (!repo || accepted_types(c, in, &types) < 0 || load_images(&s, repo, ACTION_PULL) < 0) {
        free(s.items);
        return NULL;
    }
    json_t *images = json_array(), *failures = json_array();
    json_array_foreach(ids, i, id) get_one(c, repo, &s, types, id, images, failures);
    free(s.items);
    return json_pack("{s:o, s:o}", "images", images, "failures", failures);
}

/* What a failed imageId reports: ECR's failureCode and failureReason for err. */
static json_t *delete_failure(ecr_call *c, json_t *id, int err)
{
    switch (err) {
    case REG_EMISMATCH:
        return failure(id, "ImageTagDoesNotMatchDigest", "Invalid image tag for image digest");
    case REG_ECONFLICT:
        return failure(id, "ImageReferencedByManifestList",
                       "Requested image is referenced by an image index");
    case REG_ENOTFOUND:
        return failure(id, "ImageNotFound", "Requested image not found");
    default:
        return failure(id, "ImageNotFound", reg_error_last(index_errmsg(c->ix)));
    }
}

/* Delete one imageId: by digest, the image with all its tags; by tag (with its digest, if
 * given, checked to be the one the tag names), the tag, and the image when it was its last. */
static void delete_one(ecr_call *c, const char *repo, json_t *id, json_t *deleted, json_t *failures)
{
    const char *dg = json_string_value(json_object_get(id, "imageDigest"));
    const char *tag = json_string_value(json_object_get(id, "imageTag"));
    char conflict[DIGEST_MAX], named[DIGEST_MAX];
    int image_went, err;
    digest d;
    if (!dg && !tag)
        return (void)json_array_append_new(
            failures, failure(id, "MissingDigestAndTag", "Missing image digest and image tag"));
    if (dg && digest_parse(&d, dg) < 0)
        return (void)json_array_append_new(
            failures, failure(id, "InvalidImageDigest", "Invalid image digest"));
    if (tag && reference_check_tag(tag) < 0)
        return (void)json_array_append_new(failures,
                                           failure(id, "InvalidImageTag", "Invalid image tag"));
    reg_error_clear();
    if (tag)
        err = store_remove_tag(&image_went, named, c->ix, repo, tag, dg ? d.str : NULL);
    else
        err = store_delete_manifest(c->ix, repo, &d, conflict);
    if (err < 0)
        return (void)json_array_append_new(failures, delete_failure(c, id, err));
    if (tag)
        json_array_append_new(deleted,
                              json_pack("{s:s, s:s}", "imageDigest", named, "imageTag", tag));
    else
        json_array_append_new(deleted, json_pack("{s:s}", "imageDigest", d.str));
}

json_t *ecr_batch_delete_image(ecr_call *c, json_t *in)
{
    const char *repo = ecr_repo_name(c, in);
    json_t *ids = json_object_get(in, "imageIds");
    int64_t unused;
    size_t i;
    json_t *id;
    if (!repo || !ecr_allowed(c, repo, ACTION_DELETE))
        return NULL;
    if (index_repo_id(&unused, c->ix, repo) == REG_ENOTFOUND)
        return ecr_fail(c, "RepositoryNotFoundException",
                        "The repository with name '%s' does not exist", repo);
    if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > 100)
        return ecr_fail(c, "InvalidParameterException", "imageIds must list 1 to 100 images");
    json_t *deleted = json_array(), *failures = json_array();
    json_array_foreach(ids, i, id) delete_one(c, repo, id, deleted, failures);
    return json_pack("{s:o, s:o}", "imageIds", deleted, "failures", failures);
}
