/* log.h - diagnostics on stderr and one JSON access-log line per request on stdout. */
#ifndef OCIREG_LOG_H
#define OCIREG_LOG_H

#include <stdint.h>

typedef enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 } log_level;

void log_set_level(log_level level);
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct access_entry {
    const char *client;
    const char *request_id;
    const char *principal; /* NULL when anonymous */
    const char *auth;      /* "allowed", "denied" or NULL when auth is off */
    const char *method;
    const char *path;
    unsigned status;
    uint64_t bytes_in;
    uint64_t bytes_out;
    double duration_ms;
} access_entry;

void log_access(const access_entry *e);

#endif
