/* config.h - settings of `ocireg serve`, from (lowest to highest precedence) built-in
 * defaults, a JSON config file, OCIREG_* environment variables and command-line flags. */
#ifndef OCIREG_CONFIG_H
#define OCIREG_CONFIG_H

#include <limits.h>
#include <stddef.h>

typedef struct config {
    char listen[288]; /* HOST:PORT */
    char data_dir[PATH_MAX];
    char storage[1024];     /* "" = DATA/blobs; s3://BUCKET?endpoint=URL&region=R */
    char index[1024];       /* "" = DATA/meta.db; postgres://URI or a SQLite file */
    int blob_redirect;      /* S3: answer blob GETs with a redirect to a presigned URL */
    int inline_max;         /* blobs up to this many bytes are kept in the index; 0: none */
    int threads;            /* server threads; 0 = automatic */
    int access_log;         /* 1: one JSON line per request on stdout */
    int log_level;          /* 0 error .. 3 debug */
    int connection_timeout; /* seconds of inactivity before a connection is closed */
    int body_timeout;       /* seconds a request body may take, before min-rate credit */
    int body_min_rate;      /* bytes per second that extend body_timeout by a second */
    int max_connections;
    int upload_expiry;         /* seconds an idle upload session is kept */
    int auth;                  /* 1: require tokens even with no users */
    int insecure_no_auth;      /* 1: allow a non-loopback bind without auth */
    int token_ttl;             /* seconds an access token is valid */
    int console_session_ttl;   /* seconds a web console session lasts */
    char external_url[256];    /* e.g. https://registry.example.com, for realm and Location */
    char trusted_proxies[512]; /* comma-separated addresses allowed to set X-Forwarded-* */
    char tls_cert[PATH_MAX];
    char tls_key[PATH_MAX];
    int create_on_push;      /* 1: a push creates its repository (as ECR's templates) */
    long long gc_interval;   /* seconds between scheduled gc runs; 0 = none */
    long long max_blob_size; /* bytes: larger pushes (and import, restore blobs) are refused */
    char registry_id[13];    /* ECR: the 12-digit account in every ARN and response */
    char region[33];         /* the AWS region events name (their envelope, resource ARNs) */
    int outbox_workers;      /* threads delivering the outbox (webhooks, replication) */
    int outbox_max_attempts; /* attempts before an entry is parked */
    int outbox_retry_ms;     /* wait after a first failed attempt, doubled after each */
    int outbox_target_concurrency; /* deliveries to one webhook or destination at once */
    int outbox_lease_ms;           /* a delivery's lease; a replication extends it as it copies */
    int webhook_timeout_ms;        /* one webhook POST, connection included */
    int reuse_port;          /* 1: SO_REUSEPORT, so that a new server can start beside this one */
    long long drain_timeout; /* seconds requests in flight get to finish at SIGTERM */
    int upstream_stall_timeout; /* pull-through: seconds without a byte that cut a fetch */
    int upstream_min_rate;      /* pull-through: bytes per second a blob fill must average */
} config;

/* ECR's maximum layer size (its "Layer size" quota, 52,000 MiB): whatever ECR takes, ocireg
 * takes too, and the default of import's and restore's --max-blob-size as well. */
#define CONFIG_DEFAULT_MAX_BLOB_SIZE (52000LL << 20)

/* Every setting at its built-in default. */
void config_defaults(config *c);

/* "90", "90s", "15m", "1h", "7d" -> seconds; -1 if malformed. */
long long config_parse_duration(const char *text);
/* "1048576", "512K", "100M", "10G", "1T" (powers of 1024) -> bytes, at least 1; -1 if
 * malformed or beyond 2^62. */
long long config_parse_size(const char *text);

/* Apply, over what `c` holds, the JSON file (--config FILE or OCIREG_CONFIG), then the
 * OCIREG_* environment, then the flags of `serve`. Returns 0, 1 when --help was asked for, or
 * REG_EINVALID with a message naming the setting or option in reg_error_last(). */
int config_load_serve(config *c, int argc, char **argv);

/* SIGHUP: store into `live` (atomically, as server threads read it) every setting of `fresh`
 * that may change while serving (log level, access log, body limits, upload expiry, token
 * lifetime, gc interval, create-on-push, max blob size, drain timeout); for every other
 * setting whose value differs, put its name in restart_out (up to max). Returns how many
 * settings need a restart. */
int config_reload(config *live, const config *fresh, const char **restart_out, int max);

/* `ocireg serve --help` on stdout: every setting with its value, bounds, default and meaning. */
void config_print_serve_help(const char *prog);

#endif
