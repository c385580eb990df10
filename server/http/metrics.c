/* metrics.c - request counters and the Prometheus text exposition (see metrics.h). */
#include "server/http/metrics.h"
#include "server/http/errors.h"
#include "storage/base/buf.h"
#include "storage/index/index_gc.h"
#include "storage/index/index_outbox.h"
#include "storage/outbox.h"
#include "storage/pullthrough.h"
#include "storage/base/reg_error.h"
#include "storage/blob/readahead.h"
#include "storage/gc.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define ROUTES (RT_CONSOLE + 1)

static const char *const route_names[ROUTES] = {
    [RT_NONE] = "none",         [RT_BASE] = "base",           [RT_CATALOG] = "catalog",
    [RT_BLOB] = "blob",         [RT_UPLOAD_START] = "upload", [RT_UPLOAD] = "upload_session",
    [RT_MANIFEST] = "manifest", [RT_TAGS] = "tags",           [RT_REFERRERS] = "referrers",
    [RT_HEALTH] = "healthz",    [RT_READY] = "readyz",        [RT_TOKEN] = "token",
    [RT_ADMIN_GC] = "admin_gc", [RT_METRICS] = "metrics",     [RT_ECR] = "ecr",
    [RT_CONSOLE] = "console",
};

static const char *const methods[] = {"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OTHER"};
#define METHODS (sizeof(methods) / sizeof(methods[0]))

static const unsigned statuses[] = {200, 201, 202, 204, 206, 400, 401, 403, 404, 405,
                                    409, 413, 416, 429, 499, 500, 503, 507, 0};
#define STATUSES (sizeof(statuses) / sizeof(statuses[0]))

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static uint64_t requests[ROUTES][METHODS][STATUSES];
static uint64_t latency[ROUTES][BUCKETS + 1];
static uint64_t latency_sum_us[ROUTES];
static uint64_t bytes_in, bytes_out;

static size_t method_index(const char *m)
{
    for (size_t i = 0; i + 1 < METHODS; i++)
        if (!strcmp(m, methods[i]))
            return i;
    return METHODS - 1;
}

static size_t status_index(unsigned s)
{
    for (size_t i = 0; i + 1 < STATUSES; i++)
        if (statuses[i] == s)
            return i;
    return STATUSES - 1;
}

#define ADD(var, n) __atomic_fetch_add(&(var), (n), __ATOMIC_RELAXED)
#define LOAD(var)   __atomic_load_n(&(var), __ATOMIC_RELAXED)

void metrics_record(const request *req, unsigned status, double seconds)
{
    size_t r = req->route < ROUTES ? (size_t)req->route : RT_NONE;
    size_t b = 0;
    while (b < BUCKETS && seconds > buckets[b])
        b++;
    ADD(requests[r][method_index(req->method)][status_index(status)], 1);
    ADD(latency[r][b], 1);
    ADD(latency_sum_us[r], (uint64_t)(seconds * 1e6));
    ADD(bytes_in, req->bytes_in);
    ADD(bytes_out, req->bytes_out);
}

