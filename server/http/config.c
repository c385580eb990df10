/* config.c - the settings of `ocireg serve` as one table, which drives the flags, the OCIREG_*
 * environment, the JSON config file, the defaults and `serve --help` alike (see config.h). */
#include "server/http/config.h"
#include "storage/blob/blobstore.h"
#include "storage/index/index_inline.h"
#include "storage/outbox.h"
#include "storage/webhook.h"
#include "storage/base/reg_error.h"

#include <ctype.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    SETTING_TEXT,     /* a string shorter than its field; `valid` may refuse more */
    SETTING_URL,      /* http(s)://HOST[:PORT], kept without trailing '/' */
    SETTING_INT,      /* an int in min..max */
    SETTING_BOOL,     /* true/false, on/off, yes/no, 1/0 */
    SETTING_DURATION, /* seconds as a long long, from config_parse_duration() */
    SETTING_SIZE,     /* bytes as a long long, from config_parse_size() */
} setting_type;

/* One setting: flag --NAME, environment variable OCIREG_NAME ('-' as '_'), JSON key "NAME". */
typedef struct setting {
    const char *name;
    setting_type type;
    size_t offset;                   /* of its field in config */
    size_t size;                     /* TEXT, URL: bytes of the field */
    int min, max;                    /* INT: accepted range */
    long long number;                /* INT, BOOL, DURATION, SIZE: default */
    const char *text;                /* TEXT, URL: default; NULL is "" */
    const char *shown;               /* help's default when the default is "" */
    int (*valid)(const char *value); /* TEXT: a check beyond the length */
    const char *refusal;             /* printf format of (name, value) for a refused value */
    int value_optional;              /* BOOL: a bare --NAME means true */
    int reloads;                     /* SIGHUP applies a new value to a running server */
    const char *metavar;             /* help's name of the value (BOOL: always BOOL) */
    const char *help;                /* meaning; '\n' continues on the next line */
} setting;

/* Where a field is; the _Generic makes a field of another type fail to compile. */
#define TEXT_FIELD(f)  .offset = offsetof(config, f), .size = sizeof(((config *)0)->f)
#define INT_FIELD(f)   .offset = _Generic(((config *)0)->f, int : offsetof(config, f))
#define LLONG_FIELD(f) .offset = _Generic(((config *)0)->f, long long : offsetof(config, f))

#define REFUSED_VALUE "%s: invalid value \"%s\""

static int has_port(const char *value)
{
    return strchr(value, ':') != NULL;
}

static int not_empty(const char *value)
{
    return value[0] != '\0';
}

static int twelve_digits(const char *value)
{
    size_t n = strspn(value, "0123456789");
    return n == 12 && value[n] == '\0';
}

static int is_region(const char *value)
{
    size_t n = strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789-");
    return n > 0 && value[n] == '\0';
}

static int is_s3_or_empty(const char *value)
{
    return !value[0] || !strncmp(value, "s3://", 5);
}

