/* config.c - the s3:// location of s3.h: the bucket, and query parameters described once in
 * `params` (type, bounds, default, field, help), which drives parsing, defaults and errors. */
#include "storage/s3/s3_internal.h"
#include "storage/base/digest.h"
#include "storage/base/reg_error.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ENDPOINT 512

typedef enum param_type {
    PARAM_ENDPOINT, /* char *: stored as normalize_endpoint rewrites it */
    PARAM_TEXT,     /* char *: min..max bytes of `chars` */
    PARAM_INT,      /* int: min..max */
    PARAM_LONG,     /* long: min..max */
} param_type;

/* One s3:// parameter. A text one not given takes `env`'s value when that is valid, else
 * `fallback`; with neither, the URL is refused. A number not given is `fallback_number`. */
typedef struct param {
    const char *name;
    param_type type;
    long min, max;     /* a number's range; a text's length */
    const char *chars; /* text: what it may hold besides letters and digits; NULL: any
                          printable character */
    const char *env;
    const char *fallback;
    long fallback_number;
    size_t field;     /* offsetof(s3_config, ...) */
    const char *help; /* text: what a valid value is, for the error text (numbers say their
                         range) */
} param;

#define FIELD(f) offsetof(s3_config, f)
/* clang-format off */
static const param params[] = {
    {.name = "endpoint", .type = PARAM_ENDPOINT, .field = FIELD(endpoint),
     .help = "must be http(s)://host[:port]"},
    {.name = "region", .type = PARAM_TEXT, .min = 1, .max = 63, .chars = "-_",
     .env = "AWS_REGION", .fallback = "us-east-1", .field = FIELD(region),
     .help = "must be 1-63 letters, digits, '-' or '_'"},
    {.name = "prefix", .type = PARAM_TEXT, .min = 0, .max = MAX_PREFIX, .fallback = "",
     .field = FIELD(prefix), .help = "is too long or holds control characters"},
    {.name = "access_key", .type = PARAM_TEXT, .min = 1, .max = 128, .env = "AWS_ACCESS_KEY_ID",
     .field = FIELD(access_key), .help = "must be 1-128 printable characters"},
    {.name = "secret_key", .type = PARAM_TEXT, .min = 1, .max = MAX_SECRET,
     .env = "AWS_SECRET_ACCESS_KEY", .field = FIELD(secret_key),
     .help = "must be 1-256 printable characters"},
    {.name = "path_style", .type = PARAM_INT, .min = 0, .max = 1, .fallback_number = 1,
     .field = FIELD(path_style)},
    {.name = "timeout_ms", .type = PARAM_LONG, .min = 100, .max = 3600000,
     .fallback_number = 30000, .field = FIELD(timeout_ms)},
    {.name = "max_retries", .type = PARAM_INT, .min = 0, .max = 20, .fallback_number = 4,
     .field = FIELD(max_retries)},
    {.name = "list_page_size", .type = PARAM_INT, .min = 0, .max = 1000, .fallback_number = 0,
     .field = FIELD(list_page_size)},
    {.name = "sse", .type = PARAM_INT, .min = 0, .max = 1, .fallback_number = 1,
     .field = FIELD(sse)},
};
/* clang-format on */
#undef FIELD
#define NPARAMS (sizeof(params) / sizeof(params[0]))

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

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int all_chars(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!is_alnum(*s) && !strchr(extra, *s))
            return 0;
    return 1;
}

static int parse_long(long *out, const char *s, long min, long max)
{
    uint64_t v;
    if (parse_u64(&v, s, strlen(s)) < 0 || v < (uint64_t)min || v > (uint64_t)max)
        return REG_EINVALID;
    *out = (long)v;
    return REG_OK;
}

int normalize_endpoint(char **out, const char *url)
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

int check_bucket(const char *b, int path_style)
{
    static const char dns[] = "abcdefghijklmnopqrstuvwxyz0123456789.-";
    size_t len = strlen(b);
    if (len < 3 || len > 63 || !is_alnum(b[0]) || !is_alnum(b[len - 1]))
        return REG_EINVALID;
    if (path_style)
        return all_chars(b, "-._") ? REG_OK : REG_EINVALID;
    return strspn(b, dns) == len ? REG_OK : REG_EINVALID;
}

static const param *param_named(const char *name)
{
    for (size_t i = 0; i < NPARAMS; i++)
        if (!strcmp(params[i].name, name))
            return &params[i];
    return NULL;
}

static int text_ok(const param *p, const char *value)
{
    size_t len = strlen(value);
    if (len < (size_t)p->min || len > (size_t)p->max)
        return 0;
    return p->chars ? all_chars(value, p->chars) : is_clean_text(value, len);
}

int config_text_ok(const char *name, const char *value)
{
    const param *p = param_named(name);
    return p && p->type == PARAM_TEXT && value && text_ok(p, value);
}

static void *field_of(s3_config *c, const param *p)
{
    return (char *)c + p->field;
}

static char **text_field(s3_config *c, const param *p)
{
    return field_of(c, p);
}

static int set_text(s3_config *c, const param *p, const char *value)
{
    char **slot = text_field(c, p);
    free(*slot);
    if (!(*slot = strdup(value)))
        return reg_error_set(REG_ERROR, "out of memory");
    return REG_OK;
}

