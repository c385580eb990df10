/* remote_probe.c - a command-line driver of storage/remote for tests/test_remote_client.py:
 * one remote_send with the options given, its answer printed as name=value lines.
 *
 *   remote_probe [-u USER] [-s SCOPE] [-m MAX_BODY] [-H "Name: value"]... [-d DATA | -f FILE
 *                [--chunked]] [--stream] [--stall-ms MS] [--connect-ms MS] [--total-ms MS]
 *                [--ca FILE] [--repeat N] [--threads N] [--upload DIGEST] BASE_URL METHOD PATH
 * The password comes from $REMOTE_PROBE_PASSWORD (not argv). --stream hands the body to an
 * on_data callback that counts it and hashes it (streamed=N sha256=HEX). --upload sends a
 * monolithic blob upload in one process (one token cache): METHOD PATH with no body (the POST),
 * then PUT to its Location + digest=DIGEST with the body. --threads runs --repeat sends on each
 * of N threads sharing one remote and prints only threads_ok=/threads_failed= (statuses
 * counted as status_NNN=). Each answer starts with rc=. Exit 0
 * when every send returned 0, 1 otherwise. */
#include "storage/base/reg_error.h"
#include "storage/remote/remote.h"
#include "sha256_sink.h"

#include <getopt.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 16

static long read_file(void *ctx, char *buf, size_t n)
{
    size_t got = fread(buf, 1, n, ctx);
    return ferror((FILE *)ctx) ? REG_ERROR : (long)got;
}

static void print_value(const char *name, const char *v)
{
    if (v)
        printf("%s=%s\n", name, v);
}

static void print_answer(const remote_response *resp, const sha256_sink *s)
{
    printf("status=%ld\n", resp->status);
    print_value("content_type", resp->content_type);
    print_value("digest", resp->docker_content_digest);
    print_value("location", resp->location);
    print_value("retry_after", resp->retry_after);
    printf("content_length=%lld\nbody_len=%zu\n", (long long)resp->content_length, resp->body_len);
    if (resp->body_len) {
        printf("body=");
        for (size_t i = 0; i < resp->body_len && i < 300; i++)
            putchar(resp->body[i] >= 0x20 && resp->body[i] < 0x7f ? resp->body[i] : '.');
        putchar('\n');
    }
    if (s) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        EVP_DigestFinal_ex(s->md, md, &len);
        printf("streamed=%llu\nsha256=", (unsigned long long)s->bytes);
        for (unsigned i = 0; i < len; i++)
            printf("%02x", md[i]);
        putchar('\n');
    }
}

/* POST (no body), then PUT <Location>&digest=D with the body of -d or -f. */
static int send_upload(remote *r, remote_request *req, const char *file, const char *digest)
{
    remote_request post = *req;
    remote_response resp;
    char *url = NULL;
    FILE *f = NULL;
    post.body = NULL;
    post.body_len = 0;
    int rc = remote_send(&resp, r, &post);
    printf("rc=%d\n", rc);
    if (rc < 0 || !resp.location) {
        printf("error=%s\n", rc < 0 ? reg_error_last("?") : "no Location");
        remote_response_free(&resp);
        return 1;
    }
    print_answer(&resp, NULL);
    if (asprintf(&url, "%s%sdigest=%s", resp.location, strchr(resp.location, '?') ? "&" : "?",
                 digest) < 0)
        return 1;
    remote_response_free(&resp);
    req->method = "PUT";
    req->path = url;
    if (file) {
        if (!(f = fopen(file, "rb")))
            return 2;
        fseek(f, 0, SEEK_END);
        req->read_size = ftell(f);
        fseek(f, 0, SEEK_SET);
        req->read_body = read_file;
        req->read_ctx = f;
    }
    rc = remote_send(&resp, r, req);
    printf("rc=%d\n", rc);
    if (rc < 0)
        printf("error=%s\n", reg_error_last("?"));
    else
        print_answer(&resp, NULL);
    remote_response_free(&resp);
    if (f)
        fclose(f);
    free(url);
    remote_close(r);
    return rc < 0;
}

#define MAX_THREADS 16

typedef struct worker {
    pthread_t id;
    remote *r;
    const remote_request *req;
    long repeat, failed;
    long statuses[600];
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (long i = 0; i < w->repeat; i++) {
        remote_response resp;
        if (remote_send(&resp, w->r, w->req) < 0)
            w->failed++;
        else if (resp.status >= 0 && resp.status < 600)
            w->statuses[resp.status]++;
        remote_response_free(&resp);
    }
    return NULL;
}

