/* s3.c - the S3 client (see s3.h): libcurl signs requests (CURLOPT_AWS_SIGV4); this file
 * builds canonical URLs and queries, hashes payloads, retries, parses the few XML answers S3
 * gives, and signs itself what curl 7.88 cannot (presigned URLs, UploadPartCopy).
 *
 * What curl 7.88's signer needs from us: the x-amz-content-sha256 header (it does not add it,
 * and RGW then refuses the signature); a query already in canonical form (sorted, UriEncoded,
 * "uploads=" rather than "uploads"), because curl signs the query as written; bodies through
 * the read callback, because with POSTFIELDS curl signs a Content-Type of its own; and no
 * empty "Name:" header to suppress one of curl's, because curl signs that too. */
#include "storage/s3/s3.h"
#include "storage/base/sigv4.h"
#include "storage/base/buf.h"
#include "storage/base/datetime.h"
#include "storage/base/digest.h"
#include "storage/base/reg_error.h"
#include "storage/base/dynlib_calls.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define EMPTY_SHA256       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define XML_MAX_ERROR      (64u << 10) /* bytes of an error answer kept for its Code */
#define XML_MAX_SMALL      (1u << 20)  /* create, complete and delete answers */
#define XML_MAX_LIST       (16u << 20) /* one ListObjectsV2 page */
#define XML_MAX_BODY       (8u << 20)  /* DeleteObjects (1000 escaped keys) and Complete bodies */
#define MAX_TOKEN          4096        /* bytes of a continuation token */
#define MAX_PREFIX         512
#define MAX_SECRET         SIGV4_MAX_SECRET
#define MAX_ENDPOINT       512
#define POOL_MAX_IDLE      64 /* idle curl handles kept for reuse */
#define BACKOFF_BASE_MS    100
#define BACKOFF_CAP_MS     5000
#define CONNECT_TIMEOUT_MS 10000L
#define SLOW_TIMEOUT_MS    3600000L /* CopyObject, CompleteMultipartUpload, DeleteObjects */
#define LOW_SPEED_BYTES    1024L    /* a transfer slower than this ... */
#define LOW_SPEED_SECONDS  30L      /* ... for this long is dropped (and retried) */
#define GET_MAX_REQUESTS   100      /* one s3_get, resumes included */
#define LIST_MAX_EMPTY     100      /* truncated pages in a row without a key */

static _Thread_local char last_error[512];

const char *s3_last_error(void)
{
    return last_error;
}

__attribute__((format(printf, 1, 2))) static void set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
}

/* ---- bytes and text ---- */

static int sha256_hex(char out[65], const void *data, size_t len)
{
    digest d;
    if (digest_buffer(&d, DIGEST_SHA256, data, len) < 0)
        return REG_ERROR;
    memcpy(out, digest_hex(&d), 65);
    return REG_OK;
}

static int md5_base64(char out[25], const void *data, size_t len)
{
    unsigned char md[16];
    unsigned int n = 0;
    if (EVP_Digest(data, len, md, &n, EVP_md5(), NULL) != 1 || n != 16)
        return REG_ERROR;
    return EVP_EncodeBlock((unsigned char *)out, md, 16) == 24 ? REG_OK : REG_ERROR;
}

/* AWS's UriEncode onto b, which is also S3's canonical form (S3 paths are not encoded twice). */
static int put_encoded(buf *b, const char *s, size_t len, int keep_slash)
{
    enum { PIECE = 256 };
    char enc[3 * PIECE];
    for (size_t i = 0; i < len; i += PIECE) {
        size_t n = len - i < PIECE ? len - i : PIECE;
        int err = buf_append(b, enc, sigv4_uri_encode(enc, s + i, n, keep_slash));
        if (err < 0)
            return err;
    }
    return REG_OK;
}

static int put_str(buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

/* Text that S3 keeps in an XML 1.0 document and a URL path: no control characters. */
static int is_clean_text(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

/* Text content for an XML body we send. */
static int put_xml_escaped(buf *b, const char *s)
{
    int err = REG_OK;
    for (; *s && err == REG_OK; s++) {
        switch (*s) {
        case '&':
            err = put_str(b, "&amp;");
            break;
        case '<':
            err = put_str(b, "&lt;");
            break;
        case '>':
            err = put_str(b, "&gt;");
            break;
        case '"':
            err = put_str(b, "&quot;");
            break;
        case '\'':
            err = put_str(b, "&apos;");
            break;
        default:
            err = buf_append(b, s, 1);
        }
    }
    return err;
}

/* Digits only, no sign, no overflow. */
static int parse_u64(uint64_t *out, const char *s, size_t len)
{
    uint64_t v = 0;
    if (len == 0 || len > 20)
        return REG_EINVALID;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return REG_EINVALID;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return REG_EINVALID;
        v = v * 10 + d;
    }
    *out = v;
    return REG_OK;
}

/* ---- XML: just enough for S3's answers, which are treated as hostile ---- */

/* The text between <name> and </name>; `end` is just past the closing tag (or the empty
 * element), so that a loop can look for the next one. */
typedef struct xml_span {
    const char *text;
    size_t len;
    const char *end;
} xml_span;

/* The first element `name` in doc[0, len): <name>, <name attr="...">, or the empty <name/>.
 * Elements of one name do not nest in S3's answers, so the first closing tag ends it. 1 when
 * found, 0 when not (or when it is not closed). */
static int xml_element(xml_span *out, const char *doc, size_t len, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = doc, *end = doc + len;
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt)
            return 0;
        p = lt + 1;
        if ((size_t)(end - p) < nlen + 1 || memcmp(p, name, nlen) != 0)
            continue;
        const char *q = p + nlen;
        if (*q != '>' && *q != '/' && *q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')
            continue;
        const char *gt = memchr(q, '>', (size_t)(end - q));
        if (!gt)
            return 0;
        if (gt[-1] == '/') {
            out->text = gt + 1;
            out->len = 0;
            out->end = gt + 1;
            return 1;
        }
        const char *text = gt + 1;
        for (const char *c = text; c < end;) {
            const char *close = memchr(c, '<', (size_t)(end - c));
            if (!close)
                return 0;
            c = close + 1;
            if ((size_t)(end - c) < nlen + 2 || c[0] != '/' || memcmp(c + 1, name, nlen) != 0)
                continue;
            const char *t = c + 1 + nlen;
            while (t < end && (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n'))
                t++;
            if (t == end || *t != '>')
                continue;
            out->text = text;
            out->len = (size_t)(close - text);
            out->end = t + 1;
            return 1;
        }
        return 0;
    }
    return 0;
}

static size_t utf8_encode(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* "&#13;" / "&#xD;" (the text after '&' up to ';'): a code point XML allows, but not NUL. */
static int char_reference(unsigned long *out, const char *s, size_t len)
{
    unsigned long cp = 0;
    int hex = len > 1 && s[1] == 'x';
    size_t i = hex ? 2 : 1;
    if (len <= i || len > i + 6)
        return REG_EINVALID;
    for (; i < len; i++) {
        int d = hex ? hex_value(s[i]) : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
        if (d < 0)
            return REG_EINVALID;
        cp = cp * (hex ? 16 : 10) + (unsigned long)d;
    }
    if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return REG_EINVALID;
    *out = cp;
    return REG_OK;
}

/* Unescape element text into out (NUL-terminated, at most cap - 1 bytes): the five named
 * entities and character references. REG_EINVALID for markup, an unknown or broken entity or
 * a NUL; REG_ETOOLARGE when it does not fit. */
static int xml_text(char *out, size_t cap, const char *s, size_t len)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    size_t n = 0;
    if (cap == 0)
        return REG_ETOOLARGE;
    for (size_t i = 0; i < len; i++) {
        char one[4];
        size_t olen = 1;
        one[0] = s[i];
        if (s[i] == '<' || s[i] == '\0')
            return REG_EINVALID;
        if (s[i] == '&') {
            const char *semi = memchr(s + i + 1, ';', len - i - 1 < 12 ? len - i - 1 : 12);
            if (!semi)
                return REG_EINVALID;
            const char *ent = s + i + 1;
            size_t elen = (size_t)(semi - ent);
            size_t k = 0, count = sizeof(named) / sizeof(named[0]);
            while (k < count &&
                   !(strlen(named[k].name) == elen && !memcmp(ent, named[k].name, elen)))
                k++;
            if (k < count) {
                one[0] = named[k].c;
            } else {
                unsigned long cp;
                if (elen == 0 || ent[0] != '#' || char_reference(&cp, ent, elen) < 0)
                    return REG_EINVALID;
                olen = utf8_encode(one, cp);
            }
            i += elen + 1;
        }
        if (olen > cap - 1 - n)
            return REG_ETOOLARGE;
        memcpy(out + n, one, olen);
        n += olen;
    }
    out[n] = '\0';
    return REG_OK;
}

/* Element `name` of doc as unescaped text; "" when absent. */
static int xml_field(char *out, size_t cap, const char *doc, size_t len, const char *name)
{
    xml_span sp;
    if (!xml_element(&sp, doc, len, name)) {
        if (cap > 0)
            out[0] = '\0';
        return cap > 0 ? REG_OK : REG_ETOOLARGE;
    }
    return xml_text(out, cap, sp.text, sp.len);
}

/* The <Code> and <Message> of an error document, best effort: what cannot be read stays "". */
typedef struct s3_error_doc {
    char code[64];
    char message[256];
} s3_error_doc;

static void parse_error_doc(s3_error_doc *out, const char *doc, size_t len)
{
    xml_span err;
    out->code[0] = out->message[0] = '\0';
    if (!doc || !xml_element(&err, doc, len, "Error"))
        return;
    if (xml_field(out->code, sizeof(out->code), err.text, err.len, "Code") < 0)
        out->code[0] = '\0';
    if (xml_field(out->message, sizeof(out->message), err.text, err.len, "Message") < 0)
        out->message[0] = '\0';
}

/* One ListObjectsV2 page: each <Contents> goes to cb (its key without `strip`, which every
 * key must start with); truncated and next_token say whether and where to go on. Keys must
 * ascend strictly from last_key (kept across pages; "" to start), so that a server that
 * repeats itself cannot keep a listing going forever. */
typedef struct list_page {
    const char *strip;
    s3_list_cb cb;
    void *ctx;
    char last_key[S3_MAX_KEY + 1];
    size_t keys; /* on this page */
    int stopped; /* the callback's non-zero answer */
    int truncated;
    char next_token[MAX_TOKEN + 1];
} list_page;

static int list_page_parse(list_page *pg, const char *doc, size_t len)
{
    char key[S3_MAX_KEY + 1], num[32], flag[8];
    size_t strip_len = strlen(pg->strip);
    xml_span sp, root;
    pg->keys = 0;
    pg->stopped = 0;
    pg->truncated = 0;
    pg->next_token[0] = '\0';
    if (!xml_element(&root, doc, len, "ListBucketResult")) {
        set_error("ListObjectsV2: answer is not a ListBucketResult");
        return REG_ERROR;
    }
    for (const char *p = root.text, *end = root.text + root.len;
         xml_element(&sp, p, (size_t)(end - p), "Contents"); p = sp.end) {
        uint64_t size;
        int64_t mtime = -1;
        xml_span f;
        if (!xml_element(&f, sp.text, sp.len, "Key") ||
            xml_text(key, sizeof(key), f.text, f.len) < 0 ||
            strncmp(key, pg->strip, strip_len) != 0) {
            set_error("ListObjectsV2: malformed or foreign <Key>");
            return REG_ERROR;
        }
        if (!xml_element(&f, sp.text, sp.len, "Size") ||
            xml_text(num, sizeof(num), f.text, f.len) < 0 ||
            parse_u64(&size, num, strlen(num)) < 0) {
            set_error("ListObjectsV2: malformed <Size> of %s", key);
            return REG_ERROR;
        }
        if (xml_element(&f, sp.text, sp.len, "LastModified") &&
            (xml_text(num, sizeof(num), f.text, f.len) < 0 ||
             datetime_parse(&mtime, num, strlen(num)) < 0))
            mtime = -1;
        if (strcmp(key, pg->last_key) <= 0) {
            set_error("ListObjectsV2: keys out of order at %s", key);
            return REG_ERROR;
        }
        memcpy(pg->last_key, key, strlen(key) + 1);
        pg->keys++;
        if (key[strip_len] == '\0')
            continue; /* the prefix itself, say a console's "folder" marker: not one of ours */
        int rc = pg->cb(pg->ctx, key + strip_len, size, mtime);
        if (rc != 0) {
            pg->stopped = rc;
            return REG_OK;
        }
    }
    if (xml_field(flag, sizeof(flag), root.text, root.len, "IsTruncated") < 0) {
        set_error("ListObjectsV2: malformed <IsTruncated>");
        return REG_ERROR;
    }
    pg->truncated = strcmp(flag, "true") == 0;
    if (!pg->truncated)
        return REG_OK;
    if (xml_field(pg->next_token, sizeof(pg->next_token), root.text, root.len,
                  "NextContinuationToken") < 0 ||
        pg->next_token[0] == '\0') {
        set_error("ListObjectsV2: truncated page without a usable <NextContinuationToken>");
        return REG_ERROR;
    }
    return REG_OK;
}

/* ---- configuration ---- */

__attribute__((format(printf, 3, 4))) static int config_error(char *err, size_t errlen,
                                                              const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return REG_EINVALID;
}

/* A malloc'd, percent-decoded copy of s[0, len); NULL when malformed (bad escape, NUL). */
static char *pct_decode_dup(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t n = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < len ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return out;
}

static int all_chars(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr(extra, *s)))
            return 0;
    return 1;
}

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int parse_long(long *out, const char *s, long min, long max)
{
    uint64_t v;
    if (parse_u64(&v, s, strlen(s)) < 0 || v < (uint64_t)min || v > (uint64_t)max)
        return REG_EINVALID;
    *out = (long)v;
    return REG_OK;
}

