/* uploads.c - blob push: POST /v2/<name>/blobs/uploads/ (session, monolithic ?digest=,
 * cross-repository ?mount=&from=), PATCH/PUT/GET/DELETE /v2/<name>/blobs/uploads/<id>.
 * Bodies stream into the session's spool file, except a whole blob small enough for the index
 * (--inline-max), which is kept in memory and published from there: no spool is made for it. */
#include "auth/scope.h"
#include "server/http/auth.h"
#include "server/http/errors.h"
#include "server/oci/handlers.h"
#include "server/http/range.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"

#include <string.h>

/* Bytes of whole small blobs that requests may hold in memory at once (memory_body); past it,
 * bodies go to a spool as larger ones do. */
#define UPLOAD_MEMORY_BODIES_MAX (64u << 20)

static size_t memory_bodies_held;

typedef struct upload_state {
    upload *u;
    unsigned generation;
    int monolithic;  /* POST ?digest=: the client never sees the session, so a failure ends it */
    digest expected; /* PUT and monolithic POST */
    int write_err;
    const char *write_why; /* write_err's message, taken when it happened */
    int64_t range_length;  /* bytes a Content-Range announced, -1 without one */
    uint64_t received;     /* body bytes appended by this request */
    int range_exceeded;    /* the body went on past range_length: the rest was not taken */
    char *body;            /* a whole small blob kept in memory (memory_body), else NULL */
    size_t body_len;       /* its Content-Length, counted in memory_bodies_held */
} upload_state;

static const char *session_location(request *req, const char *id)
{
    return arena_printf(&req->mem, "/v2/%s/blobs/uploads/%s", req->name, id);
}

static void release_session(request *req);
static void finish_body(request *req, int commit);
static int append_body(request *req, const char *data, size_t len);

/* The session is given back before the answer goes out: a client that has its 2xx may send
 * the next request for the session at once. */
static void reply_upload_progress(request *req, unsigned status, upload *u)
{
    const char *id = arena_strdup(&req->mem, upload_id(u));
    const char *range = upload_range_text(req, upload_offset(u));
    release_session(req);
    struct MHD_Response *r = response_empty();
    response_header(r, MHD_HTTP_HEADER_LOCATION, session_location(req, id));
    response_header(r, MHD_HTTP_HEADER_RANGE, range);
    response_header(r, "Docker-Upload-UUID", id);
    request_send(req, status, r);
}

static void reply_blob_created(request *req, const digest *d)
{
    struct MHD_Response *r = response_empty();
    response_header(r, MHD_HTTP_HEADER_LOCATION,
                    arena_printf(&req->mem, "/v2/%s/blobs/%s", req->name, d->str));
    response_header(r, "Docker-Content-Digest", d->str);
    request_send(req, 201, r);
}

/* Idempotent: the handler may release early, the cleanup then does nothing. A monolithic
 * upload's session is discarded instead: nobody can resume it. */
static void release_session(request *req)
{
    upload_state *s = req->state;
    if (!s || !s->u)
        return;
    if (s->monolithic && upload_owned(s->u, s->generation))
        upload_discard(req->srv->st->uploads, s->u);
    else
        upload_release(req->srv->st->uploads, s->u, s->generation);
    s->u = NULL;
}

static void cleanup_state(request *req)
{
    upload_state *s = req->state;
    release_session(req);
    if (s && s->body) {
        __atomic_sub_fetch(&memory_bodies_held, s->body_len, __ATOMIC_RELAXED);
        s->body = NULL;
    }
}

static void reply_too_large(request *req)
{
    reply_error(req, 413, "SIZE_INVALID",
                "the blob would be larger than this registry's maximum of %llu bytes",
                (unsigned long long)req->srv->st->max_blob_size);
}

/* 413 before the body is read, when its Content-Length already says it will not fit; the
 * session ends with it (no blob can be completed from it). */
static int declared_size_or_reply(request *req)
{
    upload_state *s = req->state;
    int64_t len = request_content_length(req);
    if (len < 0 || store_upload_fits(req->srv->st, s->u, (uint64_t)len))
        return REG_OK;
    s->write_err = REG_ETOOLARGE;
    if (s->u)
        finish_body(req, 0);
    else
        reply_too_large(req);
    return REG_ETOOLARGE;
}

/* 416 RANGE_INVALID with the session's Location and the Range it really holds. */
static void reply_range_invalid(request *req, upload *u, const char *why)
{
    const char *id = arena_strdup(&req->mem, upload_id(u));
    uint64_t offset = upload_offset(u);
    release_session(req);
    struct MHD_Response *r = error_response(req, "RANGE_INVALID", NULL, "%s", why);
    response_header(r, MHD_HTTP_HEADER_LOCATION, session_location(req, id));
    response_header(r, MHD_HTTP_HEADER_RANGE, upload_range_text(req, offset));
    response_header(r, "Docker-Upload-UUID", id);
    request_send(req, 416, r);
}

