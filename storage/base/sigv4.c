/* sigv4.c - the AWS SigV4 format (see sigv4.h): canonical request, string to sign, the
 * Authorization header and the HMAC-SHA256 key chain as AWS documents them and the
 * aws-sig-v4-test-suite pins them down. */
#include "storage/base/sigv4.h"
#include "storage/base/buf.h"
#include "storage/base/datetime.h"
#include "storage/base/digest.h"
#include "storage/base/reg_error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ALGORITHM           "AWS4-HMAC-SHA256"
#define TERMINATOR          "aws4_request"
#define SIGNED_HEADERS_SIZE sizeof(((sigv4_credential *)0)->signed_headers)
#define SEEN_ALL            7u

/* ---- character classes ---- */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || is_digit(c);
}

static int is_unreserved(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* HTTP parsers may hand over obs-fold line breaks inside a value; they collapse like spaces. */
static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* A lower-case HTTP token character: what a SignedHeaders name may hold. */
static int is_header_char(char c)
{
    return is_lower_alnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_signed_headers_char(char c)
{
    return is_header_char(c) || c == ';';
}

/* Access keys are AWS's [A-Z0-9] plus what a local key naming scheme may reasonably add. */
static int is_key_char(char c)
{
    return is_unreserved(c) && c != '~';
}

static int is_scope_char(char c)
{
    return is_lower_alnum(c) || c == '-';
}

static int is_hex(char c)
{
    return hex_value(c) >= 0;
}

static int is_lower_hex(const char *s, size_t len)
{
    if (!s || strnlen(s, len + 1) != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
            return 0;
    return 1;
}

/* ---- the canonical request ---- */

/* A canonical request under construction: the first failure sticks, so the builders append
 * unconditionally and the caller checks once. */
typedef struct sink {
    buf b;
    int err;
} sink;

static void put(sink *s, const char *data, size_t len)
{
    if (s->err == REG_OK)
        s->err = buf_append(&s->b, data, len);
}

static void put_str(sink *s, const char *str)
{
    put(s, str, strlen(str));
}

static void fail(sink *s, int err)
{
    if (s->err == REG_OK)
        s->err = err;
}

size_t sigv4_uri_encode(char *out, const char *in, size_t len, int keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (is_unreserved((char)c) || (keep_slash && c == '/')) {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = digits[c >> 4];
            out[n++] = digits[c & 15];
        }
    }
    return n;
}

/* RFC 3986 dot-segment removal plus AWS's dropping of empty segments ("//a/./b/../" -> "/a/"),
 * on the path as sent. Writes at most len + 2 bytes. */
static size_t normalize_path(char *out, const char *path, size_t len)
{
    size_t n = 0;
    for (const char *p = path, *end = path + len; p < end;) {
        const char *seg = p;
        while (p < end && *p != '/')
            p++;
        size_t seg_len = (size_t)(p - seg);
        p += p < end;
        if (seg_len == 0 || (seg_len == 1 && seg[0] == '.'))
            continue;
        if (seg_len == 2 && seg[0] == '.' && seg[1] == '.') {
            while (n > 0 && out[--n] != '/')
                ;
            continue;
        }
        out[n++] = '/';
        memcpy(out + n, seg, seg_len);
        n += seg_len;
    }
    if (n == 0 || path[len - 1] == '/')
        out[n++] = '/';
    return n;
}

/* The path on the wire is already encoded once; encoding it again ('%' -> "%25") is what AWS
 * calls encoding each segment twice, and reproduces both the suite and the SDKs. */
static void put_canonical_uri(sink *s, const char *path)
{
    size_t len = strnlen(path, SIGV4_MAX_PATH + 1);
    if (len > SIGV4_MAX_PATH) {
        fail(s, REG_ETOOLARGE);
        return;
    }
    char *norm = malloc(4 * (len + 2));
    if (!norm) {
        fail(s, REG_ERROR);
        return;
    }
    char *enc = norm + len + 2;
    put(s, enc, sigv4_uri_encode(enc, norm, normalize_path(norm, path, len), 1));
    free(norm);
}

static int pct_decode(char *out, size_t *out_len, const char *in, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '%') {
            out[n++] = in[i];
            continue;
        }
        int hi = i + 2 < len ? hex_value(in[i + 1]) : -1;
        int lo = i + 2 < len ? hex_value(in[i + 2]) : -1;
        if (hi < 0 || lo < 0)
            return REG_EINVALID;
        out[n++] = (char)(hi << 4 | lo);
        i += 2;
    }
    *out_len = n;
    return REG_OK;
}

