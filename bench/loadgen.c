/* loadgen.c - the benchmark's own HTTP/1.1 load tool for multi-request registry flows that wrk
 * cannot drive: large blob push (monolithic or chunked), blob pull by N clients, and small
 * image push (config + layer + manifest) by N clients. Plain blocking keep-alive sockets, one
 * thread per client. Every loop is bounded by a count and a deadline; every socket has send and
 * receive timeouts. Prints one JSON line on stdout; diagnostics go to stderr.
 *
 * Build: cc -O2 -pthread -o loadgen bench/loadgen.c -lcrypto
 *
 * Usage:
 *   loadgen pushblob   --port P [--host H] --repo R (--size BYTES | --file F) [--chunk BYTES]
 *                      [--nonce N] [--deadline SECS]
 *   loadgen pull       --port P [--host H] --path URLPATH [--clients C] [--count K]
 *                      [--deadline SECS]
 *   loadgen pushimages --port P [--host H] --repo R --images N [--clients C] [--nonce N]
 *                      [--prefix TAGPREFIX] [--layer-size BYTES] [--deadline SECS]
 *   loadgen rate       --port P [--host H] --path URLPATH [--method GET|HEAD]
 *                      [--header "Name: value"] [--connections C] [--threads T]
 *                      [--duration SECS]
 *
 * `rate` is a closed-loop keep-alive request loop like wrk's (each connection sends its next
 * request when the previous response is complete), with epoll, one loop per thread. It exists
 * because wrk 4.1 waits forever for the body of a HEAD response that carries Content-Length.
 * It prints requests/s, latency p50/p99 (from request write to end of response) and errors.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RBUF_SIZE       (256 * 1024)
#define IO_TIMEOUT_SECS 60

/* ---------- options ---------- */

static struct {
    const char *host;
    int port;
    const char *repo;
    const char *path;
    const char *file;
    const char *prefix;
    long long size;
    long long chunk;
    long long nonce;
    int clients;
    long long count;
    long long images;
    long long layer_size;
    double deadline;
    const char *method;
    const char *header;
    int connections;
    int threads;
    double duration;
} opt = {.method = "GET",
         .connections = 64,
         .threads = 2,
         .duration = 5,
         .host = "127.0.0.1",
         .clients = 1,
         .count = 1,
         .prefix = "img",
         .layer_size = 1024,
         .deadline = 120};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ---------- sha256 ---------- */

static void sha256_hex(const void *data, size_t len, char out[72])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL))
        die("sha256 failed");
    strcpy(out, "sha256:");
    for (int i = 0; i < 32; i++)
        sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

/* ---------- deterministic incompressible bytes ---------- */

static void fill_pattern(unsigned char *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(buf + i, &x, 8);
    }
    for (; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (unsigned char)x;
    }
}

/* ---------- HTTP/1.1 client over one keep-alive connection ---------- */

typedef struct {
    int fd;
    char *rbuf;
    size_t rlen, rpos;
} conn;

typedef struct {
    int status;
    long long clen;
    int chunked;
    int close;
    long long body_bytes;
    char location[4096];
    char errbody[512];
} resp;

static int conn_open(conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1)
        die("bad host %s (IPv4 literal expected)", opt.host);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct timeval tv = {.tv_sec = IO_TIMEOUT_SECS};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    if (!c->rbuf)
        c->rbuf = malloc(RBUF_SIZE);
    c->rlen = c->rpos = 0;
    return 0;
}

static void conn_close(conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->rlen = c->rpos = 0;
}

static int send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len > (1 << 30) ? (1 << 30) : len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Refill the read buffer (compacting it); returns bytes read, 0 on EOF, -1 on error. */
static ssize_t fill(conn *c)
{
    if (c->rpos > 0) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    if (c->rlen >= RBUF_SIZE)
        return -1;
    for (;;) {
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, RBUF_SIZE - c->rlen, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0)
            c->rlen += (size_t)n;
        return n;
    }
}

/* Read one CRLF-terminated line into out (without CRLF). */
static int read_line(conn *c, char *out, size_t outsz)
{
    for (;;) {
        char *s = c->rbuf + c->rpos;
        char *e = memmem(s, c->rlen - c->rpos, "\r\n", 2);
        if (e) {
            size_t n = (size_t)(e - s);
            if (n >= outsz)
                n = outsz - 1;
            memcpy(out, s, n);
            out[n] = 0;
            c->rpos += (size_t)(e - s) + 2;
            return 0;
        }
        if (fill(c) <= 0)
            return -1;
    }
}

