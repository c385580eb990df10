/* manifests.c - GET/HEAD/PUT/DELETE /v2/<name>/manifests/<tag-or-digest>. Manifests are
 * stored byte-exact and served from their blob file with their recorded media type. */
#include "server/http/errors.h"
#include "server/oci/cache_fill.h"
#include "server/oci/handlers.h"
#include "server/http/log.h"
#include "storage/base/buf.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_TAGS_PER_PUT 64

typedef struct manifest_state {
    reference ref;
    const char *tags[MAX_TAGS_PER_PUT];
    size_t ntags;
} manifest_state;

/* Parse the <reference> path part; replies itself when it is neither a tag nor a digest. */
static int reference_or_reply(reference *out, request *req)
{
    if (reference_parse(out, req->arg) == REG_OK)
        return REG_OK;
    if (out->is_digest)
        reply_error(req, 400, "DIGEST_INVALID", "invalid digest \"%s\"", req->arg);
    else
        reply_error(req, 400, "TAG_INVALID",
                    "invalid tag: [A-Za-z0-9_][A-Za-z0-9._-]{0,127} expected");
    return REG_EINVALID;
}

static int lookup(manifest_row *row, index_db *ix, request *req, const reference *ref)
{
    return ref->is_digest ? index_manifest_by_digest(row, ix, req->name, &ref->dg)
                          : index_manifest_by_tag(row, ix, req->name, ref->tag);
}

void handle_manifest_get(request *req)
{
    reference ref;
    manifest_row row;
    index_db *ix;
    int fd = -1;
    uint64_t file_size;
    if (!(ix = index_or_reply(req)))
        return;
    /* A reference that is neither a tag nor a digest names no manifest: 404, as distribution
     * and zot answer and the conformance suite expects (a PUT's bad reference stays 400). */
    int valid = reference_parse(&ref, req->arg) == REG_OK;
    int err = valid ? lookup(&row, ix, req, &ref) : REG_ENOTFOUND;
    /* A pull-through cache fills what it lacks and re-checks tags past their TTL. */
    if (valid && (err == REG_ENOTFOUND || (err == REG_OK && !ref.is_digest))) {
        cache_result cr = cache_manifest_or_reply(req, ix, &ref, err == REG_OK);
        if (cr == CACHE_REPLIED)
            return;
        if (cr == CACHE_READY)
            err = lookup(&row, ix, req, &ref);
    }
    if (err == REG_ENOTFOUND) {
        reply_error(req, 404, "MANIFEST_UNKNOWN", "manifest %s is not in repository %s", req->arg,
                    req->name);
        return;
    }
    if (err < 0) {
        reply_internal(req, err, "manifest lookup");
        return;
    }
    struct MHD_Response *r;
    void *bytes = NULL;
    if (request_is(req, "HEAD")) {
        r = response_sized_nobody(row.size);
    } else {
        /* Held in the index (the usual case: manifests are small), else the blob's file. */
        err = blobstore_read_inline(&bytes, &file_size, ix, &row.dg);
        if (err == REG_ENOTFOUND)
            err = blobstore_open_blob(&fd, &file_size, req->srv->st->blobs, NULL, &row.dg);
        if (err < 0 || file_size != row.size) {
            log_msg(LOG_ERROR, "manifest %s is indexed but its bytes are unreadable", row.dg.str);
            if (fd >= 0)
                close(fd);
            free(bytes);
            reply_error(req, 500, "UNKNOWN", "manifest %s cannot be read", row.dg.str);
            return;
        }
        if (bytes) {
            r = response_from_malloc(bytes, row.size);
        } else if (!(r = response_from_fd(fd, 0, row.size))) {
            close(fd);
        }
        req->bytes_out = row.size;
        pulls_note(req->srv->st->pulls, req->name, row.dg.str, (int64_t)time(NULL));
    }
    response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, row.media_type);
    response_header(r, "Docker-Content-Digest", row.dg.str);
    response_header(r, MHD_HTTP_HEADER_ETAG, arena_printf(&req->mem, "\"%s\"", row.dg.str));
    request_send(req, 200, r);
}

static enum MHD_Result collect_tag(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    manifest_state *s = cls;
    if (strcmp(key, "tag") != 0 || !value)
        return MHD_YES;
    if (s->ntags == MAX_TAGS_PER_PUT || reference_check_tag(value) < 0) {
        s->ntags = MAX_TAGS_PER_PUT + 1; /* marks the request as invalid */
        return MHD_NO;
    }
    s->tags[s->ntags++] = value;
    return MHD_YES;
}