/* "http(s)://host[:port]" with an optional trailing '/', rewritten without it and without
 * the scheme's default port, which is how clients write the Host header a signature covers. */
static int normalize_endpoint(char **out, const char *url)
{
    const char *rest;
    int https;
    if (strncasecmp(url, "http://", 7) == 0)
        rest = url + 7, https = 0;
    else if (strncasecmp(url, "https://", 8) == 0)
        rest = url + 8, https = 1;
    else
        return REG_EINVALID;
    size_t len = strlen(rest);
    if (len > 0 && rest[len - 1] == '/')
        len--;
    if (len == 0 || len > MAX_ENDPOINT)
        return REG_EINVALID;
    const char *host_end = rest + len, *port = NULL;
    if (rest[0] == '[') {
        const char *close = memchr(rest, ']', len);
        if (!close || close == rest + 1)
            return REG_EINVALID;
        for (const char *p = rest + 1; p < close; p++)
            if (hex_value(*p) < 0 && *p != ':' && *p != '.')
                return REG_EINVALID;
        if (close + 1 < host_end && close[1] != ':')
            return REG_EINVALID;
        port = close + 1 < host_end ? close + 2 : NULL;
        host_end = close + 1;
    } else {
        const char *colon = memchr(rest, ':', len);
        if (colon) {
            port = colon + 1;
            host_end = colon;
        }
        if (host_end == rest)
            return REG_EINVALID;
        for (const char *p = rest; p < host_end; p++)
            if (!is_alnum(*p) && *p != '-' && *p != '.')
                return REG_EINVALID;
    }
    size_t port_len = port ? (size_t)(rest + len - port) : 0;
    uint64_t pv = 0;
    if (port && (parse_u64(&pv, port, port_len) < 0 || pv == 0 || pv > 65535))
        return REG_EINVALID;
    if (port && pv == (https ? 443u : 80u))
        port = NULL;
    size_t host_len = (size_t)(host_end - rest);
    char *s = malloc(8 + host_len + 7);
    if (!s)
        return REG_ERROR;
    if (port)
        snprintf(s, 8 + host_len + 7, "%s://%.*s:%u", https ? "https" : "http", (int)host_len, rest,
                 (unsigned)pv);
    else
        snprintf(s, 8 + host_len + 7, "%s://%.*s", https ? "https" : "http", (int)host_len, rest);
    *out = s;
    return REG_OK;
}

/* Path style also takes RGW's relaxed names; a host name needs DNS's lower case. */
static int check_bucket(const char *b, int path_style)
{
    static const char dns[] = "abcdefghijklmnopqrstuvwxyz0123456789.-";
    size_t len = strlen(b);
    if (len < 3 || len > 63 || !is_alnum(b[0]) || !is_alnum(b[len - 1]))
        return REG_EINVALID;
    if (path_style)
        return all_chars(b, "-._") ? REG_OK : REG_EINVALID;
    return strspn(b, dns) == len ? REG_OK : REG_EINVALID;
}

static int set_string(char **slot, const char *value)
{
    free(*slot);
    *slot = strdup(value);
    return *slot ? REG_OK : REG_ERROR;
}

/* One name=value of the s3:// query; value is already decoded. */
static int config_param(s3_config *c, const char *name, const char *value, char *err, size_t errlen)
{
    long v;
    if (!strcmp(name, "endpoint")) {
        char *e = NULL;
        int rc = normalize_endpoint(&e, value);
        if (rc == REG_ERROR)
            return rc;
        if (rc < 0)
            return config_error(err, errlen, "endpoint must be http(s)://host[:port], got \"%s\"",
                                value);
        free(c->endpoint);
        c->endpoint = e;
        return REG_OK;
    }
    if (!strcmp(name, "region")) {
        if (!*value || strlen(value) > 63 || !all_chars(value, "-_"))
            return config_error(err, errlen, "region must be 1-63 letters, digits, '-' or '_'");
        return set_string(&c->region, value);
    }
    if (!strcmp(name, "prefix")) {
        if (strlen(value) > MAX_PREFIX || !is_clean_text(value, strlen(value)))
            return config_error(err, errlen, "prefix is too long or holds control characters");
        return set_string(&c->prefix, value);
    }
    if (!strcmp(name, "access_key")) {
        if (!*value || strlen(value) > 128 || !is_clean_text(value, strlen(value)))
            return config_error(err, errlen, "access_key must be 1-128 printable characters");
        return set_string(&c->access_key, value);
    }
    if (!strcmp(name, "secret_key")) {
        if (!*value || strlen(value) > MAX_SECRET || !is_clean_text(value, strlen(value)))
            return config_error(err, errlen, "secret_key must be 1-256 printable characters");
        return set_string(&c->secret_key, value);
    }
    if (!strcmp(name, "path_style")) {
        if (parse_long(&v, value, 0, 1) < 0)
            return config_error(err, errlen, "path_style must be 0 or 1");
        c->path_style = (int)v;
        return REG_OK;
    }
    if (!strcmp(name, "timeout_ms")) {
        if (parse_long(&v, value, 100, 3600000) < 0)
            return config_error(err, errlen, "timeout_ms must be 100..3600000");
        c->timeout_ms = v;
        return REG_OK;
    }
    if (!strcmp(name, "max_retries")) {
        if (parse_long(&v, value, 0, 20) < 0)
            return config_error(err, errlen, "max_retries must be 0..20");
        c->max_retries = (int)v;
        return REG_OK;
    }
    if (!strcmp(name, "list_page_size")) {
        if (parse_long(&v, value, 0, 1000) < 0)
            return config_error(err, errlen, "list_page_size must be 0..1000");
        c->list_page_size = (int)v;
        return REG_OK;
    }
    return config_error(err, errlen, "unknown s3 URL parameter \"%s\"", name);
}

static int config_from_env(char **slot, const char *var, const char *param, size_t max, char *err,
                           size_t errlen)
{
    const char *v = getenv(var);
    if (*slot)
        return REG_OK;
    if (!v || !*v)
        return config_error(err, errlen, "no %s: set %s or add %s= to the s3 URL", param, var,
                            param);
    if (strlen(v) > max || !is_clean_text(v, strlen(v)))
        return config_error(err, errlen, "%s is too long or holds control characters", var);
    return set_string(slot, v);
}

