/* console_session.h - who is looking at the console: a signed-in user (a session cookie
 * naming a row of the index, so every instance knows it and sign-out ends it everywhere) or an
 * anonymous visitor, and what the registry's one policy decision (auth/policy.h) lets them
 * see and change; sign-in with the password check and throttle of /token (auth/login.h);
 * CSRF protection of every change. */
#ifndef OCIREG_CONSOLE_SESSION_H
#define OCIREG_CONSOLE_SESSION_H

#include "server/http/http.h"

#include <jansson.h>
#include <stdint.h>

#define CONSOLE_COOKIE      "ocireg_console"
#define CONSOLE_COOKIE_HEX  64 /* the cookie: 32 random bytes in hex */
#define CONSOLE_CSRF_HEADER "X-CSRF-Token"
#define CONSOLE_CSRF_HEX    64   /* HMAC-SHA256 in hex */
#define CONSOLE_SIGN_IN_MAX 4096 /* bytes of a sign-in request body */

struct policy;

typedef struct console_viewer {
    const char *user;      /* signed-in user (request arena); NULL when anonymous */
    int auth_on;           /* 0: no users, the console is as open as the API */
    struct policy *policy; /* the viewer's grants and the stored policies; NULL with auth off */
    char csrf[CONSOLE_CSRF_HEX + 1];         /* what changes must carry in CONSOLE_CSRF_HEADER */
    int64_t expires_at;                      /* the session's end; 0 when anonymous */
    int session_ended;                       /* a cookie came that names no live session */
    char session_id[CONSOLE_COOKIE_HEX + 1]; /* the session's row (SHA-256 of the cookie), or "" */
} console_viewer;

/* Who sent the request and what they may do. REG_ERROR (reply not sent) when the session or
 * the policy cannot be read. */
int console_viewer_load(console_viewer *out, request *req, index_db *ix);
void console_viewer_free(console_viewer *v);

/* The actions (auth/scope.h bits) the viewer has on repository `repo`. */
unsigned console_actions(const console_viewer *v, const char *repo);
/* Whether ECR action `action` ("ecr:BatchDeleteImage") on `repo` is permitted, as the ECR API
 * decides it (policy_permits). */
int console_permits(const console_viewer *v, const char *repo, const char *action, unsigned need);
/* Registry administration: admin on every repository (a grant on "*"), as POST /admin/gc. */
int console_is_admin(const console_viewer *v);

/* A change (POST, DELETE) must come from the console's own page: same Origin (when sent),
 * Sec-Fetch-Site same-origin (when sent), and the viewer's CSRF token in its header. REG_OK,
 * or REG_EDENIED after a 403. */
int console_change_or_reply(request *req, const console_viewer *v);

/* GET /console/api/session: the viewer as the page needs it. */
json_t *console_session_json(request *req, const console_viewer *v);
/* POST /console/api/session with {"username", "password"}: sets on_body / on_done. */
void console_sign_in(request *req);
/* DELETE /console/api/session: the session's row goes and the cookie is cleared. */
void console_sign_out(request *req, const console_viewer *v, index_db *ix);

#endif
