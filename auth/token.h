/* token.h - the registry's JWTs: ES256-signed (kid names the key), carrying iss, sub, aud,
 * exp, nbf, iat, jti and the Docker token protocol's access claim. Verification accepts ES256
 * only, from a known key, with the expected issuer and audience, within its time window. */
#ifndef OCIREG_TOKEN_H
#define OCIREG_TOKEN_H

#include "auth/keys.h"
#include "auth/scope.h"
#include "storage/index/index_auth.h"

#include <stdint.h>
#include <time.h>

#define TOKEN_MAX_ACCESS 16
#define TOKEN_MAX_BYTES  16384
#define TOKEN_CLOCK_SKEW 60

typedef struct token_claims {
    char sub[USER_NAME_MAX + 1]; /* "" for anonymous */
    char aud[128];
    int64_t iat, nbf, exp;
    int64_t gen; /* the user's generation when issued (user_record), claim "gen"; 0 if none */
    size_t naccess;
    scope access[TOKEN_MAX_ACCESS];
} token_claims;

/* Sign claims (iss = issuer; jti is generated) into a malloc'd JWT the caller frees. */
int token_sign(char **out, const keyring *kr, const char *issuer, const token_claims *c);

/* REG_OK with the claims, or REG_EDENIED with a reason in reg_error_last() (never the token
 * itself). */
int token_verify(token_claims *out, const keyring *kr, const char *jwt, const char *issuer,
                 const char *audience, time_t now);

/* The actions the claims grant on one scope target. */
unsigned token_allows(const token_claims *c, const char *type, const char *name);

#endif