int s3_config_parse(s3_config *out, const char *url, char *err, size_t errlen)
{
    s3_config c = {.path_style = 1, .timeout_ms = 30000, .max_retries = 4};
    const char *env_region = getenv("AWS_REGION");
    char *name = NULL, *value = NULL;
    unsigned seen = 0;
    int rc = REG_OK;
    if (err && errlen > 0)
        err[0] = '\0';
    if (!url || strncmp(url, "s3://", 5) != 0) {
        rc = config_error(err, errlen, "an S3 location starts with s3://");
        goto done;
    }
    const char *bucket = url + 5, *q = strchr(bucket, '?');
    size_t blen = q ? (size_t)(q - bucket) : strlen(bucket);
    if (blen > 0 && bucket[blen - 1] == '/')
        blen--;
    if (!(c.bucket = pct_decode_dup(bucket, blen))) {
        rc = config_error(err, errlen, "malformed bucket name");
        goto done;
    }
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        static const char *const names[] = {"endpoint",   "region",      "prefix",
                                            "access_key", "secret_key",  "path_style",
                                            "timeout_ms", "max_retries", "list_page_size"};
        const char *amp = strchr(p, '&'), *stop = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        if (stop > p) {
            if (!eq) {
                rc = config_error(err, errlen, "s3 URL parameter \"%.*s\" has no value",
                                  (int)(stop - p), p);
                goto done;
            }
            name = pct_decode_dup(p, (size_t)(eq - p));
            value = pct_decode_dup(eq + 1, (size_t)(stop - eq - 1));
            if (!name || !value) {
                rc = config_error(err, errlen, "malformed percent-encoding in the s3 URL");
                goto done;
            }
            for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                if (strcmp(name, names[i]) != 0)
                    continue;
                if (seen & (1u << i)) {
                    rc = config_error(err, errlen, "s3 URL parameter \"%s\" given twice", name);
                    goto done;
                }
                seen |= 1u << i;
            }
            if ((rc = config_param(&c, name, value, err, errlen)) < 0)
                goto done;
            free(name);
            free(value);
            name = value = NULL;
        }
        p = amp ? amp + 1 : stop;
    }
    if (check_bucket(c.bucket, c.path_style) < 0) {
        rc = config_error(err, errlen,
                          "bucket name \"%s\" must be 3-63 letters, digits, '.', '-'%s", c.bucket,
                          c.path_style ? " or '_'" : " (lower case for virtual-host style)");
        goto done;
    }
    if (!c.endpoint) {
        rc = config_error(err, errlen, "the s3 URL needs endpoint=http(s)://host[:port]");
        goto done;
    }
    if (!c.region && env_region && *env_region && strlen(env_region) <= 63 &&
        all_chars(env_region, "-_"))
        rc = set_string(&c.region, env_region);
    if (rc == REG_OK && !c.region)
        rc = set_string(&c.region, "us-east-1");
    if (rc == REG_OK && !c.prefix)
        rc = set_string(&c.prefix, "");
    if (rc < 0 ||
        (rc = config_from_env(&c.access_key, "AWS_ACCESS_KEY_ID", "access_key", 128, err, errlen)) <
            0 ||
        (rc = config_from_env(&c.secret_key, "AWS_SECRET_ACCESS_KEY", "secret_key", MAX_SECRET, err,
                              errlen)) < 0)
        goto done;
done:
    free(name);
    free(value);
    if (rc < 0) {
        s3_config_free(&c);
        return rc;
    }
    *out = c;
    return REG_OK;
}

void s3_config_free(s3_config *c)
{
    if (!c)
        return;
    free(c->bucket);
    free(c->endpoint);
    free(c->region);
    free(c->access_key);
    if (c->secret_key)
        OPENSSL_cleanse(c->secret_key, strlen(c->secret_key));
    free(c->secret_key);
    free(c->prefix);
    memset(c, 0, sizeof(*c));
}

/* ---- the client ---- */

struct s3_client {
    s3_config cfg;     /* a deep copy */
    char *base;        /* scheme://authority of requests (bucket.host when virtual-hosted) */
    char *host;        /* the authority alone: the Host header */
    char *bucket_path; /* "/bucket" (path style) or "" */
    char sigv4[128];   /* "aws:amz:REGION:s3" */
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock;
    CURL *idle[POOL_MAX_IDLE];
    size_t nidle;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static char curl_load_error[256];

static void curl_init(void)
{
    curl_init_result = CURLE_FAILED_INIT;
    if (dynlib_load_curl(curl_load_error, sizeof(curl_load_error)) == 0)
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *user)
{
    s3_client *c = user;
    if ((unsigned)data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *user)
{
    s3_client *c = user;
    if ((unsigned)data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&c->share_locks[data]);
}

/* A configuration may be built by hand rather than parsed, so it is checked again. */
static int copy_config(s3_config *out, const s3_config *in)
{
    memset(out, 0, sizeof(*out));
    if (!in->bucket || !in->endpoint || !in->region || !in->access_key || !in->secret_key ||
        !*in->region || strlen(in->region) > 63 || !all_chars(in->region, "-_") ||
        !*in->access_key || strlen(in->access_key) > 128 ||
        !is_clean_text(in->access_key, strlen(in->access_key)) || !*in->secret_key ||
        strlen(in->secret_key) > MAX_SECRET ||
        !is_clean_text(in->secret_key, strlen(in->secret_key)) ||
        (in->prefix &&
         (strlen(in->prefix) > MAX_PREFIX || !is_clean_text(in->prefix, strlen(in->prefix)))))
        return REG_EINVALID;
    *out = *in;
    out->bucket = strdup(in->bucket);
    out->endpoint = strdup(in->endpoint);
    out->region = strdup(in->region);
    out->access_key = strdup(in->access_key);
    out->secret_key = strdup(in->secret_key);
    out->prefix = strdup(in->prefix ? in->prefix : "");
    if (!out->bucket || !out->endpoint || !out->region || !out->access_key || !out->secret_key ||
        !out->prefix) {
        s3_config_free(out);
        return REG_ERROR;
    }
    if (out->timeout_ms <= 0)
        out->timeout_ms = 30000;
    if (out->max_retries < 0)
        out->max_retries = 0;
    if (out->list_page_size < 0 || out->list_page_size > 1000)
        out->list_page_size = 0;
    return REG_OK;
}

int s3_client_new(s3_client **out, const s3_config *cfg)
{
    s3_client *c = calloc(1, sizeof(*c));
    char *endpoint = NULL;
    int err = REG_ERROR;
    if (!c)
        return REG_ERROR;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_locks[i], NULL);
    pthread_mutex_init(&c->pool_lock, NULL);
    pthread_once(&curl_once, curl_init);
    if (curl_init_result != CURLE_OK) {
        set_error("S3 storage needs libcurl: %s",
                  curl_load_error[0] ? curl_load_error : "curl_global_init failed");
        goto fail;
    }
    if ((err = copy_config(&c->cfg, cfg)) < 0 ||
        (err = normalize_endpoint(&endpoint, c->cfg.endpoint)) < 0 ||
        (err = check_bucket(c->cfg.bucket, c->cfg.path_style)) < 0) {
        set_error("incomplete or invalid S3 configuration");
        goto fail;
    }
    err = REG_ERROR;
    const char *authority = strstr(endpoint, "://") + 3;
    size_t scheme_len = (size_t)(authority - endpoint);
    size_t need = strlen(endpoint) + strlen(c->cfg.bucket) + 2;
    c->base = malloc(need);
    c->host = malloc(need);
    c->bucket_path = malloc(strlen(c->cfg.bucket) + 2);
    if (!c->base || !c->host || !c->bucket_path)
        goto fail;
    if (c->cfg.path_style) {
        snprintf(c->base, need, "%s", endpoint);
        snprintf(c->host, need, "%s", authority);
        snprintf(c->bucket_path, strlen(c->cfg.bucket) + 2, "/%s", c->cfg.bucket);
    } else {
        snprintf(c->base, need, "%.*s%s.%s", (int)scheme_len, endpoint, c->cfg.bucket, authority);
        snprintf(c->host, need, "%s.%s", c->cfg.bucket, authority);
        c->bucket_path[0] = '\0';
    }
    snprintf(c->sigv4, sizeof(c->sigv4), "aws:amz:%s:s3", c->cfg.region);
    if (!(c->share = curl_share_init()) ||
        curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_USERDATA, c) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        set_error("curl_share_init failed");
        goto fail;
    }
    free(endpoint);
    *out = c;
    return REG_OK;
fail:
    free(endpoint);
    s3_client_free(c);
    return err;
}

void s3_client_free(s3_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nidle; i++)
        curl_easy_cleanup(c->idle[i]);
    if (c->share)
        curl_share_cleanup(c->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->share_locks[i]);
    pthread_mutex_destroy(&c->pool_lock);
    free(c->base);
    free(c->host);
    free(c->bucket_path);
    s3_config_free(&c->cfg);
    free(c);
}

/* A curl handle for one request; its open connections come along from the last user. */
static CURL *handle_take(s3_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->pool_lock);
    if (c->nidle > 0)
        h = c->idle[--c->nidle];
    pthread_mutex_unlock(&c->pool_lock);
    if (h)
        return h;
    if (!(h = curl_easy_init()))
        return NULL;
    if (curl_easy_setopt(h, CURLOPT_SHARE, c->share) != CURLE_OK) {
        curl_easy_cleanup(h);
        return NULL;
    }
    return h;
}

static void handle_give(s3_client *c, CURL *h)
{
    pthread_mutex_lock(&c->pool_lock);
    if (c->nidle < POOL_MAX_IDLE) {
        c->idle[c->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_lock);
    if (h)
        curl_easy_cleanup(h);
}

/* Keys are relative to cfg.prefix, must not be empty, and must fit S3's limit with it. */
static int check_key(const s3_client *c, const char *key)
{
    size_t len = key ? strlen(key) : 0;
    if (len == 0 || len + strlen(c->cfg.prefix) > S3_MAX_KEY || !is_clean_text(key, len)) {
        set_error("invalid S3 key \"%.64s\"", key ? key : "(null)");
        return REG_EINVALID;
    }
    return REG_OK;
}

/* ---- one request, with retries ---- */

enum timeout_class {
    TIMEOUT_SMALL,  /* cfg.timeout_ms for the whole request */
    TIMEOUT_SLOW,   /* the server works long before it answers: only silence fails */
    TIMEOUT_STREAM, /* bodies of any size: only too slow a transfer fails */
};

/* Where a download stands, across the requests of one s3_get. Offsets are absolute. */
typedef struct download {
    s3_data_cb cb;
    void *ctx;
    uint64_t next;          /* the next byte the caller wants */
    uint64_t end;           /* one past the last byte wanted; UINT64_MAX: to the end */
    uint64_t pos;           /* offset of the next byte of this response's body */
    int positioned;         /* pos is set for this response */
    int cb_err;             /* the callback's non-zero result */
    int gap;                /* the response started past `next` */
    int changed;            /* the response is of another version of the object */
    int done;               /* all wanted bytes arrived; the rest of the body is dropped */
    char etag[S3_ETAG_MAX]; /* of the first answer with a body: later ones must match it */
} download;

typedef struct s3_req {
    const char *method;
    const char *key;   /* relative to cfg.prefix; NULL: the bucket itself */
    const char *query; /* canonical: sorted, UriEncoded, "name=" for flags; or NULL */
    const void *body;
    size_t body_len;
    const char *headers[3]; /* more request headers ("Name: value"), NULL after the last */
    enum timeout_class timeout;
    size_t max_response; /* bytes of the answer's body kept */
    int error_in_200;    /* a 200 answer may still be an <Error> document */
    int self_sign;       /* sign here, not with curl (see sign_request) */
    download *dl;
    int requests;   /* attempts made */
    int maybe_done; /* an attempt failed after the server may have carried it out */
    /* per attempt */
    CURL *h;
    time_t last_progress; /* TIMEOUT_SLOW: when bytes last moved */
    curl_off_t last_bytes;
    size_t body_pos;
    buf response;
    long status;
    char etag[S3_ETAG_MAX];
    int etag_cut;
    char request_id[64];
    int has_range;                     /* a 206's Content-Range was read */
    uint64_t range_start, range_total; /* range_total UINT64_MAX: unknown ("*") */
    uint64_t content_length;           /* UINT64_MAX: not sent */
    int64_t last_modified;             /* -1: not sent */
} s3_req;

static size_t on_read(char *dst, size_t size, size_t nitems, void *user)
{
    s3_req *r = user;
    size_t n = size * nitems, left = r->body_len - r->body_pos;
    if (n > left)
        n = left;
    memcpy(dst, (const char *)r->body + r->body_pos, n);
    r->body_pos += n;
    return n;
}

static int on_seek(void *user, curl_off_t offset, int origin)
{
    s3_req *r = user;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->body_len)
        return CURL_SEEKFUNC_FAIL;
    r->body_pos = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static int header_is(const char *line, size_t len, const char *name, const char **value,
                     size_t *vlen)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return 0;
    const char *v = line + n + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *value = v;
    *vlen = (size_t)(end - v);
    return 1;
}

