/* fuzz_token.c - JWT verification (auth/token.c) and the Authorization header path in front
 * of it. authorize_or_reply and authorize_basic are static in server/http/auth.c and need a live
 * request, so their parsing is replayed here on the same public calls: "Basic " + base64 of
 * "AWS:<jwt>" (base64_decode, then token_verify with the ECR login audience) and "Bearer <jwt>".
 *
 * The first byte picks the mode; the rest is:
 *   0  a JWT, verified as sent
 *   1  a claims object: signed with the fuzz keyring under a well-formed header, then verified
 *   2  "<header JSON>\n<claims JSON>": "@kid@" in the header becomes the signing key's id;
 *      signed and verified
 *   3  "<header JSON>\n<claims JSON>\n<signature text>": verified with that signature
 *   4  an Authorization header value, dispatched as server/http/auth.c does
 *   5  a claims object: signed, wrapped as Basic base64("AWS:" + jwt), dispatched as in 4 */
#include "auth/base64url.h"
#include "auth/keys.h"
#include "auth/token.h"
#include "fuzz_util.h"
#include "server/http/arena.h"
#include "server/http/auth.h"
#include "storage/base/reg_error.h"

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <strings.h>
#include <unistd.h>

#define NOW ((time_t)1700000000)

static keyring *kr;
static char data_dir[] = "/tmp/ocireg-fuzz-token-XXXXXX";

/* The keys stay in memory; the folder they were generated in goes at once, so a crashed run
 * leaves nothing behind. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[sizeof(data_dir) + 32];
    if (!mkdtemp(data_dir) || keyring_load(&kr, data_dir) != REG_OK) {
        fprintf(stderr, "fuzz_token: cannot create a keyring in %s\n", data_dir);
        abort();
    }
    snprintf(path, sizeof(path), "%s/keys/token.pem", data_dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/keys", data_dir);
    rmdir(path);
    rmdir(data_dir);
    return 0;
}

static char *b64url(const char *text, size_t len)
{
    char *out = base64url_encode((const unsigned char *)text, len);
    if (!out)
        abort();
    return out;
}

/* ES256 over `input` with the keyring's signing key, as JOSE's base64url(r || s). */
static char *sign_es256(const char *input)
{
    unsigned char der[128], raw[64];
    size_t der_len = sizeof(der);
    const unsigned char *p = der;
    const BIGNUM *r, *s;
    const char *kid;
    EVP_PKEY *key = keyring_signer(kr, &kid);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, der, &der_len, (const unsigned char *)input, strlen(input)) != 1)
        abort();
    EVP_MD_CTX_free(md);
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (!sig)
        abort();
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
        abort();
    ECDSA_SIG_free(sig);
    char *out = base64url_encode(raw, sizeof(raw));
    if (!out)
        abort();
    return out;
}

/* "<b64(header)>.<b64(claims)>.<signature>", signed here when `signature` is NULL. */
static char *make_jwt(const char *header, size_t header_len, const char *claims, size_t claims_len,
                      const char *signature)
{
    char *h = b64url(header, header_len), *c = b64url(claims, claims_len), *input = NULL;
    char *jwt = NULL, *sig = NULL;
    if (asprintf(&input, "%s.%s", h, c) < 0)
        abort();
    if (!signature)
        signature = sig = sign_es256(input);
    if (asprintf(&jwt, "%s.%s", input, signature) < 0)
        abort();
    free(h);
    free(c);
    free(input);
    free(sig);
    return jwt;
}

/* The header with every "@kid@" replaced by the signing key's id. */
static char *with_kid(const char *header)
{
    const char *kid = NULL;
    keyring_signer(kr, &kid);
    size_t n = 0, kid_len = strlen(kid);
    for (const char *p = header; (p = strstr(p, "@kid@")); p += 5)
        n++;
    char *out = malloc(strlen(header) + n * kid_len + 1), *w = out;
    if (!out)
        abort();
    for (const char *p = header;;) {
        const char *at = strstr(p, "@kid@");
        size_t len = at ? (size_t)(at - p) : strlen(p);
        memcpy(w, p, len);
        w += len;
        if (!at)
            break;
        memcpy(w, kid, kid_len);
        w += kid_len;
        p = at + 5;
    }
    *w = '\0';
    return out;
}

