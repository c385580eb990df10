/* token.c - JWT ES256 encoding, signing and verification with OpenSSL and jansson (see
 * token.h). Signatures are JOSE's raw r||s (64 bytes), converted to and from DER for EVP. */
#include "auth/token.h"
#include "auth/base64url.h"
#include "storage/base/reg_error.h"

#include <jansson.h>
#include <openssl/ecdsa.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define SIG_LEN 64

static char *encode_json(json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    char *b64 = text ? base64url_encode((unsigned char *)text, strlen(text)) : NULL;
    free(text);
    json_decref(j);
    return b64;
}

static json_t *access_json(const token_claims *c)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < c->naccess; i++) {
        json_t *actions = json_array();
        static const struct {
            unsigned bit;
            const char *name;
        } names[] = {{ACTION_PULL, "pull"},
                     {ACTION_PUSH, "push"},
                     {ACTION_DELETE, "delete"},
                     {ACTION_ADMIN, "admin"},
                     {ACTION_PULL_THROUGH, "pull-through"}};
        for (size_t k = 0; actions && k < sizeof(names) / sizeof(names[0]); k++)
            if (c->access[i].actions & names[k].bit)
                json_array_append_new(actions, json_string(names[k].name));
        json_array_append_new(list, json_pack("{s:s, s:s, s:o}", "type", c->access[i].type, "name",
                                              c->access[i].name, "actions", actions));
    }
    return list;
}

/* DER ECDSA signature -> raw r||s. */
static int der_to_raw(unsigned char *raw, const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *r, *s;
    if (!sig)
        return REG_ERROR;
    ECDSA_SIG_get0(sig, &r, &s);
    int ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
    ECDSA_SIG_free(sig);
    return ok ? REG_OK : REG_ERROR;
}

static int sign_input(char **sig_b64, EVP_PKEY *key, const char *input)
{
    unsigned char der[128], raw[SIG_LEN];
    size_t der_len = sizeof(der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestSign(md, der, &der_len, (const unsigned char *)input, strlen(input)) == 1;
    EVP_MD_CTX_free(md);
    if (!ok || der_to_raw(raw, der, der_len) < 0)
        return REG_ERROR;
    *sig_b64 = base64url_encode(raw, SIG_LEN);
    return *sig_b64 ? REG_OK : REG_ERROR;
}

int token_sign(char **out, const keyring *kr, const char *issuer, const token_claims *c)
{
    const char *kid = NULL;
    unsigned char jti_raw[16];
    EVP_PKEY *key = keyring_signer(kr, &kid);
    char *jti = NULL, *header = NULL, *payload = NULL, *sig = NULL;
    int err = REG_ERROR;
    if (!key || RAND_bytes(jti_raw, sizeof(jti_raw)) != 1 || !(jti = base64url_encode(jti_raw, 16)))
        goto done;
    header = encode_json(json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ", "JWT", "kid", kid));
    payload = encode_json(json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:o, s:I}", "iss", issuer,
                                    "sub", c->sub, "aud", c->aud, "exp", (json_int_t)c->exp, "nbf",
                                    (json_int_t)c->nbf, "iat", (json_int_t)c->iat, "jti", jti,
                                    "access", access_json(c), "gen", (json_int_t)c->gen));
    if (!header || !payload)
        goto done;
    char *input = NULL;
    if (asprintf(&input, "%s.%s", header, payload) < 0)
        goto done;
    if (sign_input(&sig, key, input) == REG_OK && asprintf(out, "%s.%s", input, sig) >= 0)
        err = REG_OK;
    free(input);
done:
    free(jti);
    free(header);
    free(payload);
    free(sig);
    return err;
}

static json_t *decode_json_part(const char *part, size_t len)
{
    size_t n;
    unsigned char *raw = base64_decode(part, len, &n);
    json_t *j = raw ? json_loadb((char *)raw, n, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(raw);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int verify_signature(EVP_PKEY *key, const char *input, size_t input_len, const char *sig_b64,
                            size_t sig_len)
{
    size_t raw_len;
    unsigned char *raw = base64_decode(sig_b64, sig_len, &raw_len);
    unsigned char *der = NULL;
    int der_len = -1, ok = 0;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    if (raw && raw_len == SIG_LEN && sig) {
        BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
        if (r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
            der_len = i2d_ECDSA_SIG(sig, &der);
        } else {
            BN_free(r);
            BN_free(s);
        }
    }
    if (der_len > 0) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(md, der, (size_t)der_len, (const unsigned char *)input, input_len) ==
                 1;
        EVP_MD_CTX_free(md);
    }
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    free(raw);
    return ok ? REG_OK : REG_EDENIED;
}

static int audience_matches(json_t *aud, const char *audience)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), audience) == 0;
    size_t i;
    json_t *v;
    json_array_foreach(aud, i, v) if (json_is_string(v) &&
                                      strcmp(json_string_value(v), audience) == 0) return 1;
    return 0;
}