/* --repeat sends on each of n threads at once, one remote between them. */
static int send_threads(remote *r, const remote_request *req, long n, long repeat)
{
    static worker w[MAX_THREADS];
    long failed = 0, total[600] = {0};
    if (n > MAX_THREADS)
        n = MAX_THREADS;
    for (long i = 0; i < n; i++) {
        w[i] = (worker){.r = r, .req = req, .repeat = repeat};
        if (pthread_create(&w[i].id, NULL, work, &w[i]) != 0)
            return 2;
    }
    for (long i = 0; i < n; i++) {
        pthread_join(w[i].id, NULL);
        failed += w[i].failed;
        for (int s = 0; s < 600; s++)
            total[s] += w[i].statuses[s];
    }
    printf("rc=%d\nthreads_failed=%ld\n", failed ? REG_ERROR : REG_OK, failed);
    for (int s = 0; s < 600; s++)
        if (total[s])
            printf("status_%d=%ld\n", s, total[s]);
    remote_close(r);
    return failed != 0;
}

static long number(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0) {
        fprintf(stderr, "remote_probe: bad number %s\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"stream", no_argument, NULL, 'S'},         {"chunked", no_argument, NULL, 'C'},
        {"stall-ms", required_argument, NULL, 'T'}, {"connect-ms", required_argument, NULL, 'c'},
        {"total-ms", required_argument, NULL, 't'}, {"ca", required_argument, NULL, 'a'},
        {"repeat", required_argument, NULL, 'r'},   {"upload", required_argument, NULL, 'U'},
        {"threads", required_argument, NULL, 'n'},  {NULL, 0, NULL, 0}};
    remote_endpoint ep = {0};
    remote_request req = {0};
    const char *headers[MAX_HEADERS + 1] = {0}, *file = NULL, *upload = NULL;
    int nheaders = 0, streamed = 0, chunked = 0, opt, failed = 0;
    long repeat = 1, threads = 0;
    while ((opt = getopt_long(argc, argv, "u:s:m:H:d:f:", opts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            ep.username = optarg;
            break;
        case 's':
            req.scope = optarg;
            break;
        case 'm':
            req.max_body = (uint64_t)number(optarg);
            break;
        case 'H':
            if (nheaders < MAX_HEADERS)
                headers[nheaders++] = optarg;
            break;
        case 'd':
            req.body = optarg;
            req.body_len = strlen(optarg);
            break;
        case 'f':
            file = optarg;
            break;
        case 'S':
            streamed = 1;
            break;
        case 'C':
            chunked = 1;
            break;
        case 'T':
            ep.stall_timeout_ms = number(optarg);
            break;
        case 'c':
            ep.connect_timeout_ms = number(optarg);
            break;
        case 't':
            ep.total_timeout_ms = number(optarg);
            break;
        case 'a':
            ep.ca_file = optarg;
            break;
        case 'r':
            repeat = number(optarg);
            break;
        case 'U':
            upload = optarg;
            break;
        case 'n':
            threads = number(optarg);
            break;
        default:
            return 2;
        }
    }
    if (argc - optind != 3) {
        fprintf(stderr, "usage: remote_probe [options] BASE_URL METHOD PATH\n");
        return 2;
    }
    ep.url = argv[optind];
    ep.password = getenv("REMOTE_PROBE_PASSWORD");
    req.method = argv[optind + 1];
    req.path = argv[optind + 2];
    req.headers = nheaders ? headers : NULL;
    remote *r = NULL;
    if (remote_open(&r, &ep) < 0) {
        printf("rc=open\nerror=%s\n", reg_error_last("?"));
        return 1;
    }
    if (upload)
        return send_upload(r, &req, file, upload);
    if (threads)
        return send_threads(r, &req, threads, repeat);
    for (long i = 0; i < repeat; i++) {
        FILE *f = NULL;
        sha256_sink s = {EVP_MD_CTX_new(), 0};
        EVP_DigestInit_ex(s.md, EVP_sha256(), NULL);
        if (file) {
            if (!(f = fopen(file, "rb")))
                return 2;
            fseek(f, 0, SEEK_END);
            req.read_size = chunked ? -1 : ftell(f);
            fseek(f, 0, SEEK_SET);
            req.read_body = read_file;
            req.read_ctx = f;
        }
        if (streamed) {
            req.on_data = to_sha256_sink;
            req.data_ctx = &s;
        }
        remote_response resp;
        reg_error_clear();
        int rc = remote_send(&resp, r, &req);
        printf("rc=%d\n", rc);
        if (rc < 0) {
            printf("error=%s\n", reg_error_last("?"));
            failed = 1;
        } else {
            print_answer(&resp, streamed ? &s : NULL);
        }
        remote_response_free(&resp);
        EVP_MD_CTX_free(s.md);
        if (f)
            fclose(f);
        fflush(stdout);
    }
    remote_close(r);
    return failed;
}