static void check_claims(const token_claims *c)
{
    FUZZ_CHECK(strlen(c->sub) <= USER_NAME_MAX);
    FUZZ_CHECK(c->naccess <= TOKEN_MAX_ACCESS);
    for (size_t i = 0; i < c->naccess; i++) {
        FUZZ_CHECK(strnlen(c->access[i].type, SCOPE_TYPE_MAX) < SCOPE_TYPE_MAX);
        FUZZ_CHECK(strnlen(c->access[i].name, SCOPE_NAME_MAX) < SCOPE_NAME_MAX);
        FUZZ_CHECK((c->access[i].actions & ~(unsigned)ACTION_ALL) == 0);
        FUZZ_CHECK((token_allows(c, c->access[i].type, c->access[i].name) & c->access[i].actions) ==
                   c->access[i].actions);
    }
}

static int verify(const char *jwt, const char *audience)
{
    token_claims claims;
    reg_error_clear();
    int err = token_verify(&claims, kr, jwt, TOKEN_ISSUER, audience, NOW);
    FUZZ_CHECK(err == REG_OK || err == REG_EDENIED);
    if (err == REG_OK)
        check_claims(&claims);
    else
        FUZZ_CHECK(reg_error_last(NULL) != NULL);
    return err;
}

/* A token this keyring signed is never refused for its signature; under our own header it
 * fails, if at all, on its claims. */
static void verify_signed(const char *jwt, int our_header)
{
    if (verify(jwt, TOKEN_SERVICE) == REG_OK || strlen(jwt) > TOKEN_MAX_BYTES)
        return;
    const char *why = reg_error_last("");
    FUZZ_CHECK(strcmp(why, "token signature is invalid") != 0);
    if (our_header) {
        FUZZ_CHECK(strcmp(why, "token is signed by an unknown key") != 0);
        FUZZ_CHECK(strcmp(why, "token algorithm is not ES256") != 0);
    }
}

/* server/http/auth.c's authorize_or_reply and authorize_basic, up to token_verify: its result, or
 * 1 when the header never reaches it. */
static int authorization_header(const char *authz)
{
    int err = 1;
    if (!strncasecmp(authz, "Basic ", 6)) {
        arena mem;
        size_t n = 0;
        const char *b64 = authz + 6;
        arena_init(&mem);
        unsigned char *raw = base64_decode(b64, strnlen(b64, TOKEN_MAX_BYTES), &n);
        char *text = raw ? arena_strndup(&mem, (char *)raw, n) : NULL;
        free(raw);
        if (text && !strncmp(text, "AWS:", 4))
            err = verify(text + 4, ECR_LOGIN_AUDIENCE);
        arena_free(&mem);
    } else if (!strncasecmp(authz, "Bearer ", 7)) {
        err = verify(authz + 7, TOKEN_SERVICE);
    }
    return err;
}

static const char default_header[] = "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"@kid@\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *lines[3];
    if (size < 1 || size > 2 * TOKEN_MAX_BYTES)
        return 0;
    int mode = data[0] % 6;
    char *text = fuzz_cstr(data + 1, size - 1);
    char *header = NULL, *jwt = NULL, *login = NULL, *b64 = NULL;
    size_t n;

    switch (mode) {
    case 0:
        verify(text, TOKEN_SERVICE);
        break;
    case 1:
    case 5:
        header = with_kid(default_header);
        jwt = make_jwt(header, strlen(header), text, strlen(text), NULL);
        if (mode == 1) {
            verify_signed(jwt, 1);
            break;
        }
        if (asprintf(&login, "AWS:%s", jwt) < 0 ||
            !(b64 = base64_encode((unsigned char *)login, strlen(login))))
            abort();
        free(login);
        if (asprintf(&login, "Basic %s", b64) < 0)
            abort();
        /* Wrapping a login password in Basic credentials changes nothing about it. */
        if (strlen(b64) < TOKEN_MAX_BYTES)
            FUZZ_CHECK(authorization_header(login) == verify(jwt, ECR_LOGIN_AUDIENCE));
        break;
    case 2:
    case 3:
        n = fuzz_lines(lines, 3, text);
        if (n < 2 || (mode == 3 && n < 3))
            break;
        header = with_kid(lines[0]);
        jwt = make_jwt(header, strlen(header), lines[1], strlen(lines[1]),
                       mode == 3 ? lines[2] : NULL);
        if (mode == 2)
            verify_signed(jwt, 0);
        else
            verify(jwt, TOKEN_SERVICE);
        break;
    case 4:
        authorization_header(text);
        break;
    }
    free(header);
    free(jwt);
    free(login);
    free(b64);
    free(text);
    return 0;
}
