/* log.c - text diagnostics and JSON access-log lines (see log.h). Strings from clients are
 * JSON-escaped by jansson, so a request path cannot forge log lines. */
#include "server/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static log_level current_level = LOG_INFO;

void log_set_level(log_level level)
{
    current_level = level;
}

static void format_time(char *out, size_t n)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t len = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + len, n - len, ".%03ldZ", ts.tv_nsec / 1000000);
}

void log_msg(log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char when[40];
    va_list ap;
    if (level > current_level)
        return;
    format_time(when, sizeof(when));
    flockfile(stderr);
    fprintf(stderr, "%s %s ", when, names[level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    funlockfile(stderr);
}

void log_access(const access_entry *e)
{
    char when[40];
    format_time(when, sizeof(when));
    json_t *line = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:s, s:i, s:I, s:I, s:f}", "time", when,
                             "client", e->client ? e->client : "", "principal", e->principal,
                             "auth", e->auth,
                             "method", e->method, "path", e->path, "status", (int)e->status,
                             "bytes_in", (json_int_t)e->bytes_in, "bytes_out",
                             (json_int_t)e->bytes_out, "duration_ms", e->duration_ms);
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    if (text) {
        flockfile(stdout);
        fputs(text, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        funlockfile(stdout);
    }
    free(text);
    json_decref(line);
}
