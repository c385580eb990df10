/* config.c - defaults, JSON config file, OCIREG_* environment and flags (see config.h). */
#include "server/http/config.h"
#include "storage/base/reg_error.h"

#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void config_defaults(config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->listen, sizeof(c->listen), "127.0.0.1:5000");
    snprintf(c->data_dir, sizeof(c->data_dir), "./data");
    c->threads = 0;
    c->access_log = 1;
    c->log_level = 2;
    c->connection_timeout = 60;
    c->max_connections = 4096;
    c->upload_expiry = 24 * 3600;
    c->token_ttl = 300;
    c->create_on_push = 1;
}

long long config_parse_duration(const char *text)
{
    static const struct {
        char unit;
        long long seconds;
    } units[] = {{'\0', 1}, {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (end == text || v < 0 || v > 100LL * 365 * 86400 || (*end && end[1]))
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (*end == units[i].unit)
            return v * units[i].seconds;
    return -1;
}

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return REG_EINVALID;
}

static int parse_int(int *out, const char *text, int min, int max)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (!text[0] || *end || v < min || v > max)
        return REG_EINVALID;
    *out = (int)v;
    return REG_OK;
}

static int parse_bool(int *out, const char *text)
{
    if (!strcmp(text, "1") || !strcmp(text, "true") || !strcmp(text, "on") || !strcmp(text, "yes"))
        *out = 1;
    else if (!strcmp(text, "0") || !strcmp(text, "false") || !strcmp(text, "off") ||
             !strcmp(text, "no"))
        *out = 0;
    else
        return REG_EINVALID;
    return REG_OK;
}

/* One setting by name, from any source; the value is text. */
static int set_option(config *c, const char *name, const char *value, char *err, size_t errlen)
{
    int ok = REG_OK;
    if (!strcmp(name, "listen")) {
        if (strlen(value) >= sizeof(c->listen) || !strchr(value, ':'))
            return bad(err, errlen, "listen: expected HOST:PORT, got \"%s\"", value);
        snprintf(c->listen, sizeof(c->listen), "%s", value);
    } else if (!strcmp(name, "data")) {
        if (!value[0] || strlen(value) >= sizeof(c->data_dir))
            return bad(err, errlen, "data: invalid folder \"%s\"", value);
        snprintf(c->data_dir, sizeof(c->data_dir), "%s", value);
    } else if (!strcmp(name, "storage")) {
        if (strlen(value) >= sizeof(c->storage) || (value[0] && strncmp(value, "s3://", 5) != 0))
            return bad(err, errlen, "storage: expected s3://BUCKET?endpoint=URL&region=R, got \"%s\"",
                       value);
        snprintf(c->storage, sizeof(c->storage), "%s", value);
    } else if (!strcmp(name, "index")) {
        if (strlen(value) >= sizeof(c->index))
            return bad(err, errlen, "index: too long");
        snprintf(c->index, sizeof(c->index), "%s", value);
    } else if (!strcmp(name, "blob-redirect")) {
        ok = parse_bool(&c->blob_redirect, value);
    } else if (!strcmp(name, "threads")) {
        ok = parse_int(&c->threads, value, 0, 256);
    } else if (!strcmp(name, "access-log")) {
        ok = parse_bool(&c->access_log, value);
    } else if (!strcmp(name, "log-level")) {
        ok = parse_int(&c->log_level, value, 0, 3);
    } else if (!strcmp(name, "connection-timeout")) {
        ok = parse_int(&c->connection_timeout, value, 1, 86400);
    } else if (!strcmp(name, "max-connections")) {
        ok = parse_int(&c->max_connections, value, 1, 1000000);
    } else if (!strcmp(name, "upload-expiry")) {
        ok = parse_int(&c->upload_expiry, value, 60, 30 * 86400);
    } else if (!strcmp(name, "auth")) {
        ok = parse_bool(&c->auth, value);
    } else if (!strcmp(name, "insecure-no-auth")) {
        ok = parse_bool(&c->insecure_no_auth, value);
    } else if (!strcmp(name, "token-ttl")) {
        ok = parse_int(&c->token_ttl, value, 60, 86400);
    } else if (!strcmp(name, "external-url")) {
        if (strlen(value) >= sizeof(c->external_url) ||
            (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0))
            return bad(err, errlen, "external-url: expected http(s)://HOST[:PORT], got \"%s\"",
                       value);
        snprintf(c->external_url, sizeof(c->external_url), "%s", value);
        size_t n = strlen(c->external_url);
        while (n > 0 && c->external_url[n - 1] == '/')
            c->external_url[--n] = '\0';
    } else if (!strcmp(name, "trusted-proxy")) {
        if (strlen(value) >= sizeof(c->trusted_proxies))
            return bad(err, errlen, "trusted-proxy: list too long");
        snprintf(c->trusted_proxies, sizeof(c->trusted_proxies), "%s", value);
    } else if (!strcmp(name, "gc-interval")) {
        if ((c->gc_interval = config_parse_duration(value)) < 0)
            return bad(err, errlen, "gc-interval: expected a duration such as 6h, got \"%s\"",
                       value);
    } else if (!strcmp(name, "create-on-push")) {
        ok = parse_bool(&c->create_on_push, value);
    } else if (!strcmp(name, "tls-cert") || !strcmp(name, "tls-key")) {
        char *dst = name[4] == 'c' ? c->tls_cert : c->tls_key;
        if (strlen(value) >= PATH_MAX)
            return bad(err, errlen, "%s: path too long", name);
        snprintf(dst, PATH_MAX, "%s", value);
    } else {
        return bad(err, errlen, "unknown setting \"%s\"", name);
    }
    return ok < 0 ? bad(err, errlen, "%s: invalid value \"%s\"", name, value) : REG_OK;
}