/* One paragraph a setting, kept as written so that it reads as a table. */
/* clang-format off */
static const setting settings[] = {
    {.name = "listen", .type = SETTING_TEXT, TEXT_FIELD(listen), .text = "127.0.0.1:5000",
     .valid = has_port, .refusal = "%s: expected HOST:PORT, got \"%s\"", .metavar = "HOST:PORT",
     .help = "address to listen on; [::1]:5000 for IPv6"},
    {.name = "data", .type = SETTING_TEXT, TEXT_FIELD(data_dir), .text = "./data",
     .valid = not_empty, .refusal = "%s: invalid folder \"%s\"", .metavar = "DIR",
     .help = "data folder: blobs, uploads, meta.db, keys"},
    {.name = "threads", .type = SETTING_INT, INT_FIELD(threads), .min = 0, .max = 256,
     .number = 0, .metavar = "N", .help = "server threads, 0 = four per core, at least 8"},
    {.name = "access-log", .type = SETTING_BOOL, INT_FIELD(access_log), .number = 1,
     .reloads = 1,
     .help = "one JSON line per request on stdout"},
    {.name = "log-level", .type = SETTING_INT, INT_FIELD(log_level), .min = 0, .max = 3,
     .reloads = 1,
     .number = 2, .metavar = "LEVEL", .help = "0 error, 1 warn, 2 info, 3 debug, on stderr"},
    {.name = "connection-timeout", .type = SETTING_INT, INT_FIELD(connection_timeout), .min = 1,
     .max = 86400, .number = 60, .metavar = "SECONDS",
     .help = "close a connection idle this long"},
    {.name = "body-timeout", .type = SETTING_INT, INT_FIELD(body_timeout), .min = 1,
     .max = 86400, .number = 60, .metavar = "SECONDS",
     .reloads = 1,
     .help = "a request body must arrive within this long, plus a\n"
             "second for every --body-min-rate bytes received"},
    {.name = "body-min-rate", .type = SETTING_INT, INT_FIELD(body_min_rate), .min = 0,
     .max = 1 << 30, .number = 1024, .metavar = "BYTES",
     .reloads = 1,
     .help = "bytes per second that earn a body a second more;\n"
             "0: --body-timeout bounds the whole body"},
    {.name = "max-connections", .type = SETTING_INT, INT_FIELD(max_connections), .min = 1,
     .max = 1000000, .number = 4096, .metavar = "N",
     .help = "concurrent connections; the next 64 are answered 503\n"
             "with Retry-After, further ones closed"},
    {.name = "upload-expiry", .type = SETTING_INT, INT_FIELD(upload_expiry), .min = 60,
     .max = 30 * 86400, .number = 86400, .metavar = "SECONDS",
     .reloads = 1,
     .help = "drop upload sessions idle this long"},
    {.name = "auth", .type = SETTING_BOOL, INT_FIELD(auth), .number = 0, .value_optional = 1,
     .help = "require tokens even before any user exists;\n"
             "auth is on anyway once the data folder has a user"},
    {.name = "insecure-no-auth", .type = SETTING_BOOL, INT_FIELD(insecure_no_auth), .number = 0,
     .value_optional = 1, .help = "allow a non-loopback --listen without auth"},
    {.name = "token-ttl", .type = SETTING_INT, INT_FIELD(token_ttl), .min = 60, .max = 86400,
     .reloads = 1,
     .number = 300, .metavar = "SECONDS", .help = "lifetime of issued access tokens"},
    {.name = "console-session-ttl", .type = SETTING_INT, INT_FIELD(console_session_ttl),
     .min = 60, .max = 86400, .number = 3600, .metavar = "SECONDS",
     .help = "lifetime of a web console sign-in (/console/)"},
    {.name = "external-url", .type = SETTING_URL, TEXT_FIELD(external_url),
     .shown = "the Host header", .refusal = "%s: expected http(s)://HOST[:PORT], got \"%s\"",
     .metavar = "URL", .help = "public base URL (token realm), e.g. behind a proxy"},
    {.name = "trusted-proxy", .type = SETTING_TEXT, TEXT_FIELD(trusted_proxies), .shown = "none",
     .refusal = "%s: list too long", .metavar = "ADDRS",
     .help = "comma-separated proxy addresses whose\n"
             "X-Forwarded-For/Proto/Host are believed"},
    {.name = "tls-cert", .type = SETTING_TEXT, TEXT_FIELD(tls_cert), .shown = "none",
     .refusal = "%s: path too long", .metavar = "FILE",
     .help = "serve HTTPS with this PEM certificate (and --tls-key)"},
    {.name = "tls-key", .type = SETTING_TEXT, TEXT_FIELD(tls_key), .shown = "none",
     .refusal = "%s: path too long", .metavar = "FILE",
     .help = "the PEM private key of --tls-cert"},
    {.name = "create-on-push", .type = SETTING_BOOL, INT_FIELD(create_on_push), .number = 1,
     .reloads = 1,
     .help = "a push creates its repository; false: only\n"
             "repositories made with `ocireg repo create`"},
    {.name = "gc-interval", .type = SETTING_DURATION, LLONG_FIELD(gc_interval), .number = 0,
     .refusal = "%s: expected a duration such as 6h, got \"%s\"", .metavar = "DURATION",
     .reloads = 1,
     .help = "run gc (lifecycle + blob sweep) this often, e.g. 6h;\n"
             "0: never (`ocireg gc` and POST /admin/gc still work)"},
    {.name = "storage", .type = SETTING_TEXT, TEXT_FIELD(storage), .shown = "DATA/blobs",
     .valid = is_s3_or_empty, .metavar = "s3://BUCKET?endpoint=URL&region=R",
     .refusal = "%s: expected s3://BUCKET?endpoint=URL&region=R, got \"%s\"",
     .help = "keep blobs in S3-compatible storage, with the\n"
             "keys in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"},
    {.name = "index", .type = SETTING_TEXT, TEXT_FIELD(index), .shown = "DATA/meta.db",
     .refusal = "%s: too long", .metavar = "postgres://URI",
     .help = "keep the index in PostgreSQL (or in this SQLite file)"},
    {.name = "max-blob-size", .type = SETTING_SIZE, LLONG_FIELD(max_blob_size),
     .number = CONFIG_DEFAULT_MAX_BLOB_SIZE, .metavar = "SIZE",
     .refusal = "%s: expected a size such as 10G, got \"%s\"",
     .reloads = 1,
     .help = "refuse a blob push larger than this (413)"},
    {.name = "blob-redirect", .type = SETTING_BOOL, INT_FIELD(blob_redirect), .number = 0,
     .value_optional = 1,
     .help = "with --storage s3://: answer blob GETs with a redirect\n"
             "to a presigned S3 URL; false: stream them"},
    {.name = "registry-id", .type = SETTING_TEXT, TEXT_FIELD(registry_id),
     .text = "000000000000", .valid = twelve_digits,
     .refusal = "%s: expected 12 digits, got \"%s\"", .metavar = "ID",
     .help = "ECR API: the account id in every ARN, repository\n"
             "URI and registryId; requests naming another are refused"},
    {.name = "inline-max", .type = SETTING_INT, INT_FIELD(inline_max), .min = 0,
     .max = INDEX_INLINE_LIMIT, .number = BLOBSTORE_INLINE_MAX_DEFAULT, .metavar = "BYTES",
     .help = "keep blobs up to this size in the index, written in\n"
             "the transaction that links them; 0: none"},
    {.name = "region", .type = SETTING_TEXT, TEXT_FIELD(region), .text = "us-east-1",
     .valid = is_region, .refusal = "%s: expected a region such as eu-west-1, got \"%s\"",
     .metavar = "REGION", .help = "the AWS region events name (envelope, repository ARN)"},
    {.name = "outbox-workers", .type = SETTING_INT, INT_FIELD(outbox_workers), .min = 0,
     .max = 64, .number = OUTBOX_WORKERS_DEFAULT, .metavar = "N",
     .help = "threads delivering webhook events and replications;\n"
             "0: this instance delivers nothing (others on the index do)"},
    {.name = "outbox-max-attempts", .type = SETTING_INT, INT_FIELD(outbox_max_attempts),
     .min = 1, .max = 1000, .number = OUTBOX_MAX_ATTEMPTS_DEFAULT, .metavar = "N",
     .help = "attempts of a delivery before it is parked\n"
             "(`ocireg webhook deliveries --failed`, `redeliver`)"},
    {.name = "outbox-retry-ms", .type = SETTING_INT, INT_FIELD(outbox_retry_ms), .min = 1,
     .max = 3600000, .number = OUTBOX_RETRY_MS_DEFAULT, .metavar = "MS",
     .help = "wait after a failed delivery, doubled after each\n"
             "failure up to 1 h, with jitter (tests shorten it)"},
    {.name = "outbox-target-concurrency", .type = SETTING_INT,
     INT_FIELD(outbox_target_concurrency), .min = 1, .max = 64,
     .number = OUTBOX_TARGET_CONCURRENCY_DEFAULT, .metavar = "N",
     .help = "deliveries to one webhook or destination at once,\n"
             "across every instance on the index"},
    {.name = "outbox-lease-ms", .type = SETTING_INT, INT_FIELD(outbox_lease_ms), .min = 500,
     .max = 3600000, .number = OUTBOX_LEASE_MS_DEFAULT, .metavar = "MS",
     .help = "how long a delivery holds its entry before another\n"
             "worker may take it; a replication extends it between blobs"},
    {.name = "webhook-timeout-ms", .type = SETTING_INT, INT_FIELD(webhook_timeout_ms),
     .min = 100, .max = 600000, .number = WEBHOOK_TIMEOUT_MS_DEFAULT, .metavar = "MS",
     .help = "one webhook POST, connection included; then it is\n"
             "retried as a failure"},
    {.name = "reuse-port", .type = SETTING_BOOL, INT_FIELD(reuse_port), .number = 0,
     .value_optional = 1,
     .help = "listen with SO_REUSEPORT, so that a new server can start\n"
             "on the port before this one stops (restart without downtime)"},
    {.name = "drain-timeout", .type = SETTING_DURATION, LLONG_FIELD(drain_timeout),
     .number = 10, .refusal = "%s: expected a duration such as 30s, got \"%s\"",
     .metavar = "DURATION",
     .reloads = 1,
     .help = "at SIGTERM, stop accepting and give requests in flight\n"
             "this long to finish; then close what is left"},
    {.name = "upstream-stall-timeout", .type = SETTING_INT, INT_FIELD(upstream_stall_timeout),
     .min = 1, .max = 3600, .number = 30, .metavar = "SECONDS",
     .help = "pull-through cache: a fetch from an upstream that\n"
             "sends nothing for this long is cut off"},
    {.name = "upstream-min-rate", .type = SETTING_INT, INT_FIELD(upstream_min_rate), .min = 0,
     .max = 1 << 30, .number = 1024, .metavar = "BYTES",
     .help = "pull-through cache: a blob fill that has averaged\n"
             "fewer bytes a second once --upstream-stall-timeout\n"
             "has passed is cut off (a trickle); 0: none"},
};
/* clang-format on */
#define SETTING_COUNT (sizeof(settings) / sizeof(settings[0]))