static void emit(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(buf *b, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void emit_requests(buf *b)
{
    emit(b, "# HELP ocireg_http_requests_total HTTP requests by method, route and status.\n"
            "# TYPE ocireg_http_requests_total counter\n");
    for (size_t r = 0; r < ROUTES; r++)
        for (size_t m = 0; m < METHODS; m++)
            for (size_t s = 0; s < STATUSES; s++) {
                uint64_t v = LOAD(requests[r][m][s]);
                if (!v)
                    continue;
                char code[8];
                snprintf(code, sizeof(code), "%u", statuses[s]);
                emit(b,
                     "ocireg_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %llu\n",
                     methods[m], route_names[r], statuses[s] ? code : "other",
                     (unsigned long long)v);
            }
}

static void emit_latency(buf *b)
{
    emit(b, "# HELP ocireg_http_request_duration_seconds Request latency by route.\n"
            "# TYPE ocireg_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r < ROUTES; r++) {
        uint64_t cumulative = 0;
        for (size_t i = 0; i <= BUCKETS; i++) {
            cumulative += LOAD(latency[r][i]);
            if (i < BUCKETS)
                emit(b,
                     "ocireg_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                     route_names[r], buckets[i], (unsigned long long)cumulative);
        }
        /* Every series complete, also a route without traffic (all zero). */
        emit(b,
             "ocireg_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
             "ocireg_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
             "ocireg_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
             route_names[r], (unsigned long long)cumulative, route_names[r],
             (double)LOAD(latency_sum_us[r]) / 1e6, route_names[r], (unsigned long long)cumulative);
    }
}

static long resident_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * sysconf(_SC_PAGESIZE);
}

/* How many write transactions shared each durable COMMIT (index_commit's group commit). */
static void emit_commits(buf *b, index_writer *w)
{
    uint64_t commits = 0, transactions = 0;
    if (w)
        index_writer_counts(&commits, &transactions, w);
    emit(b,
         "# HELP ocireg_index_commits_total Durable index COMMITs (each one fsync).\n"
         "# TYPE ocireg_index_commits_total counter\n"
         "ocireg_index_commits_total %llu\n"
         "# HELP ocireg_index_write_transactions_total Index write transactions ended by a commit, "
         "several per COMMIT when writers meet.\n"
         "# TYPE ocireg_index_write_transactions_total counter\n"
         "ocireg_index_write_transactions_total %llu\n"
         "# HELP ocireg_index_checkpoints_total WAL checkpoints the server ran (SQLite): "
         "on its own thread, and in a commit that found the WAL past 16 MiB.\n"
         "# TYPE ocireg_index_checkpoints_total counter\n"
         "ocireg_index_checkpoints_total %llu\n",
         (unsigned long long)commits, (unsigned long long)transactions,
         (unsigned long long)(w ? index_writer_checkpoints(w) : 0));
}

/* The file system of the data folder (its SQLite index, upload spool, local blobs): what the
 * disk-full alert watches. Nothing is written when statvfs fails, so the alert sees no data. */
static void emit_disk(buf *b, const char *data_dir)
{
    struct statvfs fs;
    if (statvfs(data_dir, &fs) != 0)
        return;
    emit(b,
         "# HELP ocireg_data_free_bytes Bytes available to ocireg on the data folder's "
         "file system.\n"
         "# TYPE ocireg_data_free_bytes gauge\n"
         "ocireg_data_free_bytes %llu\n"
         "# HELP ocireg_data_size_bytes Size of the data folder's file system.\n"
         "# TYPE ocireg_data_size_bytes gauge\n"
         "ocireg_data_size_bytes %llu\n",
         (unsigned long long)fs.f_bavail * fs.f_frsize,
         (unsigned long long)fs.f_blocks * fs.f_frsize);
}

/* gc health: the last successful run of any process on this index (CLI, admin, scheduled,
 * other instances), this process's failed runs, and the schedule (0: none). */
static void emit_gc_health(buf *b, request *req, int64_t last_finished)
{
    emit(b,
         "# HELP ocireg_gc_last_success_timestamp_seconds When the last successful gc finished "
         "(Unix time; 0: never).\n"
         "# TYPE ocireg_gc_last_success_timestamp_seconds gauge\n"
         "ocireg_gc_last_success_timestamp_seconds %lld\n"
         "# HELP ocireg_gc_failures_total Garbage collections of this process that failed.\n"
         "# TYPE ocireg_gc_failures_total counter\n"
         "ocireg_gc_failures_total %llu\n"
         "# HELP ocireg_gc_interval_seconds The scheduled gc interval (0: none).\n"
         "# TYPE ocireg_gc_interval_seconds gauge\n"
         "ocireg_gc_interval_seconds %lld\n",
         (long long)last_finished, (unsigned long long)gc_failed_runs(), req->srv->cfg.gc_interval);
}

static void emit_state(buf *b, request *req, index_db *ix)
{
    int64_t storage = 0, runs = 0, blobs = 0, freed = 0, last_gc = 0;
    index_storage_bytes(&storage, ix);
    index_gc_summary(&runs, &blobs, &freed, &last_gc, ix);
    emit_gc_health(b, req, last_gc);
    emit_disk(b, req->srv->st->data_dir);
    emit(b,
         "# HELP ocireg_http_bytes_received_total Request body bytes.\n"
         "# TYPE ocireg_http_bytes_received_total counter\n"
         "ocireg_http_bytes_received_total %llu\n"
         "# HELP ocireg_http_bytes_sent_total Response body bytes.\n"
         "# TYPE ocireg_http_bytes_sent_total counter\n"
         "ocireg_http_bytes_sent_total %llu\n",
         (unsigned long long)LOAD(bytes_in), (unsigned long long)LOAD(bytes_out));
    emit(b,
         "# HELP ocireg_blob_readaheads_total Pulls of a large local blob not all in the page "
         "cache, read into it ahead of the sender.\n"
         "# TYPE ocireg_blob_readaheads_total counter\n"
         "ocireg_blob_readaheads_total %llu\n",
         (unsigned long long)blob_readaheads_started());
    emit(b,
         "# HELP ocireg_uploads_in_progress Open blob upload sessions.\n"
         "# TYPE ocireg_uploads_in_progress gauge\n"
         "ocireg_uploads_in_progress %d\n",
         upload_count(req->srv->st->uploads));
    emit(b,
         "# HELP ocireg_storage_bytes Total size of stored blobs.\n"
         "# TYPE ocireg_storage_bytes gauge\n"
         "ocireg_storage_bytes %lld\n"
         "# HELP ocireg_gc_runs_total Completed garbage collections.\n"
         "# TYPE ocireg_gc_runs_total counter\n"
         "ocireg_gc_runs_total %lld\n"
         "# HELP ocireg_gc_blobs_deleted_total Blobs deleted by garbage collection.\n"
         "# TYPE ocireg_gc_blobs_deleted_total counter\n"
         "ocireg_gc_blobs_deleted_total %lld\n"
         "# HELP ocireg_gc_bytes_freed_total Bytes freed by garbage collection.\n"
         "# TYPE ocireg_gc_bytes_freed_total counter\n"
         "ocireg_gc_bytes_freed_total %lld\n"
         "# HELP ocireg_resident_memory_bytes Resident memory of the server.\n"
         "# TYPE ocireg_resident_memory_bytes gauge\n"
         "ocireg_resident_memory_bytes %ld\n",
         (long long)storage, (long long)runs, (long long)blobs, (long long)freed, resident_bytes());
}

/* The outbox: what waits (from the index, every instance's) and this process's deliveries. */
static void emit_outbox(buf *b, index_db *ix)
{
    int64_t depth = 0, oldest = 0;
    uint64_t delivered = 0, failed = 0;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    index_outbox_stats(&depth, &oldest, ix);
    outbox_counts(&delivered, &failed);
    double age = oldest ? (double)now.tv_sec + now.tv_nsec / 1e9 - (double)oldest / 1e3 : 0;
    emit(b,
         "# HELP ocireg_outbox_depth Outbox entries waiting for delivery (webhook events, "
         "replications).\n"
         "# TYPE ocireg_outbox_depth gauge\n"
         "ocireg_outbox_depth %lld\n"
         "# HELP ocireg_outbox_oldest_age_seconds Age of the oldest waiting entry.\n"
         "# TYPE ocireg_outbox_oldest_age_seconds gauge\n"
         "ocireg_outbox_oldest_age_seconds %.3f\n"
         "# HELP ocireg_outbox_deliveries_total Entries delivered by this instance.\n"
         "# TYPE ocireg_outbox_deliveries_total counter\n"
         "ocireg_outbox_deliveries_total %llu\n"
         "# HELP ocireg_outbox_failures_total Failed delivery attempts of this instance.\n"
         "# TYPE ocireg_outbox_failures_total counter\n"
         "ocireg_outbox_failures_total %llu\n",
         (long long)depth, age > 0 ? age : 0.0, (unsigned long long)delivered,
         (unsigned long long)failed);
}

/* The pull-through cache's counters (all zero where there is none). */
static void emit_pullthrough(buf *b, struct pullthrough *pt)
{
    static const struct {
        const char *name, *help;
        size_t offset;
    } counters[] = {
        {"manifest_fills", "Manifests fetched from upstreams and stored.",
         offsetof(pullthrough_stats, manifest_fills)},
        {"blob_fills", "Blobs fetched from upstreams, verified and stored.",
         offsetof(pullthrough_stats, blob_fills)},
        {"blob_fill_bytes", "Bytes of those blobs.", offsetof(pullthrough_stats, blob_bytes)},
        {"upstream_failures", "Upstream fetches and tag checks that failed.",
         offsetof(pullthrough_stats, upstream_failures)},
        {"stale_served", "Cached tags served after their upstream check failed.",
         offsetof(pullthrough_stats, stale_served)},
        {"joined", "Requests served by a fetch another request started.",
         offsetof(pullthrough_stats, joined)},
    };
    pullthrough_stats s;
    memset(&s, 0, sizeof(s));
    if (pt)
        pullthrough_stats_get(&s, pt);
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
        emit(b,
             "# HELP ocireg_pullthrough_%s_total %s\n# TYPE ocireg_pullthrough_%s_total counter\n"
             "ocireg_pullthrough_%s_total %llu\n",
             counters[i].name, counters[i].help, counters[i].name, counters[i].name,
             (unsigned long long)*(const uint64_t *)((const char *)&s + counters[i].offset));
}

void handle_metrics(request *req)
{
    buf b;
    index_db *ix = index_or_reply(req);
    if (!ix)
        return;
    buf_init(&b, 1 << 20);
    emit_requests(&b);
    emit_latency(&b);
    emit_state(&b, req, ix);
    emit_commits(&b, req->srv->writer);
    emit_outbox(&b, ix);
    emit_pullthrough(&b, req->srv->pullthrough);
    struct MHD_Response *r = response_from_copy(b.data ? b.data : "", b.len);
    req->bytes_out = b.len;
    buf_free(&b);
    response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
    request_send(req, 200, r);
}