static const char *const setting_names[] = {
    "listen",        "data",          "threads",          "access-log",   "log-level",
    "connection-timeout", "max-connections", "upload-expiry", "auth",     "insecure-no-auth",
    "token-ttl",     "external-url",  "trusted-proxy",    "tls-cert",     "tls-key",
    "create-on-push", "gc-interval",  "storage",          "index",
    "blob-redirect"};
#define SETTING_COUNT (sizeof(setting_names) / sizeof(setting_names[0]))

static int load_file(config *c, const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    const char *key;
    json_t *value;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    int rc = REG_OK;
    if (!root)
        return bad(err, errlen, "config file %s: %s (line %d)", path, jerr.text, jerr.line);
    if (!json_is_object(root)) {
        json_decref(root);
        return bad(err, errlen, "config file %s: expected a JSON object", path);
    }
    json_object_foreach(root, key, value)
    {
        char text[PATH_MAX];
        if (json_is_string(value))
            snprintf(text, sizeof(text), "%s", json_string_value(value));
        else if (json_is_integer(value))
            snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(value));
        else if (json_is_boolean(value))
            snprintf(text, sizeof(text), "%s", json_is_true(value) ? "true" : "false");
        else
            text[0] = '\0';
        if ((rc = set_option(c, key, text, err, errlen)) < 0)
            break;
    }
    json_decref(root);
    return rc;
}

static int load_env(config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        char var[64];
        size_t j = 0;
        j += (size_t)snprintf(var, sizeof(var), "OCIREG_");
        for (const char *p = setting_names[i]; *p && j < sizeof(var) - 1; p++)
            var[j++] = *p == '-' ? '_' : (char)(*p - 'a' + 'A');
        var[j] = '\0';
        const char *v = getenv(var);
        if (v && set_option(c, setting_names[i], v, err, errlen) < 0)
            return REG_EINVALID;
    }
    return REG_OK;
}