#define HELP_COLUMN 30 /* where the meaning starts in --help */
#define HELP_WIDTH  96

void config_defaults(config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        const setting *s = &settings[i];
        char *field = (char *)c + s->offset;
        if (s->type == SETTING_TEXT || s->type == SETTING_URL)
            snprintf(field, s->size, "%s", s->text ? s->text : "");
        else if (s->type == SETTING_DURATION || s->type == SETTING_SIZE)
            *(long long *)field = s->number;
        else
            *(int *)field = (int)s->number;
    }
}

int config_reload(config *live, const config *fresh, const char **restart_out, int max)
{
    int n = 0;
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        const setting *s = &settings[i];
        char *to = (char *)live + s->offset;
        const char *from = (const char *)fresh + s->offset;
        int text = s->type == SETTING_TEXT || s->type == SETTING_URL;
        int wide = s->type == SETTING_DURATION || s->type == SETTING_SIZE;
        if (text ? !strcmp(to, from) : !memcmp(to, from, wide ? sizeof(long long) : sizeof(int)))
            continue;
        if (!s->reloads || text) { /* a text cannot be swapped under its readers */
            if (n < max)
                restart_out[n] = s->name;
            n++;
        } else if (wide) {
            __atomic_store_n((long long *)to, *(const long long *)from, __ATOMIC_RELAXED);
        } else {
            __atomic_store_n((int *)to, *(const int *)from, __ATOMIC_RELAXED);
        }
    }
    return n;
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