typedef struct qparam {
    const char *name;
    const char *value;
} qparam;

static int qparam_cmp(const void *a, const void *b)
{
    const qparam *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

/* Decode a name or value as sent and re-encode it the one canonical way, so "%7e", "%7E" and
 * "~" sign alike. Appends the NUL-terminated result at *at. */
static int requote(const char **out, char **at, char *scratch, const char *in, size_t len)
{
    size_t n;
    if (pct_decode(scratch, &n, in, len) < 0)
        return REG_EINVALID;
    *out = *at;
    *at += sigv4_uri_encode(*at, scratch, n, 0);
    *(*at)++ = '\0';
    return REG_OK;
}

/* Split on '&' (empty pieces skipped; "a" means "a="). `arena` holds 6 * len + 5 bytes: each
 * piece of L bytes takes at most 3L + 2, and the tail is decoding scratch. */
static int split_query(qparam *params, size_t *count, char *arena, const char *query, size_t len)
{
    char *at = arena, *scratch = arena + 5 * len + 4;
    size_t n = 0;
    for (const char *p = query, *end = query + len; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *value = eq ? eq + 1 : stop;
        if (stop > p) {
            if (n == SIGV4_MAX_QUERY_PARAMS)
                return REG_ETOOLARGE;
            if (requote(&params[n].name, &at, scratch, p, (size_t)((eq ? eq : stop) - p)) < 0 ||
                requote(&params[n].value, &at, scratch, value, (size_t)(stop - value)) < 0)
                return REG_EINVALID;
            n++;
        }
        p = amp ? amp + 1 : end;
    }
    *count = n;
    return REG_OK;
}

static void put_canonical_query(sink *s, const char *query)
{
    size_t len = query ? strnlen(query, SIGV4_MAX_QUERY + 1) : 0, n = 0;
    qparam params[SIGV4_MAX_QUERY_PARAMS];
    if (len == 0)
        return;
    if (len > SIGV4_MAX_QUERY) {
        fail(s, REG_ETOOLARGE);
        return;
    }
    char *arena = malloc(6 * len + 5);
    int err = arena ? split_query(params, &n, arena, query, len) : REG_ERROR;
    if (err < 0)
        fail(s, err);
    else
        qsort(params, n, sizeof(params[0]), qparam_cmp);
    for (size_t i = 0; err == REG_OK && i < n; i++) {
        if (i > 0)
            put(s, "&", 1);
        put_str(s, params[i].name);
        put(s, "=", 1);
        put_str(s, params[i].value);
    }
    free(arena);
}

/* Trimall: no leading or trailing whitespace, inner runs collapsed to one space. */
static void put_trimmed(sink *s, const char *value)
{
    size_t len = strnlen(value, SIGV4_MAX_HEADER_VALUE + 1);
    if (len > SIGV4_MAX_HEADER_VALUE) {
        fail(s, REG_ETOOLARGE);
        return;
    }
    int first = 1;
    for (const char *p = value, *end = value + len; p < end;) {
        while (p < end && is_space(*p))
            p++;
        const char *word = p;
        while (p < end && !is_space(*p))
            p++;
        if (p > word) {
            if (!first)
                put(s, " ", 1);
            put(s, word, (size_t)(p - word));
            first = 0;
        }
    }
}

/* "name:v1,v2\n" from every header of that name, in the order received. */
static void put_header_line(sink *s, const sigv4_request *req, const char *name, size_t len)
{
    size_t found = 0;
    put(s, name, len);
    put(s, ":", 1);
    for (size_t i = 0; i < req->nheaders; i++) {
        const sigv4_header *h = &req->headers[i];
        if (strnlen(h->name, len + 1) != len || strncasecmp(h->name, name, len) != 0)
            continue;
        if (found++ > 0)
            put(s, ",", 1);
        put_trimmed(s, h->value);
    }
    if (found == 0)
        fail(s, REG_EINVALID);
    put(s, "\n", 1);
}

static void put_canonical_headers(sink *s, const sigv4_request *req, const char *list)
{
    for (const char *p = list;; p++) {
        size_t n = strcspn(p, ";");
        put_header_line(s, req, p, n);
        p += n;
        if (*p == '\0')
            break;
    }
}

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/* SignedHeaders as every SDK writes it: lower-case tokens joined by ';', strictly ascending
 * (so no duplicates), host among them. Anything looser would give one signature two canonical
 * requests. */
static int check_signed_headers(const char *list)
{
    size_t len = list ? strnlen(list, SIGNED_HEADERS_SIZE) : 0, prev_len = 0, count = 0;
    const char *prev = NULL;
    int host = 0;
    if (len == 0 || len >= SIGNED_HEADERS_SIZE)
        return REG_EINVALID;
    for (const char *p = list;; p++) {
        size_t n = 0;
        while (is_header_char(p[n]))
            n++;
        if (n == 0 || (p[n] != ';' && p[n] != '\0') ||
            (prev && name_cmp(prev, prev_len, p, n) >= 0))
            return REG_EINVALID;
        if (++count > SIGV4_MAX_HEADERS)
            return REG_ETOOLARGE;
        host |= n == 4 && memcmp(p, "host", 4) == 0;
        prev = p;
        prev_len = n;
        p += n;
        if (*p == '\0')
            break;
    }
    return host ? REG_OK : REG_EINVALID;
}

static int check_request(const sigv4_request *req)
{
    size_t mlen = req && req->method ? strnlen(req->method, 17) : 0;
    if (mlen == 0 || mlen > 16 || !req->path || !is_lower_hex(req->payload_sha256, 64))
        return REG_EINVALID;
    for (size_t i = 0; i < mlen; i++)
        if (req->method[i] < 'A' || req->method[i] > 'Z')
            return REG_EINVALID;
    if (req->nheaders > SIGV4_MAX_HEADERS)
        return REG_ETOOLARGE;
    for (size_t i = 0; i < req->nheaders; i++)
        if (!req->headers[i].name || !req->headers[i].value)
            return REG_EINVALID;
    return REG_OK;
}

int sigv4_canonical_request(char **out, const sigv4_request *req, const char *signed_headers)
{
    int err = check_request(req);
    if (err == REG_OK)
        err = check_signed_headers(signed_headers);
    if (err < 0)
        return err;
    sink s = {.err = REG_OK};
    buf_init(&s.b, SIGV4_MAX_CANONICAL);
    put_str(&s, req->method);
    put(&s, "\n", 1);
    put_canonical_uri(&s, req->path);
    put(&s, "\n", 1);
    put_canonical_query(&s, req->query);
    put(&s, "\n", 1);
    put_canonical_headers(&s, req, signed_headers);
    put(&s, "\n", 1);
    put_str(&s, signed_headers);
    put(&s, "\n", 1);
    put_str(&s, req->payload_sha256);
    if (s.err < 0) {
        buf_free(&s.b);
        return s.err;
    }
    *out = s.b.data;
    return REG_OK;
}

/* ---- signing ---- */

static int field_ok(const char *field, size_t size, size_t min, int (*ok)(char))
{
    size_t len = strnlen(field, size);
    if (len < min || len >= size)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!ok(field[i]))
            return 0;
    return 1;
}