static void reply_put_failure(request *req, int err, const char *missing)
{
    if (err == REG_ENOTFOUND)
        reply_error_detail(req, 400, "MANIFEST_BLOB_UNKNOWN", json_pack("{s:s}", "digest", missing),
                           "manifest references %s, which is not in repository %s", missing,
                           req->name);
    else if (err == REG_EINVALID)
        reply_error(req, 400, "MANIFEST_INVALID", "%s", reg_error_last("invalid manifest"));
    else if (err == REG_ECONFLICT)
        reply_error(req, 400, "TAG_INVALID",
                    "the image tag '%s' already exists in the '%s' repository and cannot be "
                    "overwritten because the repository is immutable",
                    missing, req->name);
    else if (err == REG_EDENIED)
        reply_error(req, 404, "NAME_UNKNOWN", "repository %s does not exist", req->name);
    else
        reply_internal(req, err, "manifest put");
}

static void reply_manifest_created(request *req, const digest *d, const manifest_info *info,
                                   const manifest_state *s)
{
    struct MHD_Response *r = response_empty();
    response_header(r, MHD_HTTP_HEADER_LOCATION,
                    arena_printf(&req->mem, "/v2/%s/manifests/%s", req->name, d->str));
    response_header(r, "Docker-Content-Digest", d->str);
    if (info->has_subject)
        response_header(r, "OCI-Subject", info->subject.str);
    for (size_t i = 0; i < s->ntags && s->ref.is_digest; i++)
        response_header(r, "OCI-Tag", s->tags[i]);
    request_send(req, 201, r);
}

static void finish_put(request *req)
{
    manifest_state *s = req->state;
    index_db *ix;
    if (req->body_stopped) {
        reply_error(req, 413, "MANIFEST_INVALID", "manifest is larger than %u bytes",
                    MANIFEST_MAX_BYTES);
        return;
    }
    if (!(ix = index_or_reply(req)))
        return;
    manifest_push push = {.repo = req->name,
                          .content_type = request_header(req, MHD_HTTP_HEADER_CONTENT_TYPE),
                          .body = req->body.data,
                          .len = req->body.len,
                          .expected = s->ref.is_digest ? &s->ref.dg : NULL,
                          .tags = s->tags,
                          .ntags = s->ntags};
    int err = store_push_manifest(req->srv->st, ix, &push);
    if (err == REG_OK)
        reply_manifest_created(req, &push.dg, push.info, s);
    else if (err == REG_EMISMATCH)
        reply_error(req, 400, "DIGEST_INVALID", "%s", reg_error_last("digest mismatch"));
    else
        reply_put_failure(req, err, push.detail);
    manifest_info_free(push.info);
}

void handle_manifest_put(request *req)
{
    manifest_state *s = arena_alloc(&req->mem, sizeof(*s));
    if (!s) {
        reply_error(req, 500, "UNKNOWN", "out of memory");
        return;
    }
    memset(s, 0, sizeof(*s));
    if (reference_or_reply(&s->ref, req) < 0)
        return;
    if (!s->ref.is_digest)
        s->tags[s->ntags++] = s->ref.tag;
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_tag, s);
    if (s->ntags > MAX_TAGS_PER_PUT) {
        reply_error(req, 400, "TAG_INVALID", "invalid or too many tag query parameters");
        return;
    }
    if (request_content_length(req) > (int64_t)MANIFEST_MAX_BYTES) {
        reply_error(req, 413, "MANIFEST_INVALID", "manifest is larger than %u bytes",
                    MANIFEST_MAX_BYTES);
        return;
    }
    req->state = s;
    request_read_body(req, MANIFEST_MAX_BYTES, finish_put);
}

void handle_manifest_delete(request *req)
{
    reference ref;
    char conflict[DIGEST_MAX];
    index_db *ix;
    if (reference_or_reply(&ref, req) < 0 || !(ix = index_or_reply(req)))
        return;
    int err = ref.is_digest ? store_delete_manifest(ix, req->name, &ref.dg, conflict)
                            : store_delete_tag(ix, req->name, ref.tag);
    if (err == REG_ENOTFOUND)
        reply_error(req, 404, "MANIFEST_UNKNOWN", "manifest %s is not in repository %s", req->arg,
                    req->name);
    else if (err == REG_ECONFLICT)
        reply_error(req, 409, "DENIED", "manifest %s is referenced by index %s; delete that first",
                    req->arg, conflict);
    else if (err < 0)
        reply_internal(req, err, "manifest delete");
    else
        request_send(req, 202, response_empty());
}
