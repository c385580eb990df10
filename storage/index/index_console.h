/* index_console.h - what the web console keeps in and asks of the index: signed-in sessions
 * (so that every instance on a shared index knows them), repository names by prefix with their
 * summaries, and the recent gc runs. */
#ifndef OCIREG_INDEX_CONSOLE_H
#define OCIREG_INDEX_CONSOLE_H

#include "storage/index/index.h"
#include "storage/index/index_auth.h"
#include "storage/index/index_gc.h"

#include <stdint.h>

/* A session is known by the hex SHA-256 of its cookie, never by the cookie itself. */
#define SESSION_ID_HEX 64

/* Open a session of `user` (under the user's generation `generation`) until `expires_at`, in a
 * write transaction of its own that also forgets the sessions expired by `now`. */
int index_session_put(index_db *ix, const char *id_hex, const char *user, int64_t generation,
                      int64_t now, int64_t expires_at);
/* The session's user (USER_NAME_MAX + 1 bytes) and end; REG_ENOTFOUND when there is no such
 * session, it has expired, or its user was deleted or given a new password since. */
int index_session_get(char *user_out, int64_t *expires_out, index_db *ix, const char *id_hex,
                      int64_t now);
/* End a session (sign-out); REG_OK also when it was gone already. */
int index_session_delete(index_db *ix, const char *id_hex);

/* Repository names starting with `prefix` ("" for all) after `after` (NULL or "" for the
 * start), in name order, at most `limit`; *more_out says whether more follow. A range scan on
 * the name index: the cost is the page, not the number of repositories. */
int index_repo_names_prefix(int *more_out, index_db *ix, const char *prefix, const char *after,
                            int64_t limit, index_name_cb cb, void *ctx);

typedef struct repo_summary {
    char mutability[16];
    int64_t created_at;
    int has_policy;
    int64_t image_count;
    int64_t tag_count;
    int64_t size_bytes;     /* sum of the repository's distinct blob sizes */
    int64_t last_pushed_at; /* 0 when nothing was pushed */
} repo_summary;

/* REG_ENOTFOUND when there is no such repository. */
int index_repo_summary(repo_summary *out, index_db *ix, const char *name);

typedef int (*index_gc_run_cb)(void *ctx, const gc_totals *run);
/* The last `limit` gc runs recorded (index_gc_record), newest first. */
int index_gc_runs(index_db *ix, int64_t limit, index_gc_run_cb cb, void *ctx);

#endif