/* "bytes START-END/TOTAL", TOTAL possibly "*". */
static int parse_content_range(uint64_t *start, uint64_t *total, const char *v, size_t len)
{
    uint64_t end;
    if (len < 6 || strncasecmp(v, "bytes ", 6) != 0)
        return REG_EINVALID;
    const char *p = v + 6, *stop = v + len;
    const char *dash = memchr(p, '-', (size_t)(stop - p));
    const char *slash = dash ? memchr(dash, '/', (size_t)(stop - dash)) : NULL;
    if (!slash || parse_u64(start, p, (size_t)(dash - p)) < 0 ||
        parse_u64(&end, dash + 1, (size_t)(slash - dash - 1)) < 0 || end < *start)
        return REG_EINVALID;
    if (stop - slash == 2 && slash[1] == '*') {
        *total = UINT64_MAX;
        return REG_OK;
    }
    if (parse_u64(total, slash + 1, (size_t)(stop - slash - 1)) < 0 || end >= *total)
        return REG_EINVALID;
    return REG_OK;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *user)
{
    s3_req *r = user;
    size_t len = size * nitems, vlen;
    const char *v;
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue, say): forget what an earlier one said. */
        r->etag[0] = r->request_id[0] = '\0';
        r->etag_cut = r->has_range = 0;
        r->content_length = UINT64_MAX;
        r->last_modified = -1;
    } else if (header_is(line, len, "Content-Length", &v, &vlen)) {
        if (parse_u64(&r->content_length, v, vlen) < 0)
            r->content_length = UINT64_MAX;
    } else if (header_is(line, len, "Last-Modified", &v, &vlen)) {
        char date[64];
        if (vlen < sizeof(date)) {
            memcpy(date, v, vlen);
            date[vlen] = '\0';
            time_t t = curl_getdate(date, NULL);
            r->last_modified = t == (time_t)-1 ? -1 : (int64_t)t;
        }
    } else if (header_is(line, len, "ETag", &v, &vlen)) {
        r->etag_cut = vlen >= sizeof(r->etag) || !is_clean_text(v, vlen);
        if (!r->etag_cut) {
            memcpy(r->etag, v, vlen);
            r->etag[vlen] = '\0';
        }
    } else if (header_is(line, len, "x-amz-request-id", &v, &vlen)) {
        if (vlen < sizeof(r->request_id) && is_clean_text(v, vlen)) {
            memcpy(r->request_id, v, vlen);
            r->request_id[vlen] = '\0';
        }
    } else if (header_is(line, len, "Content-Range", &v, &vlen)) {
        r->has_range = parse_content_range(&r->range_start, &r->range_total, v, vlen) == REG_OK;
    }
    return len;
}

/* Hand the wanted part of a download's body to the callback; 0 (abort) when the callback
 * says stop, the body jumped past what is wanted, or everything wanted has arrived. */
static size_t deliver(s3_req *r, const char *data, size_t n)
{
    download *d = r->dl;
    if (!d->positioned) {
        d->pos = r->status == 206 && r->has_range ? r->range_start : 0;
        d->positioned = 1;
        if (r->status == 206 && !r->has_range) {
            d->gap = 1;
            return 0;
        }
        if (!d->etag[0] && r->etag[0])
            memcpy(d->etag, r->etag, sizeof(d->etag));
        /* for servers that ignore If-Match */
        if (r->etag[0] && strcmp(d->etag, r->etag) != 0) {
            d->changed = 1;
            return 0;
        }
    }
    if (d->done)
        return 0;
    uint64_t pos = d->pos;
    d->pos += n;
    if (pos > d->next) {
        d->gap = 1;
        return 0;
    }
    if (pos + n <= d->next)
        return n;
    size_t skip = (size_t)(d->next - pos), take = n - skip;
    if (d->end != UINT64_MAX && take > d->end - d->next)
        take = (size_t)(d->end - d->next);
    if (take > 0) {
        int rc = d->cb(d->ctx, data + skip, take);
        if (rc != 0) {
            d->cb_err = rc;
            return 0;
        }
        d->next += take;
    }
    if (d->next == d->end) {
        d->done = 1;
        return skip + take == n ? n : 0;
    }
    return n;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *user)
{
    s3_req *r = user;
    size_t n = size * nmemb;
    if (r->status == 0)
        curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->dl && (r->status == 200 || r->status == 206))
        return deliver(r, data, n);
    /* Keep what fits; an error answer is only read for its Code, a cut document fails later. */
    size_t room = r->response.max - r->response.len;
    if (buf_append(&r->response, data, n < room ? n : room) < 0)
        return 0;
    return n;
}

static int is_retryable_curl(CURLcode e)
{
    switch (e) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

static int is_retryable_answer(long status, const char *code)
{
    static const char *const codes[] = {"SlowDown",      "RequestTimeout",
                                        "InternalError", "ServiceUnavailable",
                                        "Throttling",    "ThrottlingException"};
    if (status == 429 || (status >= 500 && status != 501))
        return 1;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (!strcmp(code, codes[i]))
            return 1;
    return 0;
}

static _Thread_local unsigned jitter_seed;

static void backoff(int attempt)
{
    long delay = BACKOFF_BASE_MS;
    for (int i = 0; i < attempt && delay < BACKOFF_CAP_MS; i++)
        delay *= 2;
    if (delay > BACKOFF_CAP_MS)
        delay = BACKOFF_CAP_MS;
    if (jitter_seed == 0)
        jitter_seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)&jitter_seed;
    long ms = delay / 2 + rand_r(&jitter_seed) % (delay / 2 + 1);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* The UriEncoded path of a key (NULL: the bucket), which is also its canonical form. */
static int build_path(buf *out, const s3_client *c, const char *key)
{
    int err = put_str(out, c->bucket_path);
    if (err == REG_OK && key) {
        err = buf_append(out, "/", 1);
        if (err == REG_OK)
            err = put_encoded(out, c->cfg.prefix, strlen(c->cfg.prefix), 1);
        if (err == REG_OK)
            err = put_encoded(out, key, strlen(key), 1);
    } else if (err == REG_OK && !c->bucket_path[0]) {
        err = buf_append(out, "/", 1);
    }
    return err;
}

static int build_url(buf *out, const s3_client *c, const char *path, const char *query)
{
    int err = put_str(out, c->base);
    if (err == REG_OK)
        err = put_str(out, path);
    if (err == REG_OK && query) {
        err = buf_append(out, "?", 1);
        if (err == REG_OK)
            err = put_str(out, query);
    }
    return err;
}

/* TIMEOUT_SLOW: give up when nothing moved either way for LOW_SPEED_SECONDS * 4. */
static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    s3_req *r = user;
    time_t now = time(NULL);
    if (dlnow + ulnow != r->last_bytes || r->last_progress == 0) {
        r->last_bytes = dlnow + ulnow;
        r->last_progress = now;
        return 0;
    }
    return now - r->last_progress > LOW_SPEED_SECONDS * 4 ? 1 : 0;
}

/* The hex signature of a canonical request made at amz_date ("YYYYMMDDTHHMMSSZ"). */
static int sign_canonical(char sig[65], const s3_client *c, const char *creq, const char *amz_date)
{
    sigv4_credential scope = {.service = "s3"};
    snprintf(scope.date, sizeof(scope.date), "%.8s", amz_date);
    snprintf(scope.region, sizeof(scope.region), "%s", c->cfg.region);
    return sigv4_sign_canonical(sig, creq, amz_date, &scope, c->cfg.secret_key);
}