/* A Content-Range, when sent, must continue exactly where the session stands, and its length
 * must be the body's: checked here against Content-Length, or as a chunked body arrives. */
static int content_range_or_reply(request *req, upload_state *s)
{
    const char *header = request_header(req, MHD_HTTP_HEADER_CONTENT_RANGE);
    byte_range cr;
    s->range_length = -1;
    if (!header)
        return REG_OK;
    int64_t len = request_content_length(req);
    if (content_range_parse(&cr, header) == REG_OK && cr.start == upload_offset(s->u) &&
        (len < 0 || (uint64_t)len == cr.length) && cr.length <= INT64_MAX) {
        s->range_length = (int64_t)cr.length;
        return REG_OK;
    }
    reply_range_invalid(req, s->u,
                        arena_printf(&req->mem,
                                     "Content-Range \"%s\" does not continue the upload at "
                                     "offset %llu",
                                     header, (unsigned long long)upload_offset(s->u)));
    return REG_EINVALID;
}

static int body_matches_range(const upload_state *s)
{
    return s->range_length < 0 || (!s->range_exceeded && s->received == (uint64_t)s->range_length);
}

/* A chunked body whose length is not the one its Content-Range announced: 416. What was
 * appended before the mismatch showed stays (a session cannot shrink), and the Range header
 * says where the session now stands, so the client resumes from there. */
static void reply_body_not_range(request *req)
{
    upload_state *s = req->state;
    reply_range_invalid(req, s->u,
                        arena_printf(&req->mem,
                                     "the body is %s than the %lld bytes its Content-Range "
                                     "announced",
                                     s->range_exceeded ? "longer" : "shorter",
                                     (long long)s->range_length));
}

/* A write failed: keep its code and message for the reply at the body's end. */
static void note_write_failure(request *req, int err)
{
    upload_state *s = req->state;
    s->write_err = err;
    s->write_why = arena_strdup(&req->mem, reg_error_last("no reason recorded"));
}

static int append_body(request *req, const char *data, size_t len)
{
    upload_state *s = req->state;
    if (s->range_length >= 0 && len > (uint64_t)s->range_length - s->received) {
        s->range_exceeded = 1;
        return REG_EINVALID;
    }
    s->received += len;
    reg_error_clear(); /* a failure's message is its own, not another request's on this thread */
    int err = store_upload_append(req->srv->st, s->u, s->generation, data, len);
    if (err < 0)
        note_write_failure(req, err);
    return err;
}

/* Body complete: report a write failure, or commit when a digest was given. */
static void finish_body(request *req, int commit)
{
    upload_state *s = req->state;
    if (s->write_err == REG_EBUSY || !upload_owned(s->u, s->generation)) {
        const char *id = arena_strdup(&req->mem, upload_id(s->u));
        release_session(req);
        reply_error(req, 409, "BLOB_UPLOAD_INVALID", "upload %s was taken over by another request",
                    id);
        return;
    }
    if (s->write_err == REG_ETOOLARGE) {
        upload_discard(req->srv->st->uploads, s->u);
        s->u = NULL;
        reply_too_large(req);
        return;
    }
    int mismatch = !body_matches_range(s);
    /* A commit makes the bytes durable itself (a session on S3 need not store its tail). */
    reg_error_clear();
    int flushed = s->write_err == REG_OK && (!commit || mismatch) ? upload_flush(s->u) : REG_OK;
    if (flushed < 0)
        note_write_failure(req, flushed);
    if (s->write_err < 0) {
        release_session(req);
        reply_internal_why(req, s->write_err, "upload write", s->write_why);
        return;
    }
    if (mismatch) {
        reply_body_not_range(req);
        return;
    }
    if (!commit) {
        reply_upload_progress(req, 202, s->u);
        return;
    }
    index_db *ix = request_index(req);
    if (!ix) {
        release_session(req);
        reply_error(req, 503, "UNAVAILABLE", "the registry index cannot be opened");
        return;
    }
    int err = store_commit_upload(req->srv->st, ix, s->u, req->name, &s->expected);
    if (err == REG_OK)
        s->u = NULL; /* the commit consumed the session */
    else
        release_session(req);
    if (err == REG_EMISMATCH) {
        reply_error(req, 400, "DIGEST_INVALID", "uploaded content does not match digest %s",
                    s->expected.str);
        return;
    }
    if (err == REG_ENOTFOUND) {
        reply_error(req, 404, "NAME_UNKNOWN", "repository %s does not exist", req->name);
        return;
    }
    if (err < 0) {
        reply_internal(req, err, "blob commit");
        return;
    }
    reply_blob_created(req, &s->expected);
}