long long config_parse_size(const char *text)
{
    static const char units[] = "KMGT";
    char *end = NULL;
    int shift = 0;
    if (!isdigit((unsigned char)text[0]))
        return -1;
    long long v = strtoll(text, &end, 10);
    const char *unit = *end ? strchr(units, *end) : NULL;
    if (*end && (!unit || end[1]))
        return -1;
    if (unit)
        shift = 10 * (int)(unit - units + 1);
    if (v < 1 || v > (1LL << (62 - shift)))
        return -1;
    return v << shift;
}

/* 52000M rather than 54525952000: the largest unit that divides the size. */
static void format_size(char *out, size_t n, long long v)
{
    static const char *const units[] = {"", "K", "M", "G", "T"};
    size_t i = 0;
    while (i + 1 < sizeof(units) / sizeof(units[0]) && v % 1024 == 0) {
        v /= 1024;
        i++;
    }
    snprintf(out, n, "%lld%s", v, units[i]);
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

static int is_http_url(const char *value)
{
    return !strncmp(value, "http://", 7) || !strncmp(value, "https://", 8);
}

/* An external URL is kept without trailing '/', as the paths put after it begin with one. */
static void copy_url(char *out, const char *value)
{
    size_t n = strlen(value);
    while (n > 0 && value[n - 1] == '/')
        n--;
    memcpy(out, value, n);
    out[n] = '\0';
}

/* Set one setting from text, whichever source it came from; a refused value leaves the field
 * as it was and says which setting refused what. */
static int setting_apply(config *c, const setting *s, const char *value)
{
    char *field = (char *)c + s->offset;
    long long number = 0;
    int ok = 0;
    switch (s->type) {
    case SETTING_TEXT:
        if ((ok = strlen(value) < s->size && (!s->valid || s->valid(value))))
            memcpy(field, value, strlen(value) + 1);
        break;
    case SETTING_URL:
        if ((ok = strlen(value) < s->size && is_http_url(value)))
            copy_url(field, value);
        break;
    case SETTING_INT:
        ok = parse_int((int *)field, value, s->min, s->max) == REG_OK;
        break;
    case SETTING_BOOL:
        ok = parse_bool((int *)field, value) == REG_OK;
        break;
    case SETTING_DURATION:
        if ((ok = (number = config_parse_duration(value)) >= 0))
            *(long long *)field = number;
        break;
    case SETTING_SIZE:
        if ((ok = (number = config_parse_size(value)) > 0))
            *(long long *)field = number;
        break;
    }
    return ok ? REG_OK
              : reg_error_set(REG_EINVALID, s->refusal ? s->refusal : REFUSED_VALUE, s->name,
                              value);
}

static const setting *setting_find(const char *name)
{
    for (size_t i = 0; i < SETTING_COUNT; i++)
        if (!strcmp(settings[i].name, name))
            return &settings[i];
    return NULL;
}

/* A JSON value as a flag would give it: strings as they are, integers in decimal, booleans as
 * true/false; anything else as "", which every setting that needs a value refuses. */
static const char *json_as_text(char *buf, size_t size, const json_t *value)
{
    if (json_is_string(value))
        return json_string_value(value);
    if (json_is_boolean(value))
        return json_is_true(value) ? "true" : "false";
    buf[0] = '\0';
    if (json_is_integer(value))
        snprintf(buf, size, "%lld", (long long)json_integer_value(value));
    return buf;
}

static int load_file(config *c, const char *path)
{
    json_error_t jerr;
    json_t *root = NULL;
    json_t *value = NULL;
    const char *key = NULL;
    int err = 0;
    if (!(root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr)))
        return reg_error_set(REG_EINVALID, "config file %s: %s (line %d)", path, jerr.text,
                             jerr.line);
    if (!json_is_object(root)) {
        err = reg_error_set(REG_EINVALID, "config file %s: expected a JSON object", path);
        goto done;
    }
    json_object_foreach(root, key, value)
    {
        const setting *s = setting_find(key);
        char number[32];
        if (!s) {
            err = reg_error_set(REG_EINVALID, "unknown setting \"%s\"", key);
            goto done;
        }
        if ((err = setting_apply(c, s, json_as_text(number, sizeof(number), value))) < 0)
            goto done;
    }
done:
    json_decref(root);
    return err;
}