static int parse_access(token_claims *out, json_t *access)
{
    size_t i;
    json_t *entry;
    if (!access)
        return REG_OK;
    if (!json_is_array(access) || json_array_size(access) > TOKEN_MAX_ACCESS)
        return REG_EDENIED;
    json_array_foreach(access, i, entry)
    {
        const char *type, *name;
        json_t *actions;
        scope *s = &out->access[out->naccess];
        if (json_unpack(entry, "{s:s, s:s, s:o}", "type", &type, "name", &name, "actions",
                        &actions) < 0 ||
            !json_is_array(actions) || strlen(type) >= SCOPE_TYPE_MAX ||
            strlen(name) >= SCOPE_NAME_MAX)
            return REG_EDENIED;
        snprintf(s->type, sizeof(s->type), "%s", type);
        snprintf(s->name, sizeof(s->name), "%s", name);
        s->actions = 0;
        size_t k;
        json_t *a;
        json_array_foreach(actions, k, a)
        {
            unsigned bits = 0;
            if (json_is_string(a) && actions_parse(&bits, json_string_value(a)) == REG_OK)
                s->actions |= bits;
        }
        out->naccess++;
    }
    return REG_OK;
}

static int check_claims(token_claims *out, json_t *claims, const char *issuer, const char *audience,
                        time_t now)
{
    const char *iss = NULL, *sub = "";
    json_t *aud = NULL, *access = NULL;
    json_int_t exp = 0, nbf = 0, iat = 0, gen = 0;
    if (json_unpack(claims, "{s:s, s?s, s:o, s:I, s?I, s?I, s?o, s?I}", "iss", &iss, "sub", &sub,
                    "aud", &aud, "exp", &exp, "nbf", &nbf, "iat", &iat, "access", &access, "gen",
                    &gen) < 0)
        return reg_error_set(REG_EDENIED, "token claims are malformed");
    if (strcmp(iss, issuer) != 0)
        return reg_error_set(REG_EDENIED, "token issuer is not trusted");
    if (!audience_matches(aud, audience))
        return reg_error_set(REG_EDENIED, "token audience is not this registry");
    if (exp + TOKEN_CLOCK_SKEW < now)
        return reg_error_set(REG_EDENIED, "token has expired");
    if (nbf - TOKEN_CLOCK_SKEW > now)
        return reg_error_set(REG_EDENIED, "token is not valid yet");
    if (strlen(sub) > USER_NAME_MAX)
        return reg_error_set(REG_EDENIED, "token subject is malformed");
    memset(out, 0, sizeof(*out));
    snprintf(out->sub, sizeof(out->sub), "%s", sub);
    snprintf(out->aud, sizeof(out->aud), "%s", audience);
    out->exp = exp;
    out->nbf = nbf;
    out->iat = iat;
    out->gen = gen;
    if (parse_access(out, access) < 0)
        return reg_error_set(REG_EDENIED, "token access claim is malformed");
    return REG_OK;
}

int token_verify(token_claims *out, const keyring *kr, const char *jwt, const char *issuer,
                 const char *audience, time_t now)
{
    size_t len = strnlen(jwt, TOKEN_MAX_BYTES + 1);
    const char *dot1 = memchr(jwt, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - jwt)) : NULL;
    json_t *header = NULL, *claims = NULL;
    const char *alg = NULL, *kid = NULL;
    EVP_PKEY *key = NULL;
    int err;
    if (len > TOKEN_MAX_BYTES || !dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - jwt)))
        return reg_error_set(REG_EDENIED, "token is malformed");
    if (!(header = decode_json_part(jwt, (size_t)(dot1 - jwt))) ||
        json_unpack(header, "{s:s, s?s}", "alg", &alg, "kid", &kid) < 0)
        err = reg_error_set(REG_EDENIED, "token is malformed");
    else if (strcmp(alg, "ES256") != 0)
        err = reg_error_set(REG_EDENIED, "token algorithm is not ES256");
    else if (!kr)
        err = reg_error_set(REG_EDENIED, "the registry cannot load its token keys");
    else if (!kid || !(key = keyring_find(kr, kid)))
        err = reg_error_set(REG_EDENIED, "token is signed by an unknown key");
    else if (verify_signature(key, jwt, (size_t)(dot2 - jwt), dot2 + 1,
                              len - (size_t)(dot2 + 1 - jwt)) < 0)
        err = reg_error_set(REG_EDENIED, "token signature is invalid");
    else if (!(claims = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1))))
        err = reg_error_set(REG_EDENIED, "token is malformed");
    else
        err = check_claims(out, claims, issuer, audience, now);
    json_decref(header);
    json_decref(claims);
    return err;
}

unsigned token_allows(const token_claims *c, const char *type, const char *name)
{
    unsigned actions = 0;
    for (size_t i = 0; i < c->naccess; i++)
        if (!strcmp(c->access[i].type, type) && !strcmp(c->access[i].name, name))
            actions |= c->access[i].actions;
    return actions;
}