/* The credential may be built by hand rather than parsed, so its scope is checked again. */
static int check_scope(const sigv4_credential *c)
{
    return field_ok(c->date, sizeof(c->date), 8, is_digit) &&
                   field_ok(c->region, sizeof(c->region), 1, is_scope_char) &&
                   field_ok(c->service, sizeof(c->service), 1, is_scope_char)
               ? REG_OK
               : REG_EINVALID;
}

/* HMAC-SHA256 of a NUL-terminated step of the key chain. */
static int hmac_text(unsigned char out[32], const void *key, size_t key_len, const char *data)
{
    return hmac_sha256(out, key, key_len, data, strlen(data));
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"). */
static int signing_key(unsigned char key[32], const char *secret, const sigv4_credential *c)
{
    char k0[4 + SIGV4_MAX_SECRET];
    unsigned char k1[32], k2[32], k3[32];
    size_t len = strnlen(secret, SIGV4_MAX_SECRET + 1);
    int err = REG_EINVALID;
    if (len == 0 || len > SIGV4_MAX_SECRET)
        goto done;
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, len);
    if ((err = hmac_text(k1, k0, len + 4, c->date)) == REG_OK &&
        (err = hmac_text(k2, k1, 32, c->region)) == REG_OK &&
        (err = hmac_text(k3, k2, 32, c->service)) == REG_OK)
        err = hmac_text(key, k3, 32, TERMINATOR);
done:
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    OPENSSL_cleanse(k3, sizeof(k3));
    return err;
}