static void finish_patch(request *req)
{
    finish_body(req, 0);
}

static void finish_put(request *req)
{
    finish_body(req, 1);
}

/* A PUT or monolithic POST whose Content-Length announces a whole blob the index will hold,
 * on a session without bytes (or none yet), keeps its body in memory: no spool file is made,
 * written, read back and unlinked for it. */
static int memory_body(request *req, upload_state *s)
{
    int64_t len = request_content_length(req);
    if (len < 0 || !store_holds_in_index(req->srv->st, (uint64_t)len) ||
        (s->u && upload_offset(s->u) != 0))
        return 0;
    size_t n = (size_t)len;
    if (__atomic_add_fetch(&memory_bodies_held, n, __ATOMIC_RELAXED) > UPLOAD_MEMORY_BODIES_MAX ||
        !(s->body = arena_alloc(&req->mem, n))) {
        __atomic_sub_fetch(&memory_bodies_held, n, __ATOMIC_RELAXED);
        return 0;
    }
    s->body_len = n;
    return 1;
}

static int keep_body(request *req, const char *data, size_t len)
{
    upload_state *s = req->state;
    if (len > s->body_len - s->received) {
        s->range_exceeded = 1;
        return REG_EINVALID;
    }
    memcpy(s->body + s->received, data, len);
    s->received += len;
    return REG_OK;
}

/* Anything but a clean publication from memory goes the streamed way: the bytes into the
 * session (made now for a monolithic POST), and finish_body decides and answers exactly as it
 * does for a streamed body (digest mismatch, takeover, disk full, ...). */
static void finish_memory_body_in_session(request *req)
{
    upload_state *s = req->state;
    const char *body = s->body;
    size_t n = s->received;
    char id[UPLOAD_ID_LEN + 1];
    s->received = 0;
    if (!s->u) {
        int err = upload_create(&s->u, id, req->srv->st->uploads, req->name);
        if (err < 0) {
            s->u = NULL;
            reply_internal(req, err, "upload start");
            return;
        }
        s->generation = 1;
    }
    append_body(req, body, n);
    finish_body(req, 1);
}

static void finish_memory_body(request *req)
{
    upload_state *s = req->state;
    index_db *ix;
    if (s->range_exceeded || s->received != s->body_len ||
        (s->u && !upload_owned(s->u, s->generation)) || !(ix = request_index(req)) ||
        store_commit_bytes(req->srv->st, ix, req->name, &s->expected, s->body, s->received) < 0) {
        finish_memory_body_in_session(req);
        return;
    }
    if (s->u) {
        upload_discard(req->srv->st->uploads, s->u);
        s->u = NULL;
    }
    reply_blob_created(req, &s->expected);
}

/* The body's way: kept in memory when it is a whole small blob, else into the session. */
static void receive_blob(request *req, upload_state *s)
{
    if (memory_body(req, s)) {
        req->on_body = keep_body;
        req->on_done = finish_memory_body;
        return;
    }
    req->on_body = append_body;
    req->on_done = finish_put;
}

static upload_state *new_state(request *req)
{
    upload_state *s = arena_alloc(&req->mem, sizeof(*s));
    if (s) {
        memset(s, 0, sizeof(*s));
        s->range_length = -1;
        req->state = s;
        req->on_cleanup = cleanup_state;
    } else {
        reply_error(req, 500, "UNKNOWN", "out of memory");
    }
    return s;
}

/* Acquire the session named in the path; replies itself on failure. */
static upload_state *session_or_reply(request *req)
{
    upload *u = NULL;
    unsigned generation = 0;
    int err = upload_acquire(&u, &generation, req->srv->st->uploads, req->arg, req->name);
    if (err == REG_ENOTFOUND) {
        reply_error(req, 404, "BLOB_UPLOAD_UNKNOWN", "no upload session %s in repository %s",
                    req->arg, req->name);
        return NULL;
    }
    if (err == REG_EBUSY) {
        reply_error(req, 409, "BLOB_UPLOAD_INVALID",
                    "upload %s is in use by another request; retry later", req->arg);
        return NULL;
    }
    upload_state *s = new_state(req);
    if (!s) {
        upload_release(req->srv->st->uploads, u, generation);
        return NULL;
    }
    s->u = u;
    s->generation = generation;
    return s;
}