/* The bad value's message: the parameter's help, or its range. */
static int refuse(const param *p, const char *value)
{
    switch (p->type) {
    case PARAM_ENDPOINT:
        return reg_error_set(REG_EINVALID, "%s %s, got \"%s\"", p->name, p->help, value);
    case PARAM_TEXT:
        return reg_error_set(REG_EINVALID, "%s %s", p->name, p->help);
    default:
        if (p->max == p->min + 1)
            return reg_error_set(REG_EINVALID, "%s must be %ld or %ld", p->name, p->min, p->max);
        return reg_error_set(REG_EINVALID, "%s must be %ld..%ld", p->name, p->min, p->max);
    }
}

/* One name=value of the s3:// query; value is already decoded. */
static int config_param(s3_config *c, const param *p, const char *value)
{
    char *endpoint = NULL;
    long v;
    int rc;
    switch (p->type) {
    case PARAM_ENDPOINT:
        if ((rc = normalize_endpoint(&endpoint, value)) == REG_ERROR)
            return reg_error_set(REG_ERROR, "out of memory");
        if (rc < 0)
            return refuse(p, value);
        free(*text_field(c, p));
        *text_field(c, p) = endpoint;
        return REG_OK;
    case PARAM_TEXT:
        return text_ok(p, value) ? set_text(c, p, value) : refuse(p, value);
    case PARAM_INT:
        if (parse_long(&v, value, p->min, p->max) < 0)
            return refuse(p, value);
        *(int *)field_of(c, p) = (int)v;
        return REG_OK;
    case PARAM_LONG:
        if (parse_long(&v, value, p->min, p->max) < 0)
            return refuse(p, value);
        *(long *)field_of(c, p) = v;
        return REG_OK;
    }
    return REG_ERROR;
}

/* A text parameter the URL did not give: from the environment, else its fallback. */
static int config_default(s3_config *c, const param *p)
{
    const char *v = p->env ? getenv(p->env) : NULL;
    if (*text_field(c, p))
        return REG_OK;
    if (v && *v && text_ok(p, v))
        return set_text(c, p, v);
    if (p->fallback)
        return set_text(c, p, p->fallback);
    if (p->type == PARAM_ENDPOINT)
        return reg_error_set(REG_EINVALID, "the s3 URL needs endpoint=http(s)://host[:port]");
    if (!v || !*v)
        return reg_error_set(REG_EINVALID, "no %s: set %s or add %s= to the s3 URL", p->name,
                             p->env, p->name);
    return reg_error_set(REG_EINVALID, "%s is too long or holds control characters", p->env);
}

/* One name=value of the query; `seen` has a bit for each parameter already given. */
static int config_pair(s3_config *c, unsigned *seen, const char *s, size_t len)
{
    const char *eq = memchr(s, '=', len);
    char *name = NULL, *value = NULL;
    const param *p = NULL;
    int rc;
    if (!eq)
        return reg_error_set(REG_EINVALID, "s3 URL parameter \"%.*s\" has no value", (int)len, s);
    if (!(name = pct_decode_dup(s, (size_t)(eq - s))) ||
        !(value = pct_decode_dup(eq + 1, len - (size_t)(eq - s) - 1)))
        rc = reg_error_set(REG_EINVALID, "malformed percent-encoding in the s3 URL");
    else if (!(p = param_named(name)))
        rc = reg_error_set(REG_EINVALID, "unknown s3 URL parameter \"%s\"", name);
    else if (*seen & (1u << (p - params)))
        rc = reg_error_set(REG_EINVALID, "s3 URL parameter \"%s\" given twice", name);
    else
        rc = config_param(c, p, value);
    if (p)
        *seen |= 1u << (p - params);
    free(name);
    free(value);
    return rc;
}

/* The query's name=value pairs (q may be NULL), each name at most once. */
static int config_query(s3_config *c, const char *q)
{
    unsigned seen = 0;
    int rc = REG_OK;
    for (const char *p = q; p && *p && rc == REG_OK;) {
        const char *amp = strchr(p, '&'), *stop = amp ? amp : p + strlen(p);
        if (stop > p)
            rc = config_pair(c, &seen, p, (size_t)(stop - p));
        p = amp ? amp + 1 : stop;
    }
    return rc;
}

int s3_config_parse(s3_config *out, const char *url)
{
    s3_config c = {.bucket = NULL};
    int rc = REG_OK;
    for (size_t i = 0; i < NPARAMS; i++)
        if (params[i].type == PARAM_INT)
            *(int *)field_of(&c, &params[i]) = (int)params[i].fallback_number;
        else if (params[i].type == PARAM_LONG)
            *(long *)field_of(&c, &params[i]) = params[i].fallback_number;
    if (!url || strncmp(url, "s3://", 5) != 0) {
        rc = reg_error_set(REG_EINVALID, "an S3 location starts with s3://");
        goto done;
    }
    const char *bucket = url + 5, *q = strchr(bucket, '?');
    size_t blen = q ? (size_t)(q - bucket) : strlen(bucket);
    if (blen > 0 && bucket[blen - 1] == '/')
        blen--;
    if (!(c.bucket = pct_decode_dup(bucket, blen))) {
        rc = reg_error_set(REG_EINVALID, "malformed bucket name");
        goto done;
    }
    if ((rc = config_query(&c, q ? q + 1 : NULL)) < 0)
        goto done;
    if (check_bucket(c.bucket, c.path_style) < 0) {
        rc = reg_error_set(REG_EINVALID,
                           "bucket name \"%s\" must be 3-63 letters, digits, '.', '-'%s", c.bucket,
                           c.path_style ? " or '_'" : " (lower case for virtual-host style)");
        goto done;
    }
    for (size_t i = 0; i < NPARAMS && rc == REG_OK; i++)
        if (params[i].type == PARAM_ENDPOINT || params[i].type == PARAM_TEXT)
            rc = config_default(&c, &params[i]);
done:
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