static void amz_date_of(char out[17], time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

typedef struct signed_header {
    char name[64]; /* lower case */
    const char *value;
} signed_header;

static int signed_header_cmp(const void *a, const void *b)
{
    return strcmp(((const signed_header *)a)->name, ((const signed_header *)b)->name);
}

#define SIGN_MAX_HEADERS 8

/* The Authorization header line of header authentication, for the request with the given
 * extra header lines ("Name: value"), host and x-amz-date (which the caller sends) signed.
 * Used instead of curl's signing where curl 7.88 gets it wrong: it sorts whole "name:value"
 * lines, so x-amz-copy-source-range comes before x-amz-copy-source and every server refuses
 * the signature of an UploadPartCopy. */
static int sign_request(buf *auth, const s3_client *c, const char *method, const char *path,
                        const char *query, const char *const *lines, size_t n,
                        const char *payload_sha256, const char *amz_date)
{
    signed_header h[SIGN_MAX_HEADERS + 2];
    char sig[65];
    buf creq, names;
    size_t k = 0;
    int err = REG_OK;
    if (n > SIGN_MAX_HEADERS)
        return REG_ETOOLARGE;
    snprintf(h[k].name, sizeof(h[k].name), "host");
    h[k++].value = c->host;
    snprintf(h[k].name, sizeof(h[k].name), "x-amz-date");
    h[k++].value = amz_date;
    for (size_t i = 0; i < n; i++, k++) {
        const char *colon = strchr(lines[i], ':');
        size_t len = colon ? (size_t)(colon - lines[i]) : 0;
        if (len == 0 || len >= sizeof(h[k].name))
            return REG_EINVALID;
        for (size_t j = 0; j < len; j++)
            h[k].name[j] =
                (char)(lines[i][j] >= 'A' && lines[i][j] <= 'Z' ? lines[i][j] + 32 : lines[i][j]);
        h[k].name[len] = '\0';
        h[k].value = colon + 1 + strspn(colon + 1, " ");
    }
    qsort(h, k, sizeof(h[0]), signed_header_cmp);
    buf_init(&creq, 65536);
    buf_init(&names, 1024);
    if (put_str(&creq, method) < 0 || buf_append(&creq, "\n", 1) < 0 || put_str(&creq, path) < 0 ||
        buf_append(&creq, "\n", 1) < 0 || put_str(&creq, query ? query : "") < 0 ||
        buf_append(&creq, "\n", 1) < 0)
        err = REG_ETOOLARGE;
    for (size_t i = 0; err == REG_OK && i < k; i++) {
        if (put_str(&creq, h[i].name) < 0 || buf_append(&creq, ":", 1) < 0 ||
            put_str(&creq, h[i].value) < 0 || buf_append(&creq, "\n", 1) < 0 ||
            (i > 0 && buf_append(&names, ";", 1) < 0) || put_str(&names, h[i].name) < 0)
            err = REG_ETOOLARGE;
    }
    if (err == REG_OK && (buf_append(&creq, "\n", 1) < 0 || put_str(&creq, names.data) < 0 ||
                          buf_append(&creq, "\n", 1) < 0 || put_str(&creq, payload_sha256) < 0))
        err = REG_ETOOLARGE;
    if (err == REG_OK)
        err = sign_canonical(sig, c, creq.data, amz_date);
    if (err == REG_OK) {
        char line[1024];
        snprintf(line, sizeof(line),
                 "Authorization: AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/s3/aws4_request, "
                 "SignedHeaders=%s, Signature=%s",
                 c->cfg.access_key, amz_date, c->cfg.region, names.data, sig);
        err = put_str(auth, line);
    }
    buf_free(&creq);
    buf_free(&names);
    return err;
}

static struct curl_slist *add_header(struct curl_slist *list, int *failed, const char *line)
{
    struct curl_slist *more = curl_slist_append(list, line);
    if (!more) {
        *failed = 1;
        return list;
    }
    return more;
}

/* One attempt: options from scratch on a pooled handle (curl_easy_reset keeps connections). */
static CURLcode attempt(s3_client *c, s3_req *r, const char *url, const char *path,
                        const char *payload_sha256, char *errbuf)
{
    CURL *h = r->h;
    struct curl_slist *headers = NULL;
    char range[64], sha_line[96], match_line[S3_ETAG_MAX + 16];
    const char *lines[SIGN_MAX_HEADERS];
    size_t n = 0;
    int failed = 0;
    snprintf(sha_line, sizeof(sha_line), "x-amz-content-sha256: %s", payload_sha256);
    lines[n++] = sha_line;
    for (size_t i = 0; i < sizeof(r->headers) / sizeof(r->headers[0]) && r->headers[i]; i++)
        lines[n++] = r->headers[i];
    if (r->dl && r->dl->etag[0]) {
        snprintf(match_line, sizeof(match_line), "If-Match: %s", r->dl->etag);
        lines[n++] = match_line;
    }
    for (size_t i = 0; i < n; i++)
        headers = add_header(headers, &failed, lines[i]);
    if (r->self_sign) {
        char amz_date[17], date_line[32];
        buf auth;
        buf_init(&auth, 2048);
        amz_date_of(amz_date, time(NULL));
        snprintf(date_line, sizeof(date_line), "x-amz-date: %s", amz_date);
        headers = add_header(headers, &failed, date_line);
        if (sign_request(&auth, c, r->method, path, r->query, lines, n, payload_sha256, amz_date) <
            0)
            failed = 1;
        else
            headers = add_header(headers, &failed, auth.data);
        buf_free(&auth);
    }
    if (failed) {
        curl_slist_free_all(headers);
        snprintf(errbuf, CURL_ERROR_SIZE, "out of memory");
        return CURLE_OUT_OF_MEMORY;
    }
    curl_easy_reset(h);
    r->body_pos = 0;
    r->status = 0;
    r->response.len = 0;
    if (r->response.data)
        r->response.data[0] = '\0';
    r->etag[0] = r->request_id[0] = '\0';
    r->etag_cut = r->has_range = 0;
    r->content_length = UINT64_MAX;
    r->last_modified = -1;
    errbuf[0] = '\0';
    long connect_ms =
        c->cfg.timeout_ms < CONNECT_TIMEOUT_MS ? c->cfg.timeout_ms : CONNECT_TIMEOUT_MS;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (!r->self_sign) {
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
        curl_easy_setopt(h, CURLOPT_USERNAME, c->cfg.access_key);
        curl_easy_setopt(h, CURLOPT_PASSWORD, c->cfg.secret_key);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L << 10);
    if (r->timeout == TIMEOUT_STREAM) {
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_SECONDS);
    } else if (r->timeout == TIMEOUT_SLOW) {
        r->last_progress = 0;
        r->last_bytes = 0;
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, SLOW_TIMEOUT_MS);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
    } else {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->cfg.timeout_ms);
    }
    if (!strcmp(r->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(r->method, "PUT") || !strcmp(r->method, "POST")) {
        /* Bodies go through the read callback: with POSTFIELDS curl would add a Content-Type
         * it signs and the server would check. */
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
        curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 1L << 20);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
    if (r->dl) {
        download *d = r->dl;
        if (d->next > 0 || d->end != UINT64_MAX) {
            if (d->end == UINT64_MAX)
                snprintf(range, sizeof(range), "%llu-", (unsigned long long)d->next);
            else
                snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)d->next,
                         (unsigned long long)(d->end - 1));
            curl_easy_setopt(h, CURLOPT_RANGE, range);
        }
        d->positioned = d->gap = d->changed = d->done = 0;
    }
    CURLcode rc = curl_easy_perform(h);
    if (r->status == 0)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
    return rc;
}

/* The error of an answer that is not a success, with last_error saying it. */
static int answer_error(const s3_client *c, const s3_req *r)
{
    s3_error_doc e;
    parse_error_doc(&e, r->response.data, r->response.len);
    set_error("%s %s%s%s: HTTP %ld %s%s%s%s%s", r->method, c->cfg.bucket, r->key ? "/" : "",
              r->key ? r->key : "", r->status, e.code[0] ? e.code : "(no error code)",
              e.message[0] ? ": " : "", e.message, r->request_id[0] ? " request " : "",
              r->request_id);
    if (!strcmp(e.code, "NoSuchBucket"))
        return REG_ERROR;
    if (r->status == 404 || !strcmp(e.code, "NoSuchKey") || !strcmp(e.code, "NoSuchUpload"))
        return REG_ENOTFOUND;
    if (r->status == 416)
        return REG_EINVALID;
    return REG_ERROR;
}

/* The <Error> of a 200 answer that may carry one (CompleteMultipartUpload). */
static int error_in_ok(const s3_req *r, s3_error_doc *e)
{
    xml_span sp;
    if (!r->error_in_200 || r->status != 200 || !r->response.data)
        return 0;
    if (!xml_element(&sp, r->response.data, r->response.len, "Error"))
        return 0;
    parse_error_doc(e, r->response.data, r->response.len);
    return 1;
}

/* After a transfer that ended without a transport error: did the download get every byte
 * the answer promised? (A 200 carries the whole object; a 206 says its total.) */
static int download_complete(const s3_req *r)
{
    const download *d = r->dl;
    uint64_t total = UINT64_MAX;
    if (d->done)
        return 1;
    if (r->status == 206 && r->has_range)
        total = r->range_total;
    else if (r->status == 200)
        total = r->content_length;
    if (total == UINT64_MAX)
        return 1; /* curl checked the length it was told */
    uint64_t want = d->end < total ? d->end : total;
    return d->next >= want;
}

/* Run r until it gets an answer that is not worth retrying: REG_OK then, with r->status and
 * r->response to look at (any status). Transport failures and retryable answers are retried
 * up to cfg.max_retries times; a download resumes after its last delivered byte. */
static int request(s3_client *c, s3_req *r)
{
    char payload[65], errbuf[CURL_ERROR_SIZE];
    buf url, path;
    int err = REG_ERROR, tries = 0, requests = 0;
    buf_init(&url, 16384);
    buf_init(&path, 8192);
    buf_init(&r->response, r->max_response ? r->max_response : XML_MAX_ERROR);
    r->h = NULL;
    if (build_path(&path, c, r->key) < 0 || build_url(&url, c, path.data, r->query) < 0) {
        set_error("%s: URL too long", r->method);
        goto done;
    }
    if (r->body_len ? sha256_hex(payload, r->body, r->body_len) < 0
                    : (memcpy(payload, EMPTY_SHA256, 65), 0)) {
        set_error("%s: SHA-256 failed", r->method);
        goto done;
    }
    if (!(r->h = handle_take(c))) {
        set_error("%s: curl_easy_init failed", r->method);
        goto done;
    }
    for (;;) {
        uint64_t before = r->dl ? r->dl->next : 0;
        s3_error_doc e = {{0}, {0}};
        CURLcode rc = attempt(c, r, url.data, path.data, payload, errbuf);
        r->requests = ++requests;
        if (r->dl && r->dl->cb_err) {
            set_error("GET %s: stopped by the reader", r->key);
            err = r->dl->cb_err;
            goto done;
        }
        if (r->dl && r->dl->changed) {
            set_error("GET %s: the object changed during the download", r->key);
            err = REG_ERROR;
            goto done;
        }
        if (r->dl && r->dl->gap) {
            set_error("GET %s: answer does not start at byte %llu", r->key,
                      (unsigned long long)r->dl->next);
            err = REG_ERROR;
            goto done;
        }
        if (rc == CURLE_WRITE_ERROR && r->dl && r->dl->done)
            rc = CURLE_OK;
        if (rc != CURLE_OK) {
            if (rc == CURLE_ABORTED_BY_CALLBACK) {
                rc = CURLE_OPERATION_TIMEDOUT; /* on_progress: the server went silent */
                snprintf(errbuf, sizeof(errbuf), "no answer for %ld s", LOW_SPEED_SECONDS * 4);
            }
            set_error("%s %s%s%s: %s: %s", r->method, c->cfg.bucket, r->key ? "/" : "",
                      r->key ? r->key : "", curl_easy_strerror(rc), errbuf);
            if (!is_retryable_curl(rc)) {
                err = REG_ERROR;
                goto done;
            }
            r->maybe_done |= rc != CURLE_COULDNT_RESOLVE_HOST && rc != CURLE_COULDNT_CONNECT &&
                             rc != CURLE_SSL_CONNECT_ERROR;
        } else if (r->status >= 200 && r->status < 300) {
            if (error_in_ok(r, &e)) {
                set_error("%s %s/%s: HTTP 200 with error %s: %s", r->method, c->cfg.bucket,
                          r->key ? r->key : "", e.code, e.message);
                if (!is_retryable_answer(0, e.code)) {
                    err = REG_OK; /* the caller reads the document */
                    goto done;
                }
            } else if (r->dl && !download_complete(r)) {
                set_error("GET %s: answer ended early at byte %llu", r->key,
                          (unsigned long long)r->dl->next);
            } else {
                err = REG_OK;
                goto done;
            }
        } else {
            parse_error_doc(&e, r->response.data, r->response.len);
            if (!is_retryable_answer(r->status, e.code)) {
                err = REG_OK;
                goto done;
            }
            answer_error(c, r);
            r->maybe_done |= r->status == 502 || r->status == 504; /* a proxy gave up waiting */
        }
        /* A download that moved forward starts its count of tries afresh. */
        if (r->dl && r->dl->next > before)
            tries = 0;
        if (tries >= c->cfg.max_retries || (r->dl && requests >= GET_MAX_REQUESTS)) {
            size_t used = strlen(last_error);
            snprintf(last_error + used, sizeof(last_error) - used, " (%d attempts)", requests);
            err = REG_ERROR;
            goto done;
        }
        backoff(tries++);
    }
done:
    if (r->h)
        handle_give(c, r->h);
    r->h = NULL;
    buf_free(&url);
    buf_free(&path);
    if (err < 0)
        buf_free(&r->response);
    return err;
}