static int try_mount(request *req, const char *mount)
{
    const char *from = request_query(req, "from");
    digest d;
    index_db *ix;
    if (digest_or_reply(&d, req, mount) < 0)
        return 1;
    if (!(ix = index_or_reply(req)))
        return 1;
    /* Already in the target: nothing to mount, and nothing learnt about the source. */
    if (index_blob_in_repo(NULL, ix, req->name, &d) == REG_OK) {
        reply_blob_created(req, &d);
        return 1;
    }
    /* Mounting needs pull on the source; without it the client just uploads. */
    if (!from || reference_check_name(from) < 0 || !auth_allows(req, from, ACTION_PULL))
        return 0;
    int err = store_mount_blob(req->srv->st, ix, req->name, from, &d);
    if (err == REG_OK) {
        reply_blob_created(req, &d);
        return 1;
    }
    if (err != REG_ENOTFOUND) {
        reply_internal(req, err, "blob mount");
        return 1;
    }
    return 0;
}

/* With create-on-push off, pushing needs an existing repository. */
static int repository_or_reply(request *req)
{
    int64_t id;
    index_db *ix;
    if (req->srv->st->create_on_push)
        return REG_OK;
    if (!(ix = index_or_reply(req)))
        return REG_ERROR;
    int err = index_repo_id(&id, ix, req->name);
    if (err == REG_ENOTFOUND)
        reply_error(req, 404, "NAME_UNKNOWN", "repository %s does not exist", req->name);
    else if (err < 0)
        reply_internal(req, err, "repository lookup");
    return err;
}

void handle_upload_start(request *req)
{
    const char *mount = request_query(req, "mount");
    const char *dg = request_query(req, "digest");
    char id[UPLOAD_ID_LEN + 1];
    upload_state *s;
    if (repository_or_reply(req) < 0 || (mount && try_mount(req, mount)))
        return;
    if (!(s = new_state(req)))
        return;
    if (dg && digest_or_reply(&s->expected, req, dg) < 0)
        return;
    if (dg) {
        s->monolithic = 1;
        if (declared_size_or_reply(req) < 0)
            return;
        if (memory_body(req, s)) {
            req->on_body = keep_body;
            req->on_done = finish_memory_body;
            return;
        }
    }
    int err = upload_create(&s->u, id, req->srv->st->uploads, req->name);
    s->generation = 1;
    if (err < 0) {
        s->u = NULL;
        reply_internal(req, err, "upload start");
        return;
    }
    if (!dg) {
        release_session(req);
        struct MHD_Response *r = response_empty();
        response_header(r, MHD_HTTP_HEADER_LOCATION, session_location(req, id));
        response_header(r, MHD_HTTP_HEADER_RANGE, "0-0");
        response_header(r, "Docker-Upload-UUID", id);
        request_send(req, 202, r);
        return;
    }
    req->on_body = append_body;
    req->on_done = finish_put;
}

void handle_upload_patch(request *req)
{
    upload_state *s = session_or_reply(req);
    if (!s || content_range_or_reply(req, s) < 0 || declared_size_or_reply(req) < 0)
        return;
    req->on_body = append_body;
    req->on_done = finish_patch;
}

void handle_upload_put(request *req)
{
    const char *dg = request_query(req, "digest");
    digest expected;
    if (!dg) {
        reply_error(req, 400, "DIGEST_INVALID", "the digest query parameter is required");
        return;
    }
    if (digest_or_reply(&expected, req, dg) < 0)
        return;
    upload_state *s = session_or_reply(req);
    if (!s || content_range_or_reply(req, s) < 0 || declared_size_or_reply(req) < 0)
        return;
    s->expected = expected;
    receive_blob(req, s);
}

void handle_upload_status(request *req)
{
    uint64_t offset = 0;
    if (upload_peek(&offset, req->srv->st->uploads, req->arg, req->name) < 0) {
        reply_error(req, 404, "BLOB_UPLOAD_UNKNOWN", "no upload session %s in repository %s",
                    req->arg, req->name);
        return;
    }
    struct MHD_Response *r = response_empty();
    response_header(r, MHD_HTTP_HEADER_LOCATION, session_location(req, req->arg));
    response_header(r, MHD_HTTP_HEADER_RANGE, upload_range_text(req, offset));
    response_header(r, "Docker-Upload-UUID", req->arg);
    request_send(req, 204, r);
}

void handle_upload_cancel(request *req)
{
    upload_state *s = session_or_reply(req);
    if (!s)
        return;
    upload_discard(req->srv->st->uploads, s->u);
    s->u = NULL;
    request_send(req, 204, response_empty());
}