static int string_to_sign(char *out, size_t size, const char *creq, const char *amz_date,
                          const sigv4_credential *c)
{
    unsigned char md[32];
    unsigned int md_len = 0;
    char hash[65];
    if (EVP_Digest(creq, strlen(creq), md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
        return REG_ERROR;
    hex_encode(hash, md, 32);
    int n = snprintf(out, size, ALGORITHM "\n%s\n%s/%s/%s/" TERMINATOR "\n%s", amz_date, c->date,
                     c->region, c->service, hash);
    return n > 0 && (size_t)n < size ? REG_OK : REG_EINVALID;
}

int sigv4_sign_canonical(char *out_hex, const char *creq, const char *amz_date,
                         const sigv4_credential *cred, const char *secret)
{
    char sts[320];
    unsigned char key[32], mac[32];
    int err;
    if ((err = check_scope(cred)) < 0 ||
        (err = string_to_sign(sts, sizeof(sts), creq, amz_date, cred)) < 0 ||
        (err = signing_key(key, secret, cred)) < 0 ||
        (err = hmac_text(mac, key, sizeof(key), sts)) < 0)
        goto done;
    hex_encode(out_hex, mac, sizeof(mac));
done:
    OPENSSL_cleanse(key, sizeof(key));
    return err;
}

int sigv4_parse_amz_date(int64_t *out, const char *amz_date)
{
    if (!amz_date || strnlen(amz_date, 17) != 16)
        return REG_EINVALID;
    return datetime_parse(out, amz_date, 16);
}

int sigv4_sign(char *out_hex, const sigv4_request *req, const sigv4_credential *cred,
               const char *amz_date, const char *secret)
{
    char *creq = NULL;
    int64_t t;
    int err = REG_EINVALID;
    if (!cred || !secret || sigv4_parse_amz_date(&t, amz_date) < 0)
        return err;
    if ((err = sigv4_canonical_request(&creq, req, cred->signed_headers)) == REG_OK)
        err = sigv4_sign_canonical(out_hex, creq, amz_date, cred, secret);
    free(creq);
    return err;
}

/* ---- the Authorization header ---- */

/* Copy [p, p + len) into a field of `size` bytes when it fits and every byte passes `ok`. */
static int copy_field(char *dst, size_t size, const char *p, size_t len, int (*ok)(char))
{
    if (len == 0 || len >= size)
        return REG_EINVALID;
    for (size_t i = 0; i < len; i++)
        if (!ok(p[i]))
            return REG_EINVALID;
    memcpy(dst, p, len);
    dst[len] = '\0';
    return REG_OK;
}

/* "AKID/20150830/us-east-1/service/aws4_request" */
static int parse_credential(sigv4_credential *c, const char *p, size_t len)
{
    const char *part[5], *end = p + len;
    size_t plen[5];
    for (int i = 0; i < 5; i++) {
        const char *slash = i < 4 ? memchr(p, '/', (size_t)(end - p)) : end;
        if (!slash)
            return REG_EINVALID;
        part[i] = p;
        plen[i] = (size_t)(slash - p);
        p = slash + (slash < end);
    }
    if (copy_field(c->access_key, sizeof(c->access_key), part[0], plen[0], is_key_char) < 0 ||
        plen[1] != 8 || copy_field(c->date, sizeof(c->date), part[1], plen[1], is_digit) < 0 ||
        copy_field(c->region, sizeof(c->region), part[2], plen[2], is_scope_char) < 0 ||
        copy_field(c->service, sizeof(c->service), part[3], plen[3], is_scope_char) < 0)
        return REG_EINVALID;
    return plen[4] == strlen(TERMINATOR) && memcmp(part[4], TERMINATOR, plen[4]) == 0
               ? REG_OK
               : REG_EINVALID;
}

static int parse_signature(sigv4_credential *c, const char *p, size_t len)
{
    if (len != 64 || copy_field(c->signature, sizeof(c->signature), p, len, is_hex) < 0)
        return REG_EINVALID;
    for (size_t i = 0; i < len; i++)
        if (c->signature[i] >= 'A' && c->signature[i] <= 'F')
            c->signature[i] = (char)(c->signature[i] - 'A' + 'a');
    return REG_OK;
}

static int is_name(const char *p, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(p, name, len) == 0;
}

/* One "Name=value" component, surrounding spaces ignored; each name exactly once. */
static int parse_component(sigv4_credential *c, unsigned *seen, const char *p, size_t len)
{
    while (len > 0 && is_space(*p))
        p++, len--;
    while (len > 0 && is_space(p[len - 1]))
        len--;
    const char *eq = memchr(p, '=', len);
    if (!eq)
        return REG_EINVALID;
    const char *value = eq + 1;
    size_t name_len = (size_t)(eq - p), value_len = len - name_len - 1;
    unsigned bit = is_name(p, name_len, "Credential")      ? 1u
                   : is_name(p, name_len, "SignedHeaders") ? 2u
                   : is_name(p, name_len, "Signature")     ? 4u
                                                           : 0u;
    if (bit == 0 || (*seen & bit))
        return REG_EINVALID;
    *seen |= bit;
    if (bit == 1u)
        return parse_credential(c, value, value_len);
    if (bit == 4u)
        return parse_signature(c, value, value_len);
    if (copy_field(c->signed_headers, sizeof(c->signed_headers), value, value_len,
                   is_signed_headers_char) < 0)
        return REG_EINVALID;
    return check_signed_headers(c->signed_headers) == REG_OK ? REG_OK : REG_EINVALID;
}

int sigv4_parse_authorization(sigv4_credential *out, const char *header)
{
    sigv4_credential c;
    unsigned seen = 0;
    size_t alg = strlen(ALGORITHM);
    size_t len = header ? strnlen(header, SIGV4_MAX_AUTHORIZATION + 1) : 0;
    memset(&c, 0, sizeof(c));
    if (len > SIGV4_MAX_AUTHORIZATION || len <= alg || memcmp(header, ALGORITHM, alg) != 0 ||
        header[alg] != ' ')
        return REG_EINVALID;
    /* Every comma opens another component, so a trailing one is an empty, invalid part. */
    for (const char *p = header + alg, *end = header + len;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p)), *stop = comma ? comma : end;
        if (parse_component(&c, &seen, p, (size_t)(stop - p)) < 0)
            return REG_EINVALID;
        if (!comma)
            break;
        p = comma + 1;
    }
    if (seen != SEEN_ALL)
        return REG_EINVALID;
    *out = c;
    return REG_OK;
}