/* Consume n body bytes, keeping the first ones in r->errbody for diagnostics. */
static int read_body_bytes(conn *c, resp *r, long long n)
{
    while (n > 0) {
        if (c->rpos == c->rlen) {
            c->rpos = c->rlen = 0;
            if (fill(c) <= 0)
                return -1;
        }
        size_t avail = c->rlen - c->rpos;
        size_t take = (long long)avail < n ? avail : (size_t)n;
        size_t have = strlen(r->errbody);
        if (have + 1 < sizeof(r->errbody)) {
            size_t k = take < sizeof(r->errbody) - 1 - have ? take : sizeof(r->errbody) - 1 - have;
            memcpy(r->errbody + have, c->rbuf + c->rpos, k);
            r->errbody[have + k] = 0;
        }
        c->rpos += take;
        n -= (long long)take;
        r->body_bytes += (long long)take;
    }
    return 0;
}

static void strip_location(char *loc)
{
    /* Absolute URL -> path: drop "scheme://host[:port]". */
    char *p = strstr(loc, "://");
    if (p) {
        char *slash = strchr(p + 3, '/');
        if (slash)
            memmove(loc, slash, strlen(slash) + 1);
    }
}

static int read_response(conn *c, resp *r, int head)
{
    char line[8192];
    r->status = 0;
    r->clen = -1;
    r->chunked = 0;
    r->close = 0;
    r->body_bytes = 0;
    r->location[0] = 0;
    r->errbody[0] = 0;
    if (read_line(c, line, sizeof(line)) < 0)
        return -1;
    if (strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12)
        return -1;
    r->status = atoi(line + 9);
    if (line[7] == '0')
        r->close = 1;
    for (;;) {
        if (read_line(c, line, sizeof(line)) < 0)
            return -1;
        if (!line[0])
            break;
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = 0;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (!strcasecmp(line, "Content-Length"))
            r->clen = atoll(v);
        else if (!strcasecmp(line, "Transfer-Encoding") && strcasestr(v, "chunked"))
            r->chunked = 1;
        else if (!strcasecmp(line, "Connection") && strcasestr(v, "close"))
            r->close = 1;
        else if (!strcasecmp(line, "Location")) {
            snprintf(r->location, sizeof(r->location), "%s", v);
            strip_location(r->location);
        }
    }
    if (head || r->status == 204 || r->status == 304 || r->status / 100 == 1)
        return 0;
    if (r->chunked) {
        for (;;) {
            if (read_line(c, line, sizeof(line)) < 0)
                return -1;
            long long n = strtoll(line, NULL, 16);
            if (n == 0) {
                do { /* trailers */
                    if (read_line(c, line, sizeof(line)) < 0)
                        return -1;
                } while (line[0]);
                return 0;
            }
            if (read_body_bytes(c, r, n) < 0 || read_line(c, line, sizeof(line)) < 0)
                return -1;
        }
    }
    if (r->clen >= 0)
        return read_body_bytes(c, r, r->clen);
    /* No length: body runs to EOF. */
    r->close = 1;
    for (;;) {
        c->rpos = c->rlen = 0;
        ssize_t n = fill(c);
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        r->body_bytes += n;
    }
}

/* One request; reconnects once if a kept-alive connection turned out to be closed. */
static int request(conn *c, const char *method, const char *path, const char *headers,
                   const void *body, size_t blen, resp *r)
{
    char head[8192];
    int head_only = !strcmp(method, "HEAD");
    int n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: ocireg-bench-loadgen\r\n"
                     "%sContent-Length: %zu\r\n\r\n",
                     method, path, opt.host, opt.port, headers ? headers : "", blen);
    if (n <= 0 || (size_t)n >= sizeof(head))
        return -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        r->status = 0;
        r->errbody[0] = 0;
        if (c->fd < 0 && conn_open(c) < 0)
            return -1;
        int ok = 0;
        /* Small bodies go with the head in one write. */
        if (blen > 0 && blen <= 64 * 1024) {
            char *all = malloc((size_t)n + blen);
            memcpy(all, head, (size_t)n);
            memcpy(all + n, body, blen);
            ok = send_all(c->fd, all, (size_t)n + blen) == 0;
            free(all);
        } else {
            ok = send_all(c->fd, head, (size_t)n) == 0 &&
                 (blen == 0 || send_all(c->fd, body, blen) == 0);
        }
        if (ok && read_response(c, r, head_only) == 0) {
            if (r->close)
                conn_close(c);
            return 0;
        }
        int fresh_fail = (r->status == 0);
        conn_close(c);
        if (!fresh_fail)
            return -1;
    }
    return -1;
}

