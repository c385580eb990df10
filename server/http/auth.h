/* auth.h - per-request authorization for the HTTP API: verifies the bearer token (with a
 * small per-thread cache of verified tokens), checks the access it grants, and answers 401 with
 * the Docker token protocol's challenge naming exactly the scope the request needs. */
#ifndef OCIREG_SERVER_AUTH_H
#define OCIREG_SERVER_AUTH_H

#include "server/http/http.h"

#define TOKEN_ISSUER        "ocireg"
#define TOKEN_SERVICE       "ocireg"
#define ANONYMOUS_PRINCIPAL "anonymous"
/* Audience of the login passwords GetAuthorizationToken issues (user "AWS"). */
#define ECR_LOGIN_AUDIENCE "ocireg:ecr-login"

/* The token keyring, loaded (the first key generated) at the first call; NULL, logged, when it
 * cannot be. A registry without auth never needs it, and OpenSSL's key machinery costs
 * about 2 MiB of resident memory. */
struct keyring *server_keys(server *srv);

int auth_enabled(const server *srv);
void auth_set_enabled(server *srv, int on);

/* REG_OK when the request may go on; otherwise the 401 has been sent. `need` are action bits
 * on (type, name); need 0 asks only for a valid token (GET /v2/). `challenge_actions` is what
 * the challenge's scope asks for (e.g. "pull,push" for a push). */
int authorize_or_reply(request *req, const char *type, const char *name, unsigned need,
                       const char *challenge_actions);

/* The user an ECR login password (GetAuthorizationToken) was issued to, or NULL with the
 * reason in reg_error_last(). Checked at every use against the index: the user must still
 * exist with the generation the password was issued under (auth_generation_current). */
const char *ecr_login_subject(request *req, const char *password);

/* REG_OK if `user` exists with generation `gen` (what a refresh token or ECR login password
 * carries); REG_EDENIED with the reason in reg_error_last() if the user was deleted, made
 * again, or given a new password since. */
int auth_generation_current(request *req, const char *user, int64_t gen);

/* Whether the request's token grants `need` on repository `name` (always when auth is off). */
int auth_allows(const request *req, const char *name, unsigned need);

/* The base URL clients reach us by: the configured external URL, X-Forwarded-* from a trusted
 * proxy, or the Host header. Allocated in the request arena. */
const char *request_base_url(request *req);

#endif