/* ---- objects ---- */

/* The outcome of a request whose only success is a 2xx (or one of `ok_also`, 0 for none). */
static int finish(s3_client *c, s3_req *r, long ok_also)
{
    int err = (r->status >= 200 && r->status < 300) || (ok_also && r->status == ok_also)
                  ? REG_OK
                  : answer_error(c, r);
    buf_free(&r->response);
    return err;
}

int s3_put(s3_client *c, const char *key, const void *data, size_t len)
{
    s3_req r = {
        .method = "PUT", .key = key, .body = data, .body_len = len, .timeout = TIMEOUT_STREAM};
    int err;
    if ((err = check_key(c, key)) < 0 || (err = request(c, &r)) < 0)
        return err;
    return finish(c, &r, 0);
}

int s3_head(s3_client *c, const char *key, uint64_t *size_out, int64_t *mtime_out)
{
    s3_req r = {.method = "HEAD", .key = key, .timeout = TIMEOUT_SMALL};
    int err;
    if ((err = check_key(c, key)) < 0 || (err = request(c, &r)) < 0)
        return err;
    if ((err = finish(c, &r, 0)) < 0)
        return err;
    if (r.content_length == UINT64_MAX) {
        set_error("HEAD %s: no Content-Length", key);
        return REG_ERROR;
    }
    if (size_out)
        *size_out = r.content_length;
    if (mtime_out)
        *mtime_out = r.last_modified;
    return REG_OK;
}

int s3_get(s3_client *c, const char *key, uint64_t off, uint64_t len, s3_data_cb cb, void *ctx)
{
    download d = {.cb = cb, .ctx = ctx, .next = off, .end = len ? off + len : UINT64_MAX};
    s3_req r = {.method = "GET", .key = key, .timeout = TIMEOUT_STREAM, .dl = &d};
    int err;
    if ((err = check_key(c, key)) < 0)
        return err;
    if (!cb || (len && off > UINT64_MAX - len)) {
        set_error("GET %s: invalid range or callback", key);
        return REG_EINVALID;
    }
    if ((err = request(c, &r)) < 0)
        return err;
    /* Unsatisfiable at 0 means an empty object; after a resume, that the object ended. */
    if (r.status == 416 && (off == 0 || d.next > off)) {
        buf_free(&r.response);
        return REG_OK;
    }
    return finish(c, &r, 0);
}

int s3_delete(s3_client *c, const char *key)
{
    s3_req r = {.method = "DELETE", .key = key, .timeout = TIMEOUT_SMALL};
    int err;
    if ((err = check_key(c, key)) < 0 || (err = request(c, &r)) < 0)
        return err;
    err = finish(c, &r, 0);
    return err == REG_ENOTFOUND ? REG_OK : err;
}

/* A copy source header: "x-amz-copy-source: /bucket/<prefix><key>" UriEncoded. */
static int copy_source(buf *out, const s3_client *c, const char *key)
{
    int err = put_str(out, "x-amz-copy-source: /");
    if (err == REG_OK)
        err = put_encoded(out, c->cfg.bucket, strlen(c->cfg.bucket), 0);
    if (err == REG_OK)
        err = buf_append(out, "/", 1);
    if (err == REG_OK)
        err = put_encoded(out, c->cfg.prefix, strlen(c->cfg.prefix), 1);
    if (err == REG_OK)
        err = put_encoded(out, key, strlen(key), 1);
    return err;
}

/* Objects up to this size are copied with one CopyObject (S3's limit for it); larger ones
 * part by part. Variables so that a test can exercise the multipart path with small data. */
static uint64_t copy_single_max = 5ull << 30;
static uint64_t copy_part_min = 512ull << 20;

static int copy_multipart(s3_client *c, const char *src, const char *dst, const char *source,
                          uint64_t size)
{
    char upload_id[S3_UPLOAD_ID_MAX], query[S3_UPLOAD_ID_MAX * 3 + 64], range[96];
    uint64_t part = copy_part_min;
    s3_part *parts = NULL;
    buf enc;
    int err;
    while ((size + part - 1) / part > S3_MAX_PARTS)
        part *= 2;
    size_t n = (size_t)((size + part - 1) / part);
    if (!(parts = calloc(n, sizeof(*parts)))) {
        set_error("out of memory");
        return REG_ERROR;
    }
    if ((err = s3_multipart_create(c, dst, upload_id, sizeof(upload_id))) < 0) {
        free(parts);
        return err;
    }
    buf_init(&enc, sizeof(query));
    if (put_encoded(&enc, upload_id, strlen(upload_id), 0) < 0) {
        set_error("upload id too long");
        err = REG_ERROR;
    }
    for (size_t i = 0; err == REG_OK && i < n; i++) {
        uint64_t from = i * part, to = from + part < size ? from + part - 1 : size - 1;
        snprintf(query, sizeof(query), "partNumber=%zu&uploadId=%s", i + 1, enc.data);
        snprintf(range, sizeof(range), "x-amz-copy-source-range: bytes=%llu-%llu",
                 (unsigned long long)from, (unsigned long long)to);
        s3_req r = {.method = "PUT",
                    .key = dst,
                    .query = query,
                    .headers = {source, range},
                    .timeout = TIMEOUT_SLOW,
                    .max_response = XML_MAX_SMALL,
                    .error_in_200 = 1,
                    .self_sign = 1};
        s3_error_doc e;
        if ((err = request(c, &r)) < 0)
            break;
        if (r.status == 200 && error_in_ok(&r, &e)) {
            set_error("UploadPartCopy %s -> %s: %s: %s", src, dst, e.code, e.message);
            buf_free(&r.response);
            err = REG_ERROR;
            break;
        }
        if (r.status == 200 && (xml_field(parts[i].etag, sizeof(parts[i].etag), r.response.data,
                                          r.response.len, "ETag") < 0)) {
            set_error("UploadPartCopy %s: malformed <ETag>", dst);
            buf_free(&r.response);
            err = REG_ERROR;
            break;
        }
        parts[i].no = (int)i + 1;
        err = finish(c, &r, 0);
    }
    if (err == REG_OK)
        err = s3_multipart_complete(c, dst, upload_id, parts, n);
    if (err < 0) {
        char why[sizeof(last_error)];
        memcpy(why, last_error, sizeof(why));
        s3_multipart_abort(c, dst, upload_id);
        memcpy(last_error, why, sizeof(why));
    }
    buf_free(&enc);
    free(parts);
    return err;
}

int s3_copy(s3_client *c, const char *src_key, const char *dst_key)
{
    uint64_t size = 0;
    buf source;
    int err;
    if ((err = check_key(c, src_key)) < 0 || (err = check_key(c, dst_key)) < 0 ||
        (err = s3_head(c, src_key, &size, NULL)) < 0)
        return err;
    buf_init(&source, S3_MAX_KEY * 3 + 128);
    if ((err = copy_source(&source, c, src_key)) < 0) {
        set_error("copy source too long");
        buf_free(&source);
        return REG_EINVALID;
    }
    if (size > copy_single_max) {
        err = copy_multipart(c, src_key, dst_key, source.data, size);
        buf_free(&source);
        return err;
    }
    s3_req r = {.method = "PUT",
                .key = dst_key,
                .headers = {source.data},
                .timeout = TIMEOUT_SLOW,
                .max_response = XML_MAX_SMALL,
                .error_in_200 = 1};
    s3_error_doc e;
    err = request(c, &r);
    buf_free(&source);
    if (err < 0)
        return err;
    if (r.status == 200 && error_in_ok(&r, &e)) {
        set_error("CopyObject %s -> %s: %s: %s", src_key, dst_key, e.code, e.message);
        buf_free(&r.response);
        return REG_ERROR;
    }
    return finish(c, &r, 0);
}

/* ---- many objects ---- */

