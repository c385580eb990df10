/* console_repos.c - the console's repository endpoints: the list (by name prefix, in pages,
 * only what the viewer may pull), one repository, its lifecycle preview, its deletion. */
#include "auth/scope.h"
#include "server/console/console_api.h"
#include "server/console/console_reply.h"
#include "storage/base/reg_error.h"
#include "storage/gc.h"
#include "storage/index/index_console.h"
#include "storage/index/index_repos.h"

#include <stdlib.h>
#include <string.h>

/* A prefix is the start of a repository name: its characters, nothing else. */
static int prefix_ok(const char *p)
{
    return strlen(p) <= 255 && strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789._-/") == strlen(p);
}

static json_t *summary_json(const char *name, const repo_summary *s)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:b}", "name", name, "imageCount",
                     (json_int_t)s->image_count, "tagCount", (json_int_t)s->tag_count, "sizeBytes",
                     (json_int_t)s->size_bytes, "lastPushedAt", (json_int_t)s->last_pushed_at,
                     "createdAt", (json_int_t)s->created_at, "mutability", s->mutability,
                     "hasLifecyclePolicy", s->has_policy);
}

typedef struct list_ctx {
    request *req;
    const console_viewer *v;
    int64_t limit;      /* visible names wanted */
    const char **names; /* the page's visible names (request arena) */
    int64_t count;
    const char *last; /* the last name looked at */
    int64_t scanned;
} list_ctx;

/* Names read from the index per statement while filling a page. */
#define SCAN_BATCH 512

static int take_name(void *ctx, const char *name)
{
    list_ctx *l = ctx;
    if (l->count == l->limit)
        return REG_EBUSY; /* page full: `last` is where the next one starts */
    l->scanned++;
    if (!(l->last = arena_strdup(&l->req->mem, name)))
        return REG_ERROR;
    if (console_actions(l->v, name) & ACTION_PULL)
        l->names[l->count++] = l->last;
    return REG_OK;
}

/* Fill the page: names from the index in batches, filtered by the viewer's grants, until the
 * page is full, the names run out, or CONSOLE_SCAN_MAX were looked at. *more_out says whether
 * names follow `l->last`. */
static int collect_names(int *more_out, index_db *ix, list_ctx *l, const char *prefix,
                         const char *after)
{
    int err = REG_OK, more = 1;
    while (more && l->count < l->limit && l->scanned < CONSOLE_SCAN_MAX && err == REG_OK) {
        /* a whole batch even for a few names: take_name stops at a full page */
        int64_t batch = SCAN_BATCH;
        if (batch > CONSOLE_SCAN_MAX - l->scanned)
            batch = CONSOLE_SCAN_MAX - l->scanned;
        err = index_repo_names_prefix(&more, ix, prefix, l->last ? l->last : after, batch,
                                      take_name, l);
    }
    if (err == REG_EBUSY) { /* stopped at a full page with a name still to come */
        err = REG_OK;
        more = 1;
    }
    *more_out = more;
    return err;
}

void console_repositories(request *req, index_db *ix, const console_viewer *v)
{
    const char *prefix = request_query(req, "prefix");
    const char *after = request_query(req, "after");
    list_ctx l = {.req = req, .v = v};
    int more = 0;
    prefix = prefix ? prefix : "";
    if (!prefix_ok(prefix) || (after && !prefix_ok(after))) {
        console_reply_error(req, 400,
                            "a repository name holds only a-z, 0-9, '.', '_', '-' "
                            "and '/'");
        return;
    }
    l.limit = console_query_int(req, "limit", CONSOLE_PAGE_DEFAULT, CONSOLE_PAGE_MAX);
    l.names = arena_alloc(&req->mem, (size_t)l.limit * sizeof(*l.names));
    int err = l.names ? collect_names(&more, ix, &l, prefix, after) : REG_ERROR;
    json_t *list = json_array();
    for (int64_t i = 0; err == REG_OK && i < l.count; i++) {
        repo_summary s;
        /* gone since its name was read: left out */
        if ((err = index_repo_summary(&s, ix, l.names[i])) == REG_OK)
            json_array_append_new(list, summary_json(l.names[i], &s));
        else if (err == REG_ENOTFOUND)
            err = REG_OK;
    }
    if (err < 0) {
        json_decref(list);
        console_reply_error(req, 500, "the repositories cannot be listed: %s",
                            reg_error_last(index_errmsg(ix)));
        return;
    }
    console_reply_json(req, 200,
                       json_pack("{s:o, s:o, s:I}", "repositories", list, "next",
                                 more && l.last ? json_string(l.last) : json_null(), "scanned",
                                 (json_int_t)l.scanned));
}

/* What the viewer may do to a repository's contents, for the page to show or hide buttons
 * (the server checks again at every change). */