void config_print_serve_help(const char *prog)
{
    printf("Usage: %s serve [OPTIONS]\n\n"
           "Serve the OCI Distribution API from a data folder.\n\n"
           "Options (each also OCIREG_<NAME> in the environment, or \"name\" in --config):\n"
           "  --listen HOST:PORT          address to listen on (default 127.0.0.1:5000)\n"
           "  --data DIR                  data folder: blobs, uploads, meta.db, keys (default ./data)\n"
           "  --storage s3://BUCKET?endpoint=URL&region=R   keep blobs in S3-compatible storage\n"
           "                              (credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)\n"
           "  --index postgres://URI      keep the index in PostgreSQL (default DATA/meta.db)\n"
           "  --blob-redirect[=BOOL]      with --storage s3://: answer blob GETs with a redirect\n"
           "                              to a presigned S3 URL (default false: stream them)\n"
           "  --config FILE               JSON file of settings, e.g. {\"listen\": \"...\"}\n"
           "  --threads N                 server threads, 0 = automatic (default 0)\n"
           "  --access-log true|false     one JSON line per request on stdout (default true)\n"
           "  --log-level 0..3            error, warn, info, debug (default 2)\n"
           "  --connection-timeout SECS   close idle connections after SECS (default 60)\n"
           "  --max-connections N         concurrent connections, more get 503 (default 4096)\n"
           "  --upload-expiry SECS        drop upload sessions idle this long (default 86400)\n"
           "  --auth[=BOOL]               require tokens even before any user exists\n"
           "                              (auth is on as soon as the data folder has a user)\n"
           "  --insecure-no-auth[=BOOL]   allow a non-loopback --listen without auth\n"
           "  --token-ttl SECS            lifetime of issued access tokens (default 300)\n"
           "  --external-url URL          public base URL (token realm), e.g. behind a proxy\n"
           "  --trusted-proxy ADDRS       comma-separated proxy addresses whose\n"
           "                              X-Forwarded-Proto/Host are believed\n"
           "  --tls-cert FILE, --tls-key FILE   serve HTTPS with this PEM certificate and key\n"
           "  --create-on-push BOOL       a push creates its repository (default true);\n"
           "                              false: only repositories made with `ocireg repo create`\n"
           "  --gc-interval DURATION      run gc (lifecycle + blob sweep) this often, e.g. 6h\n"
           "                              (default 0: never; `ocireg gc` and POST /admin/gc)\n"
           "  -h, --help                  show this help\n",
           prog);
}

int config_load_serve(config *c, int argc, char **argv, char *err, size_t errlen)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 0},          {"data", required_argument, 0, 0},
        {"threads", required_argument, 0, 0},         {"access-log", required_argument, 0, 0},
        {"log-level", required_argument, 0, 0},       {"connection-timeout", required_argument, 0, 0},
        {"max-connections", required_argument, 0, 0}, {"upload-expiry", required_argument, 0, 0},
        {"auth", optional_argument, 0, 0},            {"insecure-no-auth", optional_argument, 0, 0},
        {"token-ttl", required_argument, 0, 0},       {"external-url", required_argument, 0, 0},
        {"trusted-proxy", required_argument, 0, 0},   {"tls-cert", required_argument, 0, 0},
        {"tls-key", required_argument, 0, 0},         {"create-on-push", required_argument, 0, 0},
        {"gc-interval", required_argument, 0, 0},     {"storage", required_argument, 0, 0},
        {"index", required_argument, 0, 0},           {"blob-redirect", optional_argument, 0, 0},
        {"config", required_argument, 0, 'c'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *file = getenv("OCIREG_CONFIG");
    int idx, ch;
    /* First pass: only --config and --help, so the file sits below env and flags. */
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
        if (ch == 'c')
            file = optarg;
        else if (ch == 'h')
            return 1;
        else if (ch == '?')
            return bad(err, errlen, "unknown or incomplete option \"%s\"", argv[optind - 1]);
    }
    if (optind < argc)
        return bad(err, errlen, "unexpected argument \"%s\"", argv[optind]);
    if (file && load_file(c, file, err, errlen) < 0)
        return REG_EINVALID;
    if (load_env(c, err, errlen) < 0)
        return REG_EINVALID;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
        if (ch == 0 && set_option(c, opts[idx].name, optarg ? optarg : "true", err, errlen) < 0)
            return REG_EINVALID;
    }
    return REG_OK;
}