static void with_digest(char *out, size_t outsz, const char *loc, const char *digest)
{
    snprintf(out, outsz, "%s%cdigest=%s", loc, strchr(loc, '?') ? '&' : '?', digest);
}

/* POST a session then PUT the whole body with ?digest= (two requests, works everywhere). */
static int push_blob_small(conn *c, const char *repo, const void *data, size_t len,
                           const char *digest, char *err, size_t errsz)
{
    char path[8192];
    resp r;
    snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/", repo);
    if (request(c, "POST", path, NULL, NULL, 0, &r) < 0 || r.status != 202 || !r.location[0]) {
        snprintf(err, errsz, "POST upload: status %d %s", r.status, r.errbody);
        return -1;
    }
    with_digest(path, sizeof(path), r.location, digest);
    if (request(c, "PUT", path, "Content-Type: application/octet-stream\r\n", data, len, &r) < 0 ||
        r.status != 201) {
        snprintf(err, errsz, "PUT blob: status %d %s", r.status, r.errbody);
        return -1;
    }
    return 0;
}

/* ---------- pushblob ---------- */

static int cmd_pushblob(void)
{
    unsigned char *data;
    size_t size;
    if (opt.file) {
        int fd = open(opt.file, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
            die("cannot open %s", opt.file);
        size = (size_t)st.st_size;
        data = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (data == MAP_FAILED)
            die("mmap %s failed", opt.file);
        close(fd);
    } else {
        if (opt.size <= 0)
            die("pushblob needs --size or --file");
        size = (size_t)opt.size;
        data = malloc(size);
        if (!data)
            die("out of memory");
        fill_pattern(data, size, (uint64_t)opt.nonce + 1);
    }
    char digest[72];
    sha256_hex(data, size, digest); /* before the clock starts */

    conn c = {.fd = -1};
    resp r;
    char path[8192], hdr[256], err[1024] = "";
    int ok = 0;
    double t0 = now(), deadline = t0 + opt.deadline;
    snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/", opt.repo);
    if (request(&c, "POST", path, NULL, NULL, 0, &r) < 0 || r.status != 202 || !r.location[0]) {
        snprintf(err, sizeof(err), "POST upload: status %d %s", r.status, r.errbody);
        goto out;
    }
    if (opt.chunk <= 0) {
        with_digest(path, sizeof(path), r.location, digest);
        if (request(&c, "PUT", path, "Content-Type: application/octet-stream\r\n", data, size, &r) <
                0 ||
            r.status != 201) {
            snprintf(err, sizeof(err), "PUT monolithic: status %d %s", r.status, r.errbody);
            goto out;
        }
    } else {
        char loc[4096];
        snprintf(loc, sizeof(loc), "%s", r.location);
        for (size_t off = 0; off < size; off += (size_t)opt.chunk) {
            if (now() > deadline) {
                snprintf(err, sizeof(err), "deadline passed at offset %zu", off);
                goto out;
            }
            size_t n = size - off < (size_t)opt.chunk ? size - off : (size_t)opt.chunk;
            snprintf(hdr, sizeof(hdr),
                     "Content-Type: application/octet-stream\r\nContent-Range: %zu-%zu\r\n", off,
                     off + n - 1);
            if (request(&c, "PATCH", loc, hdr, data + off, n, &r) < 0 || r.status != 202) {
                snprintf(err, sizeof(err), "PATCH at %zu: status %d %s", off, r.status, r.errbody);
                goto out;
            }
            if (r.location[0])
                snprintf(loc, sizeof(loc), "%s", r.location);
        }
        with_digest(path, sizeof(path), loc, digest);
        if (request(&c, "PUT", path, NULL, NULL, 0, &r) < 0 || r.status != 201) {
            snprintf(err, sizeof(err), "PUT finish: status %d %s", r.status, r.errbody);
            goto out;
        }
    }
    ok = 1;
out:;
    double secs = now() - t0;
    conn_close(&c);
    if (!ok)
        fprintf(stderr, "loadgen pushblob: %s\n", err);
    printf("{\"bytes\": %zu, \"seconds\": %.6f, \"mib_s\": %.3f, \"digest\": \"%s\", "
           "\"errors\": %d}\n",
           ok ? size : 0, secs, ok ? size / 1048576.0 / secs : 0.0, digest, ok ? 0 : 1);
    return ok ? 0 : 1;
}

/* ---------- pull ---------- */

static pthread_barrier_t start_barrier;
static atomic_llong total_bytes, total_errors, total_done;
static double run_deadline;

static void *pull_thread(void *arg)
{
    (void)arg;
    conn c = {.fd = -1};
    resp r;
    pthread_barrier_wait(&start_barrier);
    for (long long k = 0; k < opt.count && now() < run_deadline; k++) {
        if (request(&c, "GET", opt.path, NULL, NULL, 0, &r) < 0 || r.status != 200 ||
            (r.clen >= 0 && r.body_bytes != r.clen)) {
            if (atomic_fetch_add(&total_errors, 1) == 0)
                fprintf(stderr, "loadgen pull: status %d, %lld of %lld bytes\n", r.status,
                        r.body_bytes, r.clen);
            conn_close(&c);
            continue;
        }
        atomic_fetch_add(&total_bytes, r.body_bytes);
        atomic_fetch_add(&total_done, 1);
    }
    conn_close(&c);
    free(c.rbuf);
    return NULL;
}

/* Start --clients threads running `client`, release them together with the deadline set, and
 * wait for them: the seconds they took. */
static double run_clients(void *(*client)(void *))
{
    pthread_t th[1024];
    if (opt.clients < 1 || opt.clients > 1024)
        die("--clients must be 1..1024");
    pthread_barrier_init(&start_barrier, NULL, (unsigned)opt.clients + 1);
    for (int i = 0; i < opt.clients; i++)
        pthread_create(&th[i], NULL, client, NULL);
    double t0 = now();
    run_deadline = t0 + opt.deadline;
    pthread_barrier_wait(&start_barrier);
    for (int i = 0; i < opt.clients; i++)
        pthread_join(th[i], NULL);
    return now() - t0;
}

static int cmd_pull(void)
{
    if (!opt.path)
        die("pull needs --path");
    double secs = run_clients(pull_thread);
    long long b = atomic_load(&total_bytes);
    printf("{\"bytes\": %lld, \"seconds\": %.6f, \"mib_s\": %.3f, \"downloads\": %lld, "
           "\"errors\": %lld}\n",
           b, secs, b / 1048576.0 / secs, atomic_load(&total_done), atomic_load(&total_errors));
    return atomic_load(&total_errors) ? 1 : 0;
}

/* ---------- pushimages ---------- */

static atomic_llong next_image;
static double *latencies;

static int push_one_image(conn *c, long long i, char *err, size_t errsz)
{
    unsigned char *layer = malloc((size_t)opt.layer_size);
    char ldig[72], cdig[72], config[1024], manifest[2048], path[4096];
    int rc = -1;
    fill_pattern(layer, (size_t)opt.layer_size, ((uint64_t)opt.nonce << 32) ^ (uint64_t)i);
    sha256_hex(layer, (size_t)opt.layer_size, ldig);
    int clen = snprintf(config, sizeof(config),
                        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":"
                        "{\"bench.nonce\":\"%lld\",\"bench.image\":\"%lld\"}},\"rootfs\":{\"type\":"
                        "\"layers\",\"diff_ids\":[\"%s\"]}}",
                        opt.nonce, i, ldig);
    sha256_hex(config, (size_t)clen, cdig);
    int mlen = snprintf(manifest, sizeof(manifest),
                        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest."
                        "v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config."
                        "v1+json\",\"digest\":\"%s\",\"size\":%d},\"layers\":[{\"mediaType\":"
                        "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\","
                        "\"size\":%lld}]}",
                        cdig, clen, ldig, opt.layer_size);
    if (push_blob_small(c, opt.repo, layer, (size_t)opt.layer_size, ldig, err, errsz) < 0 ||
        push_blob_small(c, opt.repo, config, (size_t)clen, cdig, err, errsz) < 0)
        goto out;
    snprintf(path, sizeof(path), "/v2/%s/manifests/%s-%lld", opt.repo, opt.prefix, i);
    resp r;
    if (request(c, "PUT", path, "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n",
                manifest, (size_t)mlen, &r) < 0 ||
        r.status != 201) {
        snprintf(err, errsz, "PUT manifest: status %d %s", r.status, r.errbody);
        goto out;
    }
    rc = 0;
out:
    free(layer);
    return rc;
}

static void *pushimages_thread(void *arg)
{
    (void)arg;
    conn c = {.fd = -1};
    char err[1024];
    pthread_barrier_wait(&start_barrier);
    for (;;) {
        long long i = atomic_fetch_add(&next_image, 1);
        if (i >= opt.images || now() > run_deadline)
            break;
        double t = now();
        err[0] = 0;
        if (push_one_image(&c, i, err, sizeof(err)) < 0) {
            if (atomic_fetch_add(&total_errors, 1) == 0)
                fprintf(stderr, "loadgen pushimages: image %lld: %s\n", i, err);
            conn_close(&c);
            continue;
        }
        latencies[i] = now() - t;
        atomic_fetch_add(&total_done, 1);
    }
    conn_close(&c);
    free(c.rbuf);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmd_pushimages(void)
{
    if (!opt.repo || opt.images <= 0)
        die("pushimages needs --repo and --images");
    if (opt.layer_size <= 0 || opt.layer_size > 16 * 1024 * 1024)
        die("--layer-size must be 1..16 MiB");
    latencies = calloc((size_t)opt.images, sizeof(double));
    double secs = run_clients(pushimages_thread);
    long long done = atomic_load(&total_done);
    /* Latencies of finished images (failed ones are 0 and sorted first; skip them). */
    qsort(latencies, (size_t)opt.images, sizeof(double), cmp_double);
    long long first = opt.images - done;
    double p50 = 0, p99 = 0;
    if (done > 0) {
        p50 = latencies[first + (done - 1) * 50 / 100];
        p99 = latencies[first + (done - 1) * 99 / 100];
    }
    printf("{\"images\": %lld, \"seconds\": %.6f, \"images_s\": %.3f, \"p50_ms\": %.3f, "
           "\"p99_ms\": %.3f, \"errors\": %lld}\n",
           done, secs, done / secs, p50 * 1000, p99 * 1000, atomic_load(&total_errors));
    return atomic_load(&total_errors) ? 1 : 0;
}

/* ---------- rate: closed-loop keep-alive requests over epoll ---------- */

#define RATE_BUF          65536
#define RATE_TIMEOUT_SECS 10.0

enum {
    ST_CONNECTING,
    ST_WRITING,
    ST_HEADERS,
    ST_BODY,
    ST_CHUNK_SIZE,
    ST_CHUNK_DATA,
    ST_CHUNK_CRLF,
    ST_TRAILER
};

typedef struct {
    int fd;
    int state;
    size_t sent;
    char *buf;
    size_t blen;
    long long remaining;
    int keepalive;
    int status;
    double t_start;
} rconn;

typedef struct {
    int nconn;
    rconn *conns;
    double *lat;
    size_t nlat, caplat;
    long long done, non2xx, err_connect, err_read, err_write, err_timeout, reconnects;
} rthread;

static char rate_req[8192];
static size_t rate_req_len;
static int rate_head;
static double rate_t0, rate_end;

static int rconn_start(int ep, rconn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    inet_pton(AF_INET, opt.host, &sa.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->state = ST_CONNECTING;
    c->t_start = now();
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    return 0;
}

static void rconn_reset(int ep, rconn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->blen = 0;
}

static void rconn_begin_request(rconn *c)
{
    c->state = ST_WRITING;
    c->sent = 0;
    c->blen = 0;
    c->status = 0;
    c->keepalive = 1;
    c->t_start = now();
}

/* Parses whatever is in c->buf; returns 1 when the response is complete, 0 for more, -1 bad. */
static int rconn_parse(rconn *c)
{
    for (;;) {
        switch (c->state) {
        case ST_HEADERS: {
            char *end = memmem(c->buf, c->blen, "\r\n\r\n", 4);
            if (!end)
                return c->blen >= RATE_BUF ? -1 : 0;
            size_t hlen = (size_t)(end - c->buf) + 4;
            *end = 0;
            if (strncmp(c->buf, "HTTP/1.", 7) != 0)
                return -1;
            c->status = atoi(c->buf + 9);
            c->keepalive = c->buf[7] == '1';
            long long clen = -1;
            int chunked = 0;
            for (char *l = strstr(c->buf, "\r\n"); l; l = strstr(l, "\r\n")) {
                l += 2;
                if (!strncasecmp(l, "Content-Length:", 15))
                    clen = atoll(l + 15);
                else if (!strncasecmp(l, "Transfer-Encoding:", 18)) {
                    char *eol = strstr(l, "\r\n");
                    char save = 0;
                    if (eol) {
                        save = *eol;
                        *eol = 0;
                    }
                    chunked = strcasestr(l, "chunked") != NULL;
                    if (eol)
                        *eol = save;
                } else if (!strncasecmp(l, "Connection:", 11)) {
                    char *eol = strstr(l, "\r\n");
                    size_t n = eol ? (size_t)(eol - l) : strlen(l);
                    if (memmem(l, n, "close", 5))
                        c->keepalive = 0;
                }
            }
            memmove(c->buf, c->buf + hlen, c->blen - hlen);
            c->blen -= hlen;
            if (rate_head || c->status == 204 || c->status == 304)
                return 1;
            if (chunked) {
                c->state = ST_CHUNK_SIZE;
            } else if (clen >= 0) {
                c->state = ST_BODY;
                c->remaining = clen;
            } else {
                return -1; /* body to EOF is not used by registries here */
            }
            break;
        }
        case ST_BODY:
        case ST_CHUNK_DATA: {
            size_t take = (long long)c->blen < c->remaining ? c->blen : (size_t)c->remaining;
            memmove(c->buf, c->buf + take, c->blen - take);
            c->blen -= take;
            c->remaining -= (long long)take;
            if (c->remaining > 0)
                return 0;
            if (c->state == ST_BODY)
                return 1;
            c->state = ST_CHUNK_CRLF;
            break;
        }
        case ST_CHUNK_CRLF:
            if (c->blen < 2)
                return 0;
            memmove(c->buf, c->buf + 2, c->blen - 2);
            c->blen -= 2;
            c->state = ST_CHUNK_SIZE;
            break;
        case ST_CHUNK_SIZE:
        case ST_TRAILER: {
            char *eol = memmem(c->buf, c->blen, "\r\n", 2);
            if (!eol)
                return c->blen >= RATE_BUF ? -1 : 0;
            size_t llen = (size_t)(eol - c->buf);
            long long n = c->state == ST_CHUNK_SIZE ? strtoll(c->buf, NULL, 16) : -1;
            memmove(c->buf, eol + 2, c->blen - llen - 2);
            c->blen -= llen + 2;
            if (c->state == ST_TRAILER) {
                if (llen == 0)
                    return 1;
            } else if (n == 0) {
                c->state = ST_TRAILER;
            } else {
                c->remaining = n;
                c->state = ST_CHUNK_DATA;
            }
            break;
        }
        default:
            return -1;
        }
    }
}

static void record_latency(rthread *t, double v)
{
    if (t->nlat == t->caplat) {
        t->caplat = t->caplat ? t->caplat * 2 : 65536;
        t->lat = realloc(t->lat, t->caplat * sizeof(double));
    }
    t->lat[t->nlat++] = v;
}

static void *rate_thread(void *arg)
{
    rthread *t = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event evs[256];
    pthread_barrier_wait(&start_barrier);
    for (int i = 0; i < t->nconn; i++) {
        t->conns[i].buf = malloc(RATE_BUF);
        if (rconn_start(ep, &t->conns[i]) < 0)
            t->err_connect++;
    }
    double last_scan = now();
    for (;;) {
        double tnow = now();
        if (tnow >= rate_end)
            break;
        int ms = (int)((rate_end - tnow) * 1000) + 1;
        int n = epoll_wait(ep, evs, 256, ms < 100 ? ms : 100);
        tnow = now();
        for (int k = 0; k < n; k++) {
            rconn *c = evs[k].data.ptr;
            if (c->fd < 0)
                continue;
            if (c->state == ST_CONNECTING) {
                int soerr = 0;
                socklen_t sl = sizeof(soerr);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                if (soerr || (evs[k].events & (EPOLLERR | EPOLLHUP))) {
                    t->err_connect++;
                    rconn_reset(ep, c);
                    continue;
                }
                rconn_begin_request(c);
            }
            if (c->state == ST_WRITING) {
                ssize_t w = send(c->fd, rate_req + c->sent, rate_req_len - c->sent, MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN) {
                    t->err_write++;
                    rconn_reset(ep, c);
                    continue;
                }
                if (w > 0)
                    c->sent += (size_t)w;
                if (c->sent == rate_req_len) {
                    c->state = ST_HEADERS;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
                continue;
            }
            /* reading */
            for (;;) {
                ssize_t r = recv(c->fd, c->buf + c->blen, RATE_BUF - c->blen, 0);
                if (r < 0 && errno == EAGAIN)
                    break;
                if (r <= 0) {
                    t->err_read++;
                    rconn_reset(ep, c);
                    break;
                }
                c->blen += (size_t)r;
                int pr = rconn_parse(c);
                if (pr < 0) {
                    t->err_read++;
                    rconn_reset(ep, c);
                    break;
                }
                if (pr == 1) {
                    double tend = now();
                    if (tend <= rate_end) {
                        t->done++;
                        if (c->status < 200 || c->status >= 400)
                            t->non2xx++;
                        record_latency(t, tend - c->t_start);
                    }
                    if (!c->keepalive) {
                        t->reconnects++;
                        rconn_reset(ep, c);
                        break;
                    }
                    rconn_begin_request(c);
                    ssize_t w = send(c->fd, rate_req, rate_req_len, MSG_NOSIGNAL);
                    if (w < 0 && errno != EAGAIN) {
                        t->err_write++;
                        rconn_reset(ep, c);
                        break;
                    }
                    c->sent = w > 0 ? (size_t)w : 0;
                    if (c->sent < rate_req_len) {
                        struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
                        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                        break;
                    }
                    c->state = ST_HEADERS;
                }
            }
        }
        if (tnow - last_scan >= 0.1) {
            last_scan = tnow;
            for (int i = 0; i < t->nconn; i++) {
                rconn *c = &t->conns[i];
                if (c->fd >= 0 && tnow - c->t_start > RATE_TIMEOUT_SECS) {
                    t->err_timeout++;
                    rconn_reset(ep, c);
                }
                if (c->fd < 0 && tnow < rate_end && rconn_start(ep, c) < 0)
                    t->err_connect++;
            }
        }
    }
    for (int i = 0; i < t->nconn; i++) {
        rconn_reset(ep, &t->conns[i]);
        free(t->conns[i].buf);
    }
    close(ep);
    return NULL;
}

static int cmd_rate(void)
{
    if (!opt.path)
        die("rate needs --path");
    if (opt.connections < 1 || opt.connections > 20000)
        die("--connections must be 1..20000");
    if (opt.threads < 1 || opt.threads > 64)
        die("--threads must be 1..64");
    if (opt.duration <= 0 || opt.duration > 600)
        die("--duration must be 0..600 seconds");
    rate_head = !strcmp(opt.method, "HEAD");
    int n = snprintf(
        rate_req, sizeof(rate_req),
        "%s %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: ocireg-bench-loadgen\r\n%s%s\r\n", opt.method,
        opt.path, opt.host, opt.port, opt.header ? opt.header : "", opt.header ? "\r\n" : "");
    if (n <= 0 || (size_t)n >= sizeof(rate_req))
        die("request too long");
    rate_req_len = (size_t)n;
    int nt = opt.threads < opt.connections ? opt.threads : opt.connections;
    rthread *ts = calloc((size_t)nt, sizeof(rthread));
    pthread_t th[64];
    pthread_barrier_init(&start_barrier, NULL, (unsigned)nt + 1);
    for (int i = 0; i < nt; i++) {
        ts[i].nconn = opt.connections / nt + (i < opt.connections % nt);
        ts[i].conns = calloc((size_t)ts[i].nconn, sizeof(rconn));
        for (int j = 0; j < ts[i].nconn; j++)
            ts[i].conns[j].fd = -1;
        pthread_create(&th[i], NULL, rate_thread, &ts[i]);
    }
    rate_t0 = now();
    rate_end = rate_t0 + opt.duration;
    pthread_barrier_wait(&start_barrier);
    rthread sum = {0};
    for (int i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        sum.done += ts[i].done;
        sum.non2xx += ts[i].non2xx;
        sum.err_connect += ts[i].err_connect;
        sum.err_read += ts[i].err_read;
        sum.err_write += ts[i].err_write;
        sum.err_timeout += ts[i].err_timeout;
        sum.reconnects += ts[i].reconnects;
        for (size_t k = 0; k < ts[i].nlat; k++)
            record_latency(&sum, ts[i].lat[k]);
    }
    double secs = opt.duration;
    qsort(sum.lat, sum.nlat, sizeof(double), cmp_double);
    double p50 = sum.nlat ? sum.lat[(sum.nlat - 1) * 50 / 100] : 0;
    double p99 = sum.nlat ? sum.lat[(sum.nlat - 1) * 99 / 100] : 0;
    double mx = sum.nlat ? sum.lat[sum.nlat - 1] : 0;
    printf(
        "{\"requests\": %lld, \"seconds\": %.3f, \"rps\": %.1f, \"p50_ms\": %.3f, "
        "\"p99_ms\": %.3f, \"max_ms\": %.3f, \"non2xx\": %lld, \"err_connect\": %lld, "
        "\"err_read\": %lld, \"err_write\": %lld, \"err_timeout\": %lld, \"reconnects\": %lld}\n",
        sum.done, secs, sum.done / secs, p50 * 1000, p99 * 1000, mx * 1000, sum.non2xx,
        sum.err_connect, sum.err_read, sum.err_write, sum.err_timeout, sum.reconnects);
    return 0;
}

/* ---------- main ---------- */

/* Each "--name value" sets one field of opt, read as text or as a number of its type; the
 * kind comes from the field's type, so a table row cannot disagree with the struct. */
enum opt_kind { OPT_TEXT, OPT_INT, OPT_LLONG, OPT_DOUBLE };
#define OPTION(name, field)                                                                             \
    {                                                                                                   \
        name,                                                                                         \
     _Generic(opt.field, const char *: OPT_TEXT, int: OPT_INT, long long: OPT_LLONG,               \
              double: OPT_DOUBLE),                                                                 \
     &opt.field \
    }
static const struct {
    const char *name;
    enum opt_kind kind;
    void *field;
} options[] = {
    OPTION("--host", host),
    OPTION("--port", port),
    OPTION("--repo", repo),
    OPTION("--path", path),
    OPTION("--file", file),
    OPTION("--prefix", prefix),
    OPTION("--size", size),
    OPTION("--chunk", chunk),
    OPTION("--nonce", nonce),
    OPTION("--clients", clients),
    OPTION("--count", count),
    OPTION("--images", images),
    OPTION("--layer-size", layer_size),
    OPTION("--method", method),
    OPTION("--header", header),
    OPTION("--connections", connections),
    OPTION("--threads", threads),
    OPTION("--duration", duration),
    OPTION("--deadline", deadline),
};

static void set_option(const char *name, const char *v)
{
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
        if (strcmp(name, options[i].name) != 0)
            continue;
        void *f = options[i].field;
        switch (options[i].kind) {
        case OPT_TEXT:
            *(const char **)f = v;
            return;
        case OPT_INT:
            *(int *)f = atoi(v);
            return;
        case OPT_LLONG:
            *(long long *)f = atoll(v);
            return;
        case OPT_DOUBLE:
            *(double *)f = atof(v);
            return;
        }
    }
    die("unknown option %s", name);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: loadgen pushblob|pull|pushimages --port P ... (see the comment at the top)");
    const char *cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i];
        if (i + 1 >= argc)
            die("option %s needs a value", k);
        set_option(k, argv[++i]);
    }
    if (opt.port <= 0 || opt.port > 65535)
        die("--port is required");
    if (opt.deadline <= 0 || opt.deadline > 3600)
        die("--deadline must be 0..3600 seconds");
    if (!strcmp(cmd, "pushblob")) {
        if (!opt.repo)
            die("pushblob needs --repo");
        return cmd_pushblob();
    }
    if (!strcmp(cmd, "pull"))
        return cmd_pull();
    if (!strcmp(cmd, "pushimages"))
        return cmd_pushimages();
    if (!strcmp(cmd, "rate"))
        return cmd_rate();
    die("unknown command %s", cmd);
    return 2;
}
