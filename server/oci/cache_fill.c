/* cache_fill.c - pull-through fills from the OCI handlers (see cache_fill.h). */
#include "server/oci/cache_fill.h"
#include "auth/sealed.h"
#include "auth/scope.h"
#include "server/http/auth.h"
#include "server/http/errors.h"
#include "server/http/log.h"
#include "storage/base/reg_error.h"
#include "storage/pullthrough.h"

#include <openssl/crypto.h>
#include <string.h>

/* MHD's piece of a streamed blob. */
#define FILL_BLOCK (256 * 1024)
/* How long a content reader waits for an upstream's bytes before giving its server thread
 * back to the thread's other connections. */
#define FILL_WAIT_MS 20

typedef struct fill_context {
    cache_rule rule;
    char password[CACHE_PASSWORD_MAX + 1];
    remote_endpoint ep;
    pullthrough_source src;
} fill_context;

/* The rule of the request's repository, when the caller may fill it. */
static int find_rule(fill_context *fc, request *req, index_db *ix)
{
    if (!req->srv->pullthrough || index_cache_rule_match(&fc->rule, ix, req->name) < 0 ||
        !auth_allows(req, req->name, ACTION_PULL_THROUGH))
        return REG_ENOTFOUND;
    return REG_OK;
}

/* The rule's upstream, its password opened. */
static int prepare(fill_context *fc, request *req)
{
    server *srv = req->srv;
    fc->password[0] = '\0';
    if (fc->rule.password_len &&
        sealed_text_open(fc->password, sizeof(fc->password), srv->master_key, fc->rule.password,
                         fc->rule.password_len) < 0) {
        log_msg(LOG_ERROR, "pull-through: the upstream password of rule %s: %s", fc->rule.prefix,
                reg_error_last("cannot open the password"));
        return REG_ENOTFOUND;
    }
    fc->ep = (remote_endpoint){.url = fc->rule.upstream_url,
                               .username = fc->rule.username[0] ? fc->rule.username : NULL,
                               .password = fc->password[0] ? fc->password : NULL,
                               .ca_file = fc->rule.ca_file[0] ? fc->rule.ca_file : NULL,
                               .stall_timeout_ms = srv->cfg.upstream_stall_timeout * 1000L};
    fc->src = (pullthrough_source){.rule = &fc->rule, .ep = &fc->ep, .repo = req->name};
    return REG_OK;
}

static void forget(fill_context *fc)
{
    OPENSSL_cleanse(fc->password, sizeof(fc->password));
}

/* A fill that failed with nothing cached: 404 when the upstream has no such thing, else 502
 * saying what the upstream did. */
static void reply_failed(request *req, int err, const char *unknown_code, const char *what)
{
    const char *why = reg_error_last("the upstream failed");
    log_msg(LOG_WARN, "pull-through: %s %s of %s: %s", what, req->arg, req->name, why);
    if (err == REG_ENOTFOUND)
        reply_error(req, 404, unknown_code, "%s %s is not in repository %s nor upstream: %s", what,
                    req->arg, req->name, why);
    else if (err == REG_ETOOLARGE)
        reply_error(req, 502, "SIZE_INVALID", "%s %s from the upstream: %s", what, req->arg, why);
    else
        reply_error(req, 502, "UNKNOWN", "%s %s cannot be fetched from the upstream: %s", what,
                    req->arg, why);
}

cache_result cache_manifest_or_reply(request *req, index_db *ix, const reference *ref, int cached)
{
    fill_context fc;
    int stale = 0;
    if (find_rule(&fc, req, ix) < 0)
        return CACHE_AS_IS;
    if (pullthrough_fresh(ix, &fc.rule, req->name, ref, cached))
        return CACHE_AS_IS;
    if (prepare(&fc, req) < 0)
        return CACHE_AS_IS;
    int err = pullthrough_manifest(&stale, req->srv->pullthrough, ix, &fc.src, ref, cached);
    forget(&fc);
    if (err == REG_OK)
        return CACHE_READY;
    reply_failed(req, err, "MANIFEST_UNKNOWN", "manifest");
    return CACHE_REPLIED;
}

/* libmicrohttpd's content reader: a piece of the blob, or 0 when none came within
 * FILL_WAIT_MS, so that the server thread goes on with its other connections and asks again
 * (libmicrohttpd calls a body that is not ready again at its next turn). */
static ssize_t read_fill(void *cls, uint64_t pos, char *out, size_t max)
{
    ssize_t got = pullthrough_read(cls, pos, out, max, FILL_WAIT_MS);
    if (got > 0)
        return got;
    if (got == REG_EBUSY)
        return 0;
    if (got == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    log_msg(LOG_WARN, "pull-through: %s", reg_error_last("fill failed"));
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void free_fill(void *cls)
{
    pullthrough_reader_free(cls);
}

static void send_stream(request *req, pullthrough_reader *rd, int64_t size, const digest *d)
{
    struct MHD_Response *r = MHD_create_response_from_callback(
        size >= 0 ? (uint64_t)size : MHD_SIZE_UNKNOWN, FILL_BLOCK, read_fill, rd, free_fill);
    if (!r) {
        pullthrough_reader_free(rd);
        reply_error(req, 500, "UNKNOWN", "out of memory");
        return;
    }
    response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    response_header(r, "Docker-Content-Digest", d->str);
    response_header(r, MHD_HTTP_HEADER_ETAG, arena_printf(&req->mem, "\"%s\"", d->str));
    if (size >= 0)
        req->bytes_out = (uint64_t)size;
    request_send(req, 200, r);
}

cache_result cache_blob_or_reply(request *req, index_db *ix, const digest *d)
{
    fill_context fc;
    pullthrough_reader *rd = NULL;
    int64_t size = -1;
    if (find_rule(&fc, req, ix) < 0 || prepare(&fc, req) < 0)
        return CACHE_AS_IS;
    int err = pullthrough_blob(&rd, &size, req->srv->pullthrough, ix, &fc.src, d);
    forget(&fc);
    if (err == REG_OK && rd && request_is(req, "HEAD")) {
        err = pullthrough_wait(rd);
        pullthrough_reader_free(rd);
        rd = NULL;
    }
    if (err < 0) {
        reply_failed(req, err, "BLOB_UNKNOWN", "blob");
        return CACHE_REPLIED;
    }
    if (!rd)
        return CACHE_READY;
    send_stream(req, rd, size, d);
    return CACHE_REPLIED;
}