/* OCIREG_ and the name in upper case, '-' as '_': "gc-interval" -> OCIREG_GC_INTERVAL. */
static void setting_env_name(char *out, size_t size, const char *name)
{
    size_t n = (size_t)snprintf(out, size, "OCIREG_");
    for (; *name && n + 1 < size; name++)
        out[n++] = *name == '-' ? '_' : (char)toupper((unsigned char)*name);
    out[n] = '\0';
}

static int load_env(config *c)
{
    int err = 0;
    for (size_t i = 0; i < SETTING_COUNT && err == 0; i++) {
        char var[64];
        setting_env_name(var, sizeof(var), settings[i].name);
        const char *value = getenv(var);
        if (value)
            err = setting_apply(c, &settings[i], value);
    }
    return err;
}

/* "--listen HOST:PORT", "--access-log BOOL", "--auth[=BOOL]". */
static void setting_flag(char *out, size_t size, const setting *s)
{
    if (s->type == SETTING_BOOL)
        snprintf(out, size, "--%s%s", s->name, s->value_optional ? "[=BOOL]" : " BOOL");
    else
        snprintf(out, size, "--%s %s", s->name, s->metavar);
}

/* The flag, the meaning (its continuation lines lined up under it), then bounds and default,
 * on a line of their own when the last one would grow past HELP_WIDTH. */
