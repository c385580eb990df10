/* log.c - text diagnostics and JSON access-log lines (see log.h). Strings from clients are
 * JSON-escaped by jansson, so a request path cannot forge log lines. */
#include "server/http/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* One line, one write: stderr is unbuffered, and written piece by piece a line could be split
 * by an access-log line when both streams go to the same file. Longer lines are cut. */
void log_msg(log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char line[4096];
    va_list ap;
    if (level > current_level)
        return;
    format_time(line, 40);
    size_t n = strlen(line);
    n += (size_t)snprintf(line + n, sizeof(line) - n, " %s ", names[level]);
    va_start(ap, fmt);
    int k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (k > 0)
        n = n + (size_t)k < sizeof(line) - 1 ? n + (size_t)k : sizeof(line) - 1;
    line[n++] = '\n';
    fwrite(line, 1, n, stderr);
}

/* Durations are kept to 0.1 microsecond and printed with at most 15 significant digits, so a
 * line reads "duration_ms":0.0795 rather than jansson's default 0.079518000000000005. */
#define DURATION_STEPS_PER_MS 10000.0
#define LOG_REAL_PRECISION    15

void log_access(const access_entry *e)
{
    char when[40];
    format_time(when, sizeof(when));
    double ms =
        (double)(int64_t)(e->duration_ms * DURATION_STEPS_PER_MS + 0.5) / DURATION_STEPS_PER_MS;
    json_t *line = json_pack(
        "{s:s, s:s?, s:s, s:s?, s:s?, s:s, s:s, s:i, s:I, s:I, s:f}", "time", when, "request_id",
        e->request_id, "client", e->client ? e->client : "", "principal", e->principal, "auth",
        e->auth, "method", e->method, "path", e->path, "status", (int)e->status, "bytes_in",
        (json_int_t)e->bytes_in, "bytes_out", (json_int_t)e->bytes_out, "duration_ms", ms);
    char *text =
        line ? json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(LOG_REAL_PRECISION)) : NULL;
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