int s3_delete_many(s3_client *c, const char *const *keys, size_t n)
{
    static const char head[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                               "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                               "<Quiet>true</Quiet>";
    char md5[25], md5_header[64];
    buf body;
    int err = REG_OK;
    if (n == 0)
        return REG_OK;
    if (n > S3_MAX_DELETE || !keys) {
        set_error("DeleteObjects: %zu keys (at most %d)", n, S3_MAX_DELETE);
        return REG_EINVALID;
    }
    buf_init(&body, XML_MAX_BODY);
    err = put_str(&body, head);
    for (size_t i = 0; i < n && err == REG_OK; i++) {
        if ((err = check_key(c, keys[i])) < 0)
            break;
        if ((err = put_str(&body, "<Object><Key>")) == REG_OK &&
            (err = put_xml_escaped(&body, c->cfg.prefix)) == REG_OK &&
            (err = put_xml_escaped(&body, keys[i])) == REG_OK)
            err = put_str(&body, "</Key></Object>");
    }
    if (err == REG_OK)
        err = put_str(&body, "</Delete>");
    if (err == REG_ETOOLARGE || err == REG_ERROR)
        set_error("DeleteObjects: request body too large");
    if (err == REG_OK && (err = md5_base64(md5, body.data, body.len)) < 0)
        set_error("DeleteObjects: MD5 failed");
    if (err < 0) {
        buf_free(&body);
        return err == REG_ETOOLARGE ? REG_EINVALID : err;
    }
    snprintf(md5_header, sizeof(md5_header), "Content-MD5: %s", md5);
    s3_req r = {.method = "POST",
                .query = "delete=",
                .body = body.data,
                .body_len = body.len,
                .headers = {md5_header},
                .timeout = TIMEOUT_SLOW,
                .max_response = XML_MAX_SMALL};
    err = request(c, &r);
    buf_free(&body);
    if (err < 0)
        return err;
    if (r.status != 200)
        return finish(c, &r, 0);
    if (r.response.len >= r.response.max) {
        set_error("DeleteObjects: answer too large");
        err = REG_ERROR;
    }
    /* Quiet mode lists only failures; a key that was already gone is not one. */
    xml_span sp;
    for (const char *p = r.response.data, *end = p + r.response.len;
         err == REG_OK && p && xml_element(&sp, p, (size_t)(end - p), "Error"); p = sp.end) {
        char key[S3_MAX_KEY + 1];
        s3_error_doc e;
        if (xml_field(e.code, sizeof(e.code), sp.text, sp.len, "Code") < 0)
            strcpy(e.code, "(unreadable)");
        if (!strcmp(e.code, "NoSuchKey"))
            continue;
        if (xml_field(key, sizeof(key), sp.text, sp.len, "Key") < 0)
            strcpy(key, "(unreadable)");
        if (xml_field(e.message, sizeof(e.message), sp.text, sp.len, "Message") < 0)
            e.message[0] = '\0';
        set_error("DeleteObjects: %s: %s: %s", key, e.code, e.message);
        err = REG_ERROR;
    }
    buf_free(&r.response);
    return err;
}

static int list_query(buf *q, const s3_client *c, const char *token, const char *prefix)
{
    char num[32];
    int err = REG_OK;
    if (token &&
        ((err = put_str(q, "continuation-token=")) < 0 ||
         (err = put_encoded(q, token, strlen(token), 0)) < 0 || (err = buf_append(q, "&", 1)) < 0))
        return err;
    if ((err = put_str(q, "list-type=2")) < 0)
        return err;
    if (c->cfg.list_page_size > 0) {
        snprintf(num, sizeof(num), "&max-keys=%d", c->cfg.list_page_size);
        if ((err = put_str(q, num)) < 0)
            return err;
    }
    size_t plen = strlen(c->cfg.prefix);
    if (plen + strlen(prefix) > 0 &&
        ((err = put_str(q, "&prefix=")) < 0 || (err = put_encoded(q, c->cfg.prefix, plen, 0)) < 0 ||
         (err = put_encoded(q, prefix, strlen(prefix), 0)) < 0))
        return err;
    return REG_OK;
}

int s3_list(s3_client *c, const char *prefix, s3_list_cb cb, void *ctx)
{
    list_page *pg = calloc(1, sizeof(*pg));
    char *token = NULL;
    int err = REG_OK, empty = 0;
    prefix = prefix ? prefix : "";
    if (!pg) {
        set_error("out of memory");
        return REG_ERROR;
    }
    if (!cb || strlen(prefix) > S3_MAX_KEY || !is_clean_text(prefix, strlen(prefix))) {
        set_error("ListObjectsV2: invalid prefix or callback");
        free(pg);
        return REG_EINVALID;
    }
    pg->strip = c->cfg.prefix;
    pg->cb = cb;
    pg->ctx = ctx;
    for (;;) {
        buf q;
        buf_init(&q, 3 * (MAX_TOKEN + S3_MAX_KEY + MAX_PREFIX) + 128);
        if ((err = list_query(&q, c, token, prefix)) < 0) {
            set_error("ListObjectsV2: query too long");
            buf_free(&q);
            err = REG_ERROR;
            break;
        }
        s3_req r = {.method = "GET",
                    .query = q.data,
                    .timeout = TIMEOUT_SMALL,
                    .max_response = XML_MAX_LIST};
        err = request(c, &r);
        buf_free(&q);
        if (err < 0)
            break;
        if (r.status != 200) {
            err = finish(c, &r, 0);
            break;
        }
        if (r.response.len >= r.response.max) {
            set_error("ListObjectsV2: page larger than %u bytes", XML_MAX_LIST);
            err = REG_ERROR;
        } else {
            err = list_page_parse(pg, r.response.data ? r.response.data : "", r.response.len);
        }
        buf_free(&r.response);
        if (err < 0 || pg->stopped || !pg->truncated) {
            if (err == REG_OK && pg->stopped < 0)
                err = pg->stopped;
            break;
        }
        empty = pg->keys ? 0 : empty + 1;
        if ((token && !strcmp(token, pg->next_token)) || empty > LIST_MAX_EMPTY) {
            set_error("ListObjectsV2: the listing does not advance");
            err = REG_ERROR;
            break;
        }
        free(token);
        if (!(token = strdup(pg->next_token))) {
            set_error("out of memory");
            err = REG_ERROR;
            break;
        }
    }
    free(token);
    free(pg);
    return err;
}

/* ---- multipart uploads ---- */

static int upload_query(char *out, size_t cap, const char *upload_id, int part_no)
{
    buf q;
    char num[32];
    int err = REG_OK;
    size_t len = upload_id ? strlen(upload_id) : 0;
    if (len == 0 || len >= S3_UPLOAD_ID_MAX) {
        set_error("invalid upload id");
        return REG_EINVALID;
    }
    buf_init(&q, cap - 1);
    if (part_no > 0) {
        snprintf(num, sizeof(num), "partNumber=%d&", part_no);
        err = put_str(&q, num);
    }
    if (err == REG_OK)
        err = put_str(&q, "uploadId=");
    if (err == REG_OK)
        err = put_encoded(&q, upload_id, len, 0);
    if (err == REG_OK)
        memcpy(out, q.data, q.len + 1);
    buf_free(&q);
    if (err < 0) {
        set_error("invalid upload id");
        return REG_EINVALID;
    }
    return REG_OK;
}

int s3_multipart_create(s3_client *c, const char *key, char *upload_id_out, size_t cap)
{
    s3_req r = {.method = "POST",
                .key = key,
                .query = "uploads=",
                .timeout = TIMEOUT_SMALL,
                .max_response = XML_MAX_SMALL};
    xml_span root;
    int err;
    if ((err = check_key(c, key)) < 0 || (err = request(c, &r)) < 0)
        return err;
    if (r.status != 200)
        return finish(c, &r, 0);
    if (!r.response.data ||
        !xml_element(&root, r.response.data, r.response.len, "InitiateMultipartUploadResult")) {
        set_error("CreateMultipartUpload %s: answer without a result", key);
        err = REG_ERROR;
    } else if ((err = xml_field(upload_id_out, cap, root.text, root.len, "UploadId")) < 0) {
        set_error("CreateMultipartUpload %s: <UploadId> malformed or over %zu bytes", key, cap);
        err = err == REG_ETOOLARGE ? REG_ETOOLARGE : REG_ERROR;
    } else if (!upload_id_out[0] || !is_clean_text(upload_id_out, strlen(upload_id_out))) {
        set_error("CreateMultipartUpload %s: empty or unprintable <UploadId>", key);
        err = REG_ERROR;
    }
    buf_free(&r.response);
    return err;
}

int s3_multipart_part(s3_client *c, const char *key, const char *upload_id, int part_no,
                      const void *data, size_t len, char *etag_out, size_t cap)
{
    char query[S3_UPLOAD_ID_MAX * 3 + 64];
    s3_req r = {.method = "PUT",
                .key = key,
                .query = query,
                .body = data,
                .body_len = len,
                .timeout = TIMEOUT_STREAM};
    int err;
    if (part_no < 1 || part_no > S3_MAX_PARTS) {
        set_error("UploadPart %s: part number %d out of 1..%d", key, part_no, S3_MAX_PARTS);
        return REG_EINVALID;
    }
    if ((err = check_key(c, key)) < 0 ||
        (err = upload_query(query, sizeof(query), upload_id, part_no)) < 0 ||
        (err = request(c, &r)) < 0)
        return err;
    if ((err = finish(c, &r, 0)) < 0)
        return err;
    if (r.etag_cut) {
        set_error("UploadPart %s: ETag too long or unprintable", key);
        return REG_ERROR;
    }
    if (strlen(r.etag) >= cap) {
        set_error("UploadPart %s: ETag does not fit in %zu bytes", key, cap);
        return REG_ETOOLARGE;
    }
    memcpy(etag_out, r.etag, strlen(r.etag) + 1);
    return REG_OK;
}

/* The ETag S3 gives an object made of these parts: "MD5(MD5(part 1) ... MD5(part n))-n".
 * REG_EINVALID when a part's ETag is not a quoted MD5 (RGW may send none). */
static int multipart_etag(char out[S3_ETAG_MAX], const s3_part *parts, size_t n)
{
    unsigned char *md5s = malloc(16 * n), md[16];
    unsigned int len = 0;
    int err = md5s ? REG_OK : REG_ERROR;
    for (size_t i = 0; err == REG_OK && i < n; i++) {
        const char *e = parts[i].etag;
        if (strnlen(e, 35) != 34 || e[0] != '"' || e[33] != '"')
            err = REG_EINVALID;
        for (int j = 0; err == REG_OK && j < 16; j++) {
            int hi = hex_value(e[1 + 2 * j]), lo = hex_value(e[2 + 2 * j]);
            if (hi < 0 || lo < 0)
                err = REG_EINVALID;
            else
                md5s[16 * i + (size_t)j] = (unsigned char)(hi << 4 | lo);
        }
    }
    if (err == REG_OK && (EVP_Digest(md5s, 16 * n, md, &len, EVP_md5(), NULL) != 1 || len != 16))
        err = REG_ERROR;
    if (err == REG_OK) {
        char hex[33];
        hex_encode(hex, md, 16);
        snprintf(out, S3_ETAG_MAX, "\"%s-%zu\"", hex, n);
    }
    free(md5s);
    return err;
}

/* ListParts of at most one part: REG_OK when the upload exists, REG_ENOTFOUND when not.
 * last_error is left as it was. */
static int upload_exists(s3_client *c, const char *key, const char *upload_id)
{
    char query[S3_UPLOAD_ID_MAX * 3 + 64], why[sizeof(last_error)];
    s3_req r = {.method = "GET", .key = key, .query = query, .timeout = TIMEOUT_SMALL};
    int err;
    memcpy(why, last_error, sizeof(why));
    memcpy(query, "max-parts=1&", 12);
    if ((err = upload_query(query + 12, sizeof(query) - 12, upload_id, 0)) == REG_OK &&
        (err = request(c, &r)) == REG_OK)
        err = finish(c, &r, 0);
    memcpy(last_error, why, sizeof(why));
    return err;
}

int s3_multipart_complete(s3_client *c, const char *key, const char *upload_id,
                          const s3_part *parts, size_t n)
{
    static const char head[] =
        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
    char query[S3_UPLOAD_ID_MAX * 3 + 64], num[64];
    buf body;
    s3_error_doc e;
    int err;
    if (n == 0 || n > S3_MAX_PARTS || !parts) {
        set_error("CompleteMultipartUpload %s: %zu parts", key, n);
        return REG_EINVALID;
    }
    if ((err = check_key(c, key)) < 0 ||
        (err = upload_query(query, sizeof(query), upload_id, 0)) < 0)
        return err;
    buf_init(&body, XML_MAX_BODY);
    err = put_str(&body, head);
    for (size_t i = 0; i < n && err == REG_OK; i++) {
        size_t elen = strnlen(parts[i].etag, sizeof(parts[i].etag));
        if (parts[i].no < 1 || parts[i].no > S3_MAX_PARTS ||
            (i > 0 && parts[i].no <= parts[i - 1].no) || elen == sizeof(parts[i].etag) ||
            !is_clean_text(parts[i].etag, elen)) {
            set_error("CompleteMultipartUpload %s: part %zu is out of order or malformed", key, i);
            buf_free(&body);
            return REG_EINVALID;
        }
        snprintf(num, sizeof(num), "<Part><PartNumber>%d</PartNumber><ETag>", parts[i].no);
        if ((err = put_str(&body, num)) == REG_OK &&
            (err = put_xml_escaped(&body, parts[i].etag)) == REG_OK)
            err = put_str(&body, "</ETag></Part>");
    }
    if (err == REG_OK)
        err = put_str(&body, "</CompleteMultipartUpload>");
    if (err < 0) {
        set_error("CompleteMultipartUpload %s: request body too large", key);
        buf_free(&body);
        return REG_ERROR;
    }
    s3_req r = {.method = "POST",
                .key = key,
                .query = query,
                .body = body.data,
                .body_len = body.len,
                .timeout = TIMEOUT_SLOW,
                .max_response = XML_MAX_SMALL,
                .error_in_200 = 1};
    err = request(c, &r);
    buf_free(&body);
    if (err < 0) {
        /* r.status is that of the last attempt (0 for none) */
    } else if (r.status == 200 && error_in_ok(&r, &e)) {
        /* RGW 16.2 answers some failures with 200 and an error document. */
        set_error("CompleteMultipartUpload %s: HTTP 200 with error %s: %s", key, e.code, e.message);
        err = !strcmp(e.code, "NoSuchUpload") ? REG_ENOTFOUND : REG_ERROR;
        buf_free(&r.response);
    } else {
        err = finish(c, &r, 0);
    }
    /* RGW 16.2 answers a completion of an unknown upload with 500 InternalError "This
     * multipart completion is already in progress" (its lock object is missing): ask
     * ListParts whether the upload exists. */
    if (err == REG_ERROR && r.status == 500 && upload_exists(c, key, upload_id) == REG_ENOTFOUND)
        err = REG_ENOTFOUND;
    /* An attempt that failed in transit may have completed the upload; then the retry finds
     * it gone, and the object there with the ETag these parts make. */
    if (err == REG_ENOTFOUND && r.maybe_done) {
        char why[sizeof(last_error)], want[S3_ETAG_MAX];
        s3_req h = {.method = "HEAD", .key = key, .timeout = TIMEOUT_SMALL};
        memcpy(why, last_error, sizeof(why));
        if (request(c, &h) == REG_OK && finish(c, &h, 0) == REG_OK &&
            (multipart_etag(want, parts, n) < 0 || !strcmp(want, h.etag)))
            return REG_OK;
        memcpy(last_error, why, sizeof(why));
    }
    return err;
}

int s3_multipart_abort(s3_client *c, const char *key, const char *upload_id)
{
    char query[S3_UPLOAD_ID_MAX * 3 + 64];
    s3_req r = {.method = "DELETE", .key = key, .query = query, .timeout = TIMEOUT_SMALL};
    int err;
    if ((err = check_key(c, key)) < 0 ||
        (err = upload_query(query, sizeof(query), upload_id, 0)) < 0 || (err = request(c, &r)) < 0)
        return err;
    err = finish(c, &r, 0);
    return err == REG_ENOTFOUND ? REG_OK : err;
}

/* ---- presigned URLs ---- */

/* The presigned URL at time `now` (separate so that tests can pin the clock against AWS's
 * documented example). Only host is signed, and the payload is UNSIGNED-PAYLOAD. */
static int presign_at(char **url_out, const s3_client *c, const char *key, int expires, time_t now)
{
    char amz_date[17], sig[65], num[32];
    buf path, query, creq, url, cred;
    int err = REG_ERROR;
    buf_init(&path, S3_MAX_KEY * 3 + 128);
    buf_init(&query, S3_MAX_KEY * 3 + 1024);
    buf_init(&creq, S3_MAX_KEY * 6 + 4096);
    buf_init(&url, S3_MAX_KEY * 6 + 4096);
    buf_init(&cred, 1024);
    amz_date_of(amz_date, now);
    snprintf(num, sizeof(num), "%d", expires);
    /* The query in canonical (sorted) order is also the URL's own. */
    if (build_path(&path, c, key) < 0 || put_str(&cred, c->cfg.access_key) < 0 ||
        buf_append(&cred, "/", 1) < 0 || buf_append(&cred, amz_date, 8) < 0 ||
        buf_append(&cred, "/", 1) < 0 || put_str(&cred, c->cfg.region) < 0 ||
        put_str(&cred, "/s3/aws4_request") < 0 ||
        put_str(&query, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=") < 0 ||
        put_encoded(&query, cred.data, cred.len, 0) < 0 || put_str(&query, "&X-Amz-Date=") < 0 ||
        put_str(&query, amz_date) < 0 || put_str(&query, "&X-Amz-Expires=") < 0 ||
        put_str(&query, num) < 0 || put_str(&query, "&X-Amz-SignedHeaders=host") < 0)
        goto done;
    if (put_str(&creq, "GET\n") < 0 || put_str(&creq, path.data) < 0 ||
        buf_append(&creq, "\n", 1) < 0 || put_str(&creq, query.data) < 0 ||
        put_str(&creq, "\nhost:") < 0 || put_str(&creq, c->host) < 0 ||
        put_str(&creq, "\n\nhost\nUNSIGNED-PAYLOAD") < 0 ||
        sign_canonical(sig, c, creq.data, amz_date) < 0)
        goto done;
    if (build_url(&url, c, path.data, query.data) < 0 || put_str(&url, "&X-Amz-Signature=") < 0 ||
        put_str(&url, sig) < 0)
        goto done;
    *url_out = url.data;
    url.data = NULL;
    err = REG_OK;
done:
    if (err < 0)
        set_error("presign %s: failed", key);
    buf_free(&path);
    buf_free(&query);
    buf_free(&creq);
    free(url.data);
    buf_free(&cred);
    return err;
}

int s3_presign_get(char **url_out, s3_client *c, const char *key, int expires)
{
    int err;
    if ((err = check_key(c, key)) < 0)
        return err;
    if (expires < 1 || expires > S3_PRESIGN_MAX_EXPIRES) {
        set_error("presign %s: expiry %d s out of 1..%d", key, expires, S3_PRESIGN_MAX_EXPIRES);
        return REG_EINVALID;
    }
    return presign_at(url_out, c, key, expires, time(NULL));
}

/* ---- the bucket ---- */

static int bucket_head(s3_client *c, long *status)
{
    s3_req r = {.method = "HEAD", .timeout = TIMEOUT_SMALL};
    int err = request(c, &r);
    if (err < 0)
        return err;
    *status = r.status;
    if (r.status != 200 && r.status != 404)
        err = answer_error(c, &r);
    buf_free(&r.response);
    return err;
}

static int bucket_create(s3_client *c, int with_location, s3_error_doc *e, long *status)
{
    buf body;
    int err = REG_OK;
    buf_init(&body, 4096);
    if (with_location &&
        ((err = put_str(&body, "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/"
                               "2006-03-01/\"><LocationConstraint>")) < 0 ||
         (err = put_xml_escaped(&body, c->cfg.region)) < 0 ||
         (err = put_str(&body, "</LocationConstraint></CreateBucketConfiguration>")) < 0)) {
        buf_free(&body);
        set_error("CreateBucket: out of memory");
        return REG_ERROR;
    }
    s3_req r = {.method = "PUT", .body = body.data, .body_len = body.len, .timeout = TIMEOUT_SMALL};
    err = request(c, &r);
    buf_free(&body);
    if (err < 0)
        return err;
    *status = r.status;
    parse_error_doc(e, r.response.data, r.response.len);
    if (r.status != 200)
        answer_error(c, &r);
    buf_free(&r.response);
    return REG_OK;
}

int s3_bucket_ensure(s3_client *c)
{
    s3_error_doc e;
    long status = 0;
    int err;
    if ((err = bucket_head(c, &status)) < 0 || status == 200)
        return err;
    /* us-east-1 takes no LocationConstraint; elsewhere AWS needs one. RGW accepts only its
     * zonegroup's name there, which need not be the signing region: then go without. */
    int with_location = strcmp(c->cfg.region, "us-east-1") != 0;
    if ((err = bucket_create(c, with_location, &e, &status)) < 0)
        return err;
    if (status == 400 && with_location && !strcmp(e.code, "InvalidLocationConstraint") &&
        (err = bucket_create(c, 0, &e, &status)) < 0)
        return err;
    if (status == 200 || (status == 409 && !strcmp(e.code, "BucketAlreadyOwnedByYou")))
        return REG_OK;
    if (status == 409 && !strcmp(e.code, "BucketAlreadyExists")) {
        /* Someone else's, or ours created meanwhile by another process. */
        char why[sizeof(last_error)];
        memcpy(why, last_error, sizeof(why));
        if (bucket_head(c, &status) == REG_OK && status == 200)
            return REG_OK;
        memcpy(last_error, why, sizeof(why));
        return REG_ECONFLICT;
    }
    return REG_ERROR;
}