static void setting_print_help(const setting *s)
{
    char flag[128], tail[128];
    const char *last_line = strrchr(s->help, '\n');
    size_t last_len = strlen(last_line ? last_line + 1 : s->help);
    setting_flag(flag, sizeof(flag), s);
    if (s->type == SETTING_INT)
        snprintf(tail, sizeof(tail), "(%d..%d, default: %lld)", s->min, s->max, s->number);
    else if (s->type == SETTING_BOOL)
        snprintf(tail, sizeof(tail), "(default: %s)", s->number ? "true" : "false");
    else if (s->type == SETTING_DURATION)
        snprintf(tail, sizeof(tail), "(default: %lld)", s->number);
    else if (s->type == SETTING_SIZE) {
        char size[32];
        format_size(size, sizeof(size), s->number);
        snprintf(tail, sizeof(tail), "(default: %s)", size);
    } else
        snprintf(tail, sizeof(tail), "(default: %s)", s->text ? s->text : s->shown);
    printf("  %-*s", HELP_COLUMN - 2, flag);
    if (strlen(flag) >= HELP_COLUMN - 2)
        printf("\n%*s", HELP_COLUMN, "");
    for (const char *p = s->help; *p; p++) {
        putchar(*p);
        if (*p == '\n')
            printf("%*s", HELP_COLUMN, "");
    }
    if (HELP_COLUMN + last_len + 1 + strlen(tail) > HELP_WIDTH)
        printf("\n%*s%s\n", HELP_COLUMN, "", tail);
    else
        printf(" %s\n", tail);
}

/* The signals, with the settings SIGHUP applies (those marked `reloads` in the table). */
static void print_signals(void)
{
    size_t col = 0;
    printf("\nSignals:\n"
           "  SIGTERM, SIGINT  stop accepting, let requests in flight finish (--drain-timeout)\n"
           "  SIGHUP           reload: the TLS certificate and key, the token signing keys\n"
           "                   (after `ocireg key rotate`), and these settings:\n"
           "                  ");
    col = HELP_COLUMN - 12;
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        if (!settings[i].reloads)
            continue;
        size_t len = strlen(settings[i].name) + 3;
        if (col + len > HELP_WIDTH - 8) {
            printf("\n                  ");
            col = HELP_COLUMN - 12;
        }
        printf(" --%s", settings[i].name);
        col += len;
    }
    printf(".\n                   Other changed settings are named in the log: they need a "
           "restart.\n");
}

void config_print_serve_help(const char *prog)
{
    printf("Usage: %s serve [OPTIONS]\n\n"
           "Serve the OCI Distribution API from a data folder.\n\n"
           "Settings: each is a flag --NAME, an environment variable OCIREG_NAME (upper case,\n"
           "'_' for '-') or a key \"NAME\" in the JSON file of --config; flags beat the\n"
           "environment, which beats the file. BOOL is true/false, on/off, yes/no or 1/0;\n"
           "a DURATION is seconds, or a number followed by s, m, h or d; a SIZE is bytes,\n"
           "or a number followed by K, M, G or T (powers of 1024).\n",
           prog);
    for (size_t i = 0; i < SETTING_COUNT; i++)
        setting_print_help(&settings[i]);
    printf("\nOther options:\n"
           "  %-*sJSON file of settings (or OCIREG_CONFIG), e.g.\n"
           "%*s{\"listen\": \"127.0.0.1:5000\", \"threads\": 4}\n"
           "  %-*sshow this help\n",
           HELP_COLUMN - 2, "--config FILE", HELP_COLUMN, "", HELP_COLUMN - 2, "-h, --help");
    print_signals();
}

/* getopt_long's table: settings[i] is option i, then --config and --help. */
static void options_build(struct option *out)
{
    for (size_t i = 0; i < SETTING_COUNT; i++)
        out[i] = (struct option){settings[i].name,
                                 settings[i].value_optional ? optional_argument : required_argument,
                                 NULL, 0};
    out[SETTING_COUNT] = (struct option){"config", required_argument, NULL, 'c'};
    out[SETTING_COUNT + 1] = (struct option){"help", no_argument, NULL, 'h'};
    out[SETTING_COUNT + 2] = (struct option){NULL, 0, NULL, 0};
}

int config_load_serve(config *c, int argc, char **argv)
{
    struct option opts[SETTING_COUNT + 3];
    const char *file = getenv("OCIREG_CONFIG");
    int idx = 0, ch = 0, err = 0;
    options_build(opts);
    /* First pass: only --config and --help, so the file sits below env and flags. */
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
        if (ch == 'c')
            file = optarg;
        else if (ch == 'h')
            return 1;
        else if (ch == '?')
            return reg_error_set(REG_EINVALID, "unknown or incomplete option \"%s\"",
                                 argv[optind - 1]);
    }
    if (optind < argc)
        return reg_error_set(REG_EINVALID, "unexpected argument \"%s\"", argv[optind]);
    if ((file && (err = load_file(c, file)) < 0) || (err = load_env(c)) < 0)
        return err;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, &idx)) != -1 && err == 0)
        if (ch == 0)
            err = setting_apply(c, &settings[idx], optarg ? optarg : "true");
    return err;
}