static json_t *rights_json(const console_viewer *v, const char *repo)
{
    unsigned actions = console_actions(v, repo);
    return json_pack("{s:b, s:b, s:b, s:b}", "pull", (actions & ACTION_PULL) != 0, "push",
                     (actions & ACTION_PUSH) != 0, "deleteImage",
                     console_permits(v, repo, "ecr:BatchDeleteImage", ACTION_DELETE),
                     "deleteRepository",
                     console_permits(v, repo, "ecr:DeleteRepository", ACTION_DELETE));
}

void console_repository(request *req, index_db *ix, const console_viewer *v)
{
    const char *repo = console_repo_or_reply(req, ix, v, "name");
    repo_summary s;
    char *policy = NULL;
    if (!repo)
        return;
    int err = index_repo_summary(&s, ix, repo);
    if (err == REG_OK && (err = index_repo_policy(&policy, ix, repo)) == REG_ENOTFOUND)
        err = REG_OK;
    if (err < 0) {
        console_reply_error(req, err == REG_ENOTFOUND ? 404 : 500, "repository %s: %s", repo,
                            reg_error_last(index_errmsg(ix)));
        return;
    }
    json_t *out = summary_json(repo, &s);
    json_object_set_new(out, "lifecyclePolicy", policy ? json_string(policy) : json_null());
    json_object_set_new(out, "can", rights_json(v, repo));
    free(policy);
    console_reply_json(req, 200, out);
}

void console_repository_delete(request *req, index_db *ix, const console_viewer *v)
{
    const char *repo = console_repo_or_reply(req, ix, v, "name");
    if (!repo)
        return;
    if (!console_permits(v, repo, "ecr:DeleteRepository", ACTION_DELETE)) {
        console_reply_error(req, 403, "you may not delete repository %s", repo);
        return;
    }
    int err = index_repo_delete(ix, repo, 1);
    if (err == REG_ENOTFOUND)
        console_reply_error(req, 404, "repository %s is gone already", repo);
    else if (err < 0)
        console_reply_error(req, 500, "repository %s cannot be deleted: %s", repo,
                            reg_error_last(index_errmsg(ix)));
    else
        console_reply_json(req, 200, json_pack("{s:s}", "deleted", repo));
}

static int add_expiring(void *ctx, const char *digest, const char *const *tags, size_t ntags,
                        int64_t pushed_at, int rule)
{
    json_t *tag_list = json_array();
    for (size_t i = 0; i < ntags; i++)
        json_array_append_new(tag_list, json_string(tags[i]));
    return json_array_append_new(ctx, json_pack("{s:s, s:o, s:I, s:i}", "digest", digest, "tags",
                                                tag_list, "pushedAt", (json_int_t)pushed_at, "rule",
                                                rule)) == 0
               ? REG_OK
               : REG_ERROR;
}

/* What `policy` would expire now in repo: {"policy", "expiring"}, or with "error" (and no
 * images) when the policy is invalid (status 200 for a stored policy, 400 for a draft). */
static void reply_preview(request *req, index_db *ix, const char *repo, const char *policy,
                          unsigned invalid_status)
{
    json_t *expiring = json_array();
    reg_error_clear();
    int err = gc_lifecycle_preview(ix, repo, policy, add_expiring, expiring);
    if (err == REG_EINVALID) {
        json_decref(expiring);
        const char *why = reg_error_last("the policy is invalid");
        if (invalid_status == 200)
            console_reply_json(
                req, 200,
                json_pack("{s:s, s:[], s:s}", "policy", policy, "expiring", "error", why));
        else
            console_reply_error(req, invalid_status, "the policy is invalid: %s", why);
    } else if (err < 0) {
        json_decref(expiring);
        console_reply_error(req, 500, "the preview failed: %s", reg_error_last(index_errmsg(ix)));
    } else {
        console_reply_json(req, 200,
                           json_pack("{s:s, s:o}", "policy", policy, "expiring", expiring));
    }
}

/* The stored lifecycle policy and what it would expire now (computed, not kept: the ECR
 * API's stored preview stays as it was). */
void console_lifecycle(request *req, index_db *ix, const console_viewer *v)
{
    const char *repo = console_repo_or_reply(req, ix, v, "name");
    char *policy = NULL;
    if (!repo)
        return;
    int err = index_repo_policy(&policy, ix, repo);
    if (err == REG_ENOTFOUND)
        console_reply_json(req, 200, json_pack("{s:n, s:[]}", "policy", "expiring"));
    else if (err < 0)
        console_reply_error(req, 500, "the policy cannot be read: %s", index_errmsg(ix));
    else
        reply_preview(req, ix, repo, policy, 200);
    free(policy);
}

/* A draft policy's preview ({"policy": text}): nothing is stored. */
void console_lifecycle_draft(request *req, index_db *ix, const console_viewer *v)
{
    const char *repo = console_repo_or_reply(req, ix, v, "name");
    const char *policy = json_string_value(json_object_get(console_body(req), "policy"));
    if (!repo)
        return;
    if (!policy)
        console_reply_error(req, 400, "the request needs the policy text as \"policy\"");
    else
        reply_preview(req, ix, repo, policy, 400);
}
