/* s3_check.c - storage/s3/ against a live S3 (RGW in tests/scaleout/test_s3_client.py):
 *   s3_check 's3://BUCKET?endpoint=http://127.0.0.1:PORT&region=R' [--bench [MIB]]
 *   s3_check 's3://BUCKET?endpoint=...' --faults
 * credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Every function of s3.h is
 * exercised under a fresh key prefix; exit 0 when all checks pass, else each failure is
 * printed. --bench also times a multipart put and a get of MIB MiB (default 64). --faults
 * instead runs the retry and resume checks against the scripted fake S3 of
 * test_s3_client.py, which misbehaves according to key names.
 * It links s3_unittest to shrink the multipart-copy threshold and reach presign_at. */
#include "storage/s3/s3_internal.h"
#include "storage/base/digest.h"
#include "storage/base/reg_error.h"
#include "check.h"
#include "s3_listing.h"
#include "sha256_sink.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define MIB (1024u * 1024u)

static s3_client *client;       /* the URL as given */
static s3_client *paged_client; /* ListObjectsV2 pages of 3 keys */
static s3_client *prefixed;     /* keys under run_prefix + "pfx/" */
static s3_config config;
static char run[64]; /* "s3check-<pid>-<time>/": this run's keys */

static void key_of(char *out, const char *name)
{
    snprintf(out, S3_MAX_KEY, "%s%s", run, name);
}

static void fill(unsigned char *p, size_t len, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)(x >> 24);
    }
}

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* ---- collecting downloads ---- */

typedef struct sink {
    buf b;
    size_t calls;
    int fail_with; /* non-zero: the first call answers this */
} sink;

static int to_sink(void *ctx, const void *data, size_t len)
{
    sink *s = ctx;
    s->calls++;
    if (s->fail_with)
        return s->fail_with;
    return buf_append(&s->b, data, len);
}

/* s3_get into a fresh buffer; its result, with *out holding the bytes (caller frees). */
static int get_all(buf *out, s3_client *c, const char *key, uint64_t off, uint64_t len)
{
    sink s = {.fail_with = 0};
    buf_init(&s.b, 256u * MIB);
    int err = s3_get(c, key, off, len, to_sink, &s);
    *out = s.b;
    return err;
}

static int same_bytes(const buf *b, const void *want, size_t len)
{
    return b->len == len && (len == 0 || memcmp(b->data, want, len) == 0);
}

/* ---- the checks ---- */

static void test_bucket_ensure_twice(void)
{
    CHECK(s3_bucket_ensure(client) == REG_OK, "first ensure: %s", reg_error_last(""));
    CHECK(s3_bucket_ensure(client) == REG_OK, "second ensure: %s", reg_error_last(""));
}

/* size bytes of sample data (from seed) put at key: the bytes, the caller's to free. */
static unsigned char *put_sample(const char *key, size_t size, uint64_t seed)
{
    unsigned char *data = malloc(size);
    if (!data)
        abort();
    fill(data, size, seed);
    CHECK_INT(s3_put(client, key, data, size), REG_OK);
    return data;
}

static void test_put_head_get_ranges(void)
{
    const size_t size = 3 * MIB + 17;
    char key[S3_MAX_KEY];
    uint64_t got_size = 0;
    int64_t mtime = 0;
    buf b;
    key_of(key, "blobs/sha256/ab/abcdef");
    unsigned char *data = put_sample(key, size, 1);
    CHECK_INT(s3_head(client, key, &got_size, &mtime), REG_OK);
    CHECK_INT(got_size, size);
    CHECK(mtime > time(NULL) - 86400 && mtime < time(NULL) + 86400, "mtime %lld is not today",
          (long long)mtime);

    CHECK_INT(get_all(&b, client, key, 0, 0), REG_OK);
    CHECK(same_bytes(&b, data, size), "whole object: %zu bytes back", b.len);
    buf_free(&b);
    CHECK_INT(get_all(&b, client, key, 100, 1000), REG_OK);
    CHECK(same_bytes(&b, data + 100, 1000), "[100, 1100): %zu bytes back", b.len);
    buf_free(&b);
    CHECK_INT(get_all(&b, client, key, MIB, 0), REG_OK);
    CHECK(same_bytes(&b, data + MIB, size - MIB), "[1 MiB, end): %zu bytes back", b.len);
    buf_free(&b);
    CHECK_INT(get_all(&b, client, key, size - 1, 0), REG_OK);
    CHECK(same_bytes(&b, data + size - 1, 1), "last byte: %zu bytes back", b.len);
    buf_free(&b);
    CHECK_INT(get_all(&b, client, key, size - 10, 100), REG_OK);
    CHECK(same_bytes(&b, data + size - 10, 10), "range past the end is cut: %zu bytes", b.len);
    buf_free(&b);
    CHECK_INT(get_all(&b, client, key, size, 0), REG_EINVALID);
    buf_free(&b);
    CHECK_INT(get_all(&b, client, key, size + 5, 10), REG_EINVALID);
    buf_free(&b);

    sink s = {.fail_with = -42};
    buf_init(&s.b, MIB);
    CHECK_INT(s3_get(client, key, 0, 0, to_sink, &s), -42);
    CHECK_INT(s.calls, 1);
    buf_free(&s.b);
    free(data);
}

static void test_missing_key_is_not_found(void)
{
    char key[S3_MAX_KEY];
    buf b;
    key_of(key, "no/such/key");
    CHECK_INT(get_all(&b, client, key, 0, 0), REG_ENOTFOUND);
    CHECK(b.len == 0, "nothing delivered for a missing key");
    buf_free(&b);
    CHECK_INT(get_all(&b, client, key, 10, 10), REG_ENOTFOUND);
    buf_free(&b);
    CHECK_INT(s3_head(client, key, NULL, NULL), REG_ENOTFOUND);
    CHECK(strstr(reg_error_last(""), "404") != NULL, "last error names the status: %s",
          reg_error_last(""));
    CHECK_INT(s3_delete(client, key), REG_OK);
}

static void test_empty_object(void)
{
    char key[S3_MAX_KEY];
    uint64_t size = 1;
    buf b;
    key_of(key, "empty");
    CHECK_INT(s3_put(client, key, "", 0), REG_OK);
    CHECK_INT(s3_head(client, key, &size, NULL), REG_OK);
    CHECK_INT(size, 0);
    CHECK_INT(get_all(&b, client, key, 0, 0), REG_OK);
    CHECK_INT(b.len, 0);
    buf_free(&b);
    CHECK_INT(get_all(&b, client, key, 0, 10), REG_OK);
    CHECK_INT(b.len, 0);
    buf_free(&b);
    CHECK_INT(s3_delete(client, key), REG_OK);
}

static void test_odd_keys_round_trip(void)
{
    static const char *const names[] = {"odd/a key+with&amp=?#%~.txt",
                                        "odd/\xc3\xbcni\xc3\xa7od\xc3\xa9", "odd/<xml>&\"quotes'"};
    listing l = {.n = 0};
    char prefix[S3_MAX_KEY];
    for (size_t i = 0; i < 3; i++) {
        char key[S3_MAX_KEY];
        buf b;
        key_of(key, names[i]);
        CHECK(s3_put(client, key, names[i], strlen(names[i])) == REG_OK, "put \"%s\": %s", names[i],
              reg_error_last(""));
        CHECK_INT(get_all(&b, client, key, 0, 0), REG_OK);
        CHECK(same_bytes(&b, names[i], strlen(names[i])), "\"%s\" reads back", names[i]);
        buf_free(&b);
    }
    key_of(prefix, "odd/");
    CHECK_INT(s3_list(client, prefix, to_listing, &l), REG_OK);
    CHECK_INT(l.n, 3);
    for (size_t i = 0; i < l.n && i < 3; i++) {
        int found = 0;
        for (size_t j = 0; j < 3; j++) {
            char key[S3_MAX_KEY];
            key_of(key, names[j]);
            found |= !strcmp(l.keys[i], key);
        }
        CHECK(found, "listed key \"%s\" is one that was put", l.keys[i]);
    }
    for (size_t i = 0; i < 3; i++) {
        char key[S3_MAX_KEY];
        key_of(key, names[i]);
        CHECK_INT(s3_delete(client, key), REG_OK);
    }
    CHECK_INT(s3_put(client, "bad\nkey", "x", 1), REG_EINVALID);
    CHECK_INT(s3_put(client, "", "x", 1), REG_EINVALID);
}

static void test_list_pages_and_stops(void)
{
    char prefix[256], key[S3_MAX_KEY];
    const char *names[8] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    listing l = {.n = 0};
    key_of(prefix, "list/");
    for (size_t i = 0; i < 8; i++) {
        snprintf(key, sizeof(key), "%s%s", prefix, names[i]);
        CHECK_INT(s3_put(client, key, "01234567", i), REG_OK); /* sizes 0..7 */
    }
    /* A sibling that a prefix without the slash would also match. */
    key_of(key, "listing");
    CHECK_INT(s3_put(client, key, "x", 1), REG_OK);

    CHECK(s3_list(paged_client, prefix, to_listing, &l) == REG_OK, "list: %s", reg_error_last(""));
    CHECK_INT(l.n, 8);
    for (size_t i = 0; i < 8 && i < l.n; i++) {
        snprintf(key, sizeof(key), "%s%s", prefix, names[i]);
        CHECK_STR(l.keys[i], key);
        CHECK_INT(l.sizes[i], i);
        CHECK(l.mtimes[i] > 0, "mtime of %s parsed", key);
    }
    memset(&l, 0, sizeof(l));
    l.stop_after = 4;
    l.stop_with = 1;
    CHECK_INT(s3_list(paged_client, prefix, to_listing, &l), REG_OK);
    CHECK_INT(l.n, 4);
    memset(&l, 0, sizeof(l));
    l.stop_after = 5;
    l.stop_with = -77;
    CHECK_INT(s3_list(paged_client, prefix, to_listing, &l), -77);
    CHECK_INT(l.n, 5);

    /* delete, delete_many (with a key that does not exist), then nothing is left */
    snprintf(key, sizeof(key), "%s%s", prefix, names[0]);
    CHECK_INT(s3_delete(client, key), REG_OK);
    CHECK_INT(s3_head(client, key, NULL, NULL), REG_ENOTFOUND);
    CHECK_INT(s3_delete(client, key), REG_OK);
    char keys[9][S3_MAX_KEY];
    const char *ptrs[9];
    for (size_t i = 1; i < 8; i++) {
        snprintf(keys[i - 1], sizeof(keys[0]), "%s%s", prefix, names[i]);
        ptrs[i - 1] = keys[i - 1];
    }
    key_of(keys[7], "listing");
    ptrs[7] = keys[7];
    key_of(keys[8], "list/never-existed");
    ptrs[8] = keys[8];
    CHECK(s3_delete_many(client, ptrs, 9) == REG_OK, "delete_many: %s", reg_error_last(""));
    memset(&l, 0, sizeof(l));
    CHECK_INT(s3_list(paged_client, prefix, to_listing, &l), REG_OK);
    CHECK_INT(l.n, 0);
    CHECK_INT(s3_delete_many(client, ptrs, 0), REG_OK);
    CHECK_INT(s3_delete_many(client, ptrs, S3_MAX_DELETE + 1), REG_EINVALID);
}

/* SHA-256 of an object read with s3_get, and its length. */
static int object_sha256(char hex[65], uint64_t *len, s3_client *c, const char *key)
{
    unsigned char md[32];
    sha256_sink d = {.md = EVP_MD_CTX_new()};
    int err = d.md && EVP_DigestInit_ex(d.md, EVP_sha256(), NULL) == 1 ? REG_OK : REG_ERROR;
    if (err == REG_OK)
        err = s3_get(c, key, 0, 0, to_sha256_sink, &d);
    if (err == REG_OK && EVP_DigestFinal_ex(d.md, md, NULL) != 1)
        err = REG_ERROR;
    if (err == REG_OK)
        hex_encode(hex, md, 32);
    *len = d.bytes;
    EVP_MD_CTX_free(d.md);
    return err;
}

static void test_multipart_three_parts_and_copies(void)
{
    const size_t sizes[3] = {5 * MIB, 5 * MIB, 1};
    size_t total = sizes[0] + sizes[1] + sizes[2];
    unsigned char *data = malloc(total);
    char key[S3_MAX_KEY], copy[S3_MAX_KEY], big_copy[S3_MAX_KEY], id[S3_UPLOAD_ID_MAX];
    char want[65], got[65];
    s3_part parts[3];
    uint64_t len = 0, size = 0;
    fill(data, total, 3);
    sha256_hex(want, data, total);
    key_of(key, "uploads/6f1c/tail");
    CHECK(s3_multipart_create(client, key, id, sizeof(id)) == REG_OK, "create: %s",
          reg_error_last(""));
    size_t at = 0;
    for (int i = 0; i < 3; i++) {
        parts[i].no = i + 1;
        CHECK(s3_multipart_part(client, key, id, i + 1, data + at, sizes[i], parts[i].etag,
                                sizeof(parts[i].etag)) == REG_OK,
              "part %d: %s", i + 1, reg_error_last(""));
        if (!parts[i].etag[0])
            printf("note: part %d has an empty ETag\n", i + 1);
        at += sizes[i];
    }
    CHECK(s3_multipart_complete(client, key, id, parts, 3) == REG_OK, "complete: %s",
          reg_error_last(""));
    CHECK_INT(s3_head(client, key, &size, NULL), REG_OK);
    CHECK_INT(size, total);
    CHECK_INT(object_sha256(got, &len, client, key), REG_OK);
    CHECK_INT(len, total);
    CHECK_STR(got, want);

    /* Copies: one CopyObject, then the UploadPartCopy path with a lowered threshold. */
    key_of(copy, "copy/single");
    CHECK(s3_copy(client, key, copy) == REG_OK, "copy: %s", reg_error_last(""));
    CHECK_INT(object_sha256(got, &len, client, copy), REG_OK);
    CHECK_STR(got, want);
    copy_single_max = MIB;
    copy_part_min = 5 * MIB;
    key_of(big_copy, "copy/parts");
    CHECK(s3_copy(client, key, big_copy) == REG_OK, "multipart copy: %s", reg_error_last(""));
    copy_single_max = 5ull << 30;
    copy_part_min = 512ull << 20;
    CHECK_INT(object_sha256(got, &len, client, big_copy), REG_OK);
    CHECK_INT(len, total);
    CHECK_STR(got, want);
    key_of(copy, "copy/from-nothing");
    CHECK_INT(s3_copy(client, copy, big_copy), REG_ENOTFOUND);

    const char *doomed[3] = {key, copy, big_copy};
    key_of(copy, "copy/single");
    CHECK_INT(s3_delete_many(client, doomed, 3), REG_OK);

    /* Parts out of order are refused before anything is sent. */
    s3_part swapped[2] = {parts[1], parts[0]};
    CHECK_INT(s3_multipart_complete(client, key, "whatever", swapped, 2), REG_EINVALID);
    free(data);
}

static void test_multipart_abort(void)
{
    char key[S3_MAX_KEY], id[S3_UPLOAD_ID_MAX];
    s3_part part = {.no = 1};
    key_of(key, "uploads/aborted/tail");
    CHECK_INT(s3_multipart_create(client, key, id, sizeof(id)), REG_OK);
    CHECK_INT(s3_multipart_part(client, key, id, 1, "tiny", 4, part.etag, sizeof(part.etag)),
              REG_OK);
    CHECK(s3_multipart_abort(client, key, id) == REG_OK, "abort: %s", reg_error_last(""));
    CHECK_INT(s3_multipart_abort(client, key, id), REG_OK);
    CHECK(s3_multipart_complete(client, key, id, &part, 1) == REG_ENOTFOUND,
          "complete after abort: %s", reg_error_last(""));
    CHECK_INT(s3_head(client, key, NULL, NULL), REG_ENOTFOUND);
    CHECK_INT(s3_multipart_part(client, key, id, 0, "x", 1, part.etag, sizeof(part.etag)),
              REG_EINVALID);
    char small[4];
    CHECK_INT(s3_multipart_create(client, key, small, sizeof(small)), REG_ETOOLARGE);
}

static size_t to_buf(char *data, size_t size, size_t n, void *ctx)
{
    return buf_append(ctx, data, size * n) == REG_OK ? size * n : 0;
}

/* GET url with plain curl (no credentials): status, body into b. */
static long plain_get(buf *b, const char *url)
{
    long status = 0;
    CURL *h = curl_easy_init();
    buf_init(b, 16 * MIB);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, to_buf);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    return status;
}

static void test_presigned_get(void)
{
    const size_t size = 100000;
    char key[S3_MAX_KEY], *url = NULL;
    buf b;
    key_of(key, "presign/a b+c");
    unsigned char *data = put_sample(key, size, 4);
    CHECK(s3_presign_get(&url, client, key, 300) == REG_OK, "presign: %s", reg_error_last(""));
    if (!url)
        goto done;
    CHECK_INT(plain_get(&b, url), 200);
    CHECK(same_bytes(&b, data, size), "presigned GET: %zu bytes back", b.len);
    buf_free(&b);
    char *sig = strstr(url, "X-Amz-Signature=");
    CHECK(sig != NULL, "URL has a signature: %s", url);
    if (sig) {
        char *last = url + strlen(url) - 1;
        *last = *last == '0' ? '1' : '0';
        CHECK_INT(plain_get(&b, url), 403);
        buf_free(&b);
    }
    free(url);
    url = NULL;
    /* An expired URL: signed an hour ago for a minute. */
    CHECK_INT(presign_at(&url, client, key, 60, time(NULL) - 3600), REG_OK);
    CHECK_INT(plain_get(&b, url), 403);
    buf_free(&b);
    CHECK_INT(s3_presign_get(&url, client, key, 0), REG_EINVALID);
    CHECK_INT(s3_presign_get(&url, client, key, S3_PRESIGN_MAX_EXPIRES + 1), REG_EINVALID);
done:
    free(url);
    s3_delete(client, key);
    free(data);
}

static void test_prefix_is_applied_and_stripped(void)
{
    char raw[S3_MAX_KEY];
    listing l = {.n = 0};
    buf b;
    CHECK_INT(s3_put(prefixed, "blobs/x", "prefixed", 8), REG_OK);
    key_of(raw, "pfx/blobs/x");
    CHECK_INT(s3_head(client, raw, NULL, NULL), REG_OK);
    CHECK_INT(get_all(&b, prefixed, "blobs/x", 0, 0), REG_OK);
    CHECK(same_bytes(&b, "prefixed", 8), "read back through the prefix");
    buf_free(&b);
    CHECK_INT(s3_list(prefixed, "blobs/", to_listing, &l), REG_OK);
    CHECK_INT(l.n, 1);
    if (l.n == 1)
        CHECK_STR(l.keys[0], "blobs/x");
    char *url = NULL;
    CHECK_INT(s3_presign_get(&url, prefixed, "blobs/x", 60), REG_OK);
    if (url) {
        CHECK_INT(plain_get(&b, url), 200);
        CHECK(same_bytes(&b, "prefixed", 8), "presigned through the prefix");
        buf_free(&b);
    }
    free(url);
    const char *both[1] = {"blobs/x"};
    CHECK_INT(s3_delete_many(prefixed, both, 1), REG_OK);
    CHECK_INT(s3_head(client, raw, NULL, NULL), REG_ENOTFOUND);
}

static void test_unreachable_endpoint_retries_then_fails(void)
{
    s3_config cfg = config;
    s3_client *dead = NULL;
    cfg.endpoint = "http://127.0.0.1:9";
    cfg.max_retries = 2;
    CHECK_INT(s3_client_new(&dead, &cfg), REG_OK);
    double t0 = now_s();
    CHECK_INT(s3_head(dead, "x", NULL, NULL), REG_ERROR);
    double took = now_s() - t0;
    CHECK(strstr(reg_error_last(""), "(3 attempts)") != NULL, "three attempts: %s",
          reg_error_last(""));
    /* backoff: 50..100 ms then 100..200 ms */
    CHECK(took >= 0.15 && took < 5, "two backoffs took %.3f s", took);
    s3_client_free(dead);
}

typedef struct worker {
    int id;
    int failures;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    unsigned char data[4096], back[4096];
    for (int i = 0; i < 25; i++) {
        char key[S3_MAX_KEY], name[64];
        buf b;
        snprintf(name, sizeof(name), "threads/%d/%d", w->id, i);
        key_of(key, name);
        fill(data, sizeof(data), (uint64_t)(w->id * 1000 + i));
        if (s3_put(client, key, data, sizeof(data)) < 0 || get_all(&b, client, key, 0, 0) < 0) {
            w->failures++;
            continue;
        }
        memcpy(back, b.data, b.len < sizeof(back) ? b.len : sizeof(back));
        if (b.len != sizeof(data) || memcmp(back, data, sizeof(data)) != 0)
            w->failures++;
        buf_free(&b);
        if (s3_delete(client, key) < 0)
            w->failures++;
    }
    return NULL;
}

static void test_threads_share_one_client(void)
{
    pthread_t t[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){.id = i};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(w[i].failures == 0, "thread %d: %d failures (%s)", i, w[i].failures,
              reg_error_last(""));
    }
}

static void bench(size_t mib)
{
    const size_t part = 8 * MIB, total = mib * MIB;
    unsigned char *data = malloc(total);
    char key[S3_MAX_KEY], id[S3_UPLOAD_ID_MAX], want[65], got[65];
    size_t n = (total + part - 1) / part;
    s3_part *parts = calloc(n, sizeof(*parts));
    uint64_t len = 0;
    fill(data, total, 5);
    sha256_hex(want, data, total);
    key_of(key, "bench/multipart");
    double t0 = now_s();
    int err = s3_multipart_create(client, key, id, sizeof(id));
    for (size_t i = 0; err == REG_OK && i < n; i++) {
        size_t this = total - i * part < part ? total - i * part : part;
        parts[i].no = (int)i + 1;
        err = s3_multipart_part(client, key, id, (int)i + 1, data + i * part, this, parts[i].etag,
                                sizeof(parts[i].etag));
    }
    if (err == REG_OK)
        err = s3_multipart_complete(client, key, id, parts, n);
    double t1 = now_s();
    CHECK(err == REG_OK, "bench multipart put: %s", reg_error_last(""));
    CHECK_INT(object_sha256(got, &len, client, key), REG_OK);
    double t2 = now_s();
    CHECK_STR(got, want);
    printf("bench: multipart put %zu MiB (%zu parts of 8 MiB): %.1f MB/s\n", mib, n,
           (double)total / 1e6 / (t1 - t0));
    printf("bench: get %zu MiB (streamed into SHA-256): %.1f MB/s\n", mib,
           (double)total / 1e6 / (t2 - t1));
    key_of(key, "bench/single");
    t0 = now_s();
    CHECK_INT(s3_put(client, key, data, total), REG_OK);
    t1 = now_s();
    printf("bench: single put %zu MiB: %.1f MB/s\n", mib, (double)total / 1e6 / (t1 - t0));
    s3_delete(client, key);
    key_of(key, "bench/multipart");
    s3_delete(client, key);
    free(parts);
    free(data);
}

/* ---- against the fake S3 of test_s3_client.py (--faults) ---- */

static void test_get_resumes_after_a_dropped_connection(void)
{
    const size_t size = MIB;
    unsigned char *data = put_sample("faults/drop-once", size, 6);
    buf b;
    CHECK(get_all(&b, client, "faults/drop-once", 0, 0) == REG_OK, "get: %s", reg_error_last(""));
    CHECK(same_bytes(&b, data, size), "resumed whole get: %zu bytes", b.len);
    buf_free(&b);
    CHECK_INT(s3_put(client, "faults/drop-once-ranged", data, size), REG_OK);
    CHECK(get_all(&b, client, "faults/drop-once-ranged", 1000, 300000) == REG_OK, "get: %s",
          reg_error_last(""));
    CHECK(same_bytes(&b, data + 1000, 300000), "resumed ranged get: %zu bytes", b.len);
    buf_free(&b);
    free(data);
}

static void test_get_of_a_replaced_object_fails_on_resume(void)
{
    const size_t size = MIB;
    unsigned char *data = put_sample("faults/drop-once-and-change", size, 7);
    buf b;
    CHECK_INT(get_all(&b, client, "faults/drop-once-and-change", 0, 0), REG_ERROR);
    CHECK(strstr(reg_error_last(""), "412") != NULL, "If-Match refused: %s", reg_error_last(""));
    CHECK(b.len < size && same_bytes(&b, data, b.len), "only the first answer's bytes: %zu", b.len);
    buf_free(&b);
    free(data);
}

static void test_put_retries_slowdown(void)
{
    unsigned char data[70000];
    uint64_t size = 0;
    fill(data, sizeof(data), 8);
    CHECK(s3_put(client, "faults/slowdown-twice", data, sizeof(data)) == REG_OK, "put: %s",
          reg_error_last(""));
    CHECK_INT(s3_head(client, "faults/slowdown-twice", &size, NULL), REG_OK);
    CHECK_INT(size, sizeof(data));
}

/* Start a multipart upload at key (its id into id, S3_UPLOAD_ID_MAX bytes) and send it one
 * 4-byte part, numbered and ETagged in *part. */
static void start_one_part(const char *key, char *id, s3_part *part)
{
    CHECK_INT(s3_multipart_create(client, key, id, S3_UPLOAD_ID_MAX), REG_OK);
    CHECK_INT(
        s3_multipart_part(client, key, id, part->no, "part", 4, part->etag, sizeof(part->etag)),
        REG_OK);
}

static void test_complete_retries_an_error_in_200(void)
{
    char id[S3_UPLOAD_ID_MAX];
    s3_part part = {.no = 1};
    uint64_t size = 0;
    start_one_part("faults/complete-error-once", id, &part);
    CHECK(s3_multipart_complete(client, "faults/complete-error-once", id, &part, 1) == REG_OK,
          "complete: %s", reg_error_last(""));
    CHECK_INT(s3_head(client, "faults/complete-error-once", &size, NULL), REG_OK);
    CHECK_INT(size, 4);

    start_one_part("faults/complete-error-always", id, &part);
    CHECK_INT(s3_multipart_complete(client, "faults/complete-error-always", id, &part, 1),
              REG_ERROR);
    CHECK(strstr(reg_error_last(""), "InvalidPart") != NULL, "names the code: %s",
          reg_error_last(""));
}

/* The connection drops after the completion was carried out; the retry finds the upload gone
 * (NoSuchUpload) and the object there with these parts' ETag. */
static void test_complete_lost_answer_is_success(void)
{
    char id[S3_UPLOAD_ID_MAX];
    s3_part part = {.no = 1};
    start_one_part("faults/complete-drop-answer", id, &part);
    CHECK(s3_multipart_complete(client, "faults/complete-drop-answer", id, &part, 1) == REG_OK,
          "complete: %s", reg_error_last(""));
}

static void test_server_errors_are_retried_then_reported(void)
{
    buf b;
    CHECK_INT(get_all(&b, client, "faults/always-500", 0, 0), REG_ERROR);
    CHECK(strstr(reg_error_last(""), "(3 attempts)") != NULL && strstr(reg_error_last(""), "500"),
          "1 + max_retries (2) attempts: %s", reg_error_last(""));
    buf_free(&b);
    CHECK_INT(get_all(&b, client, "faults/404-no-body", 0, 0), REG_ENOTFOUND);
    buf_free(&b);
    CHECK_INT(s3_head(client, "faults/forbidden", NULL, NULL), REG_ERROR);
    CHECK(strstr(reg_error_last(""), "HTTP 403") != NULL, "names the status: %s",
          reg_error_last(""));
}

static void test_small_request_times_out(void)
{
    double t0 = now_s();
    CHECK_INT(s3_head(client, "faults/stall", NULL, NULL), REG_ERROR);
    double took = now_s() - t0;
    CHECK(strstr(reg_error_last(""), "Timeout") != NULL || strstr(reg_error_last(""), "timed out"),
          "a timeout: %s", reg_error_last(""));
    CHECK(took < 10, "gave up after %.1f s", took);
}

static void test_listing_that_does_not_advance_fails(void)
{
    listing l = {.n = 0};
    CHECK_INT(s3_list(client, "loop/", to_listing, &l), REG_ERROR);
    CHECK(strstr(reg_error_last(""), "does not advance") != NULL, "%s", reg_error_last(""));
}

static void run_fault_suite(void)
{
    RUN(test_get_resumes_after_a_dropped_connection);
    RUN(test_get_of_a_replaced_object_fails_on_resume);
    RUN(test_put_retries_slowdown);
    RUN(test_complete_retries_an_error_in_200);
    RUN(test_complete_lost_answer_is_success);
    RUN(test_server_errors_are_retried_then_reported);
    RUN(test_small_request_times_out);
    RUN(test_listing_that_does_not_advance_fails);
}

int main(int argc, char **argv)
{
    char pfx_url[4096];
    size_t bench_mib = 0;
    int faults = argc > 2 && !strcmp(argv[2], "--faults");
    if (argc < 2 || (argc > 2 && strcmp(argv[2], "--bench") != 0 && !faults)) {
        fprintf(stderr, "usage: s3_check 's3://BUCKET?endpoint=...' [--bench [MIB] | --faults]\n");
        return 2;
    }
    if (argc > 2 && !faults)
        bench_mib = argc > 3 ? strtoul(argv[3], NULL, 10) : 64;
    if (s3_config_parse(&config, argv[1]) < 0) {
        fprintf(stderr, "s3_check: %s\n", reg_error_last(""));
        return 2;
    }
    snprintf(run, sizeof(run), "s3check-%d-%ld/", (int)getpid(), (long)time(NULL));
    s3_config paged = config;
    paged.list_page_size = 3;
    s3_config pfx = config;
    snprintf(pfx_url, sizeof(pfx_url), "%spfx/", run);
    pfx.prefix = pfx_url;
    if (s3_client_new(&client, &config) < 0 || s3_client_new(&paged_client, &paged) < 0 ||
        s3_client_new(&prefixed, &pfx) < 0) {
        fprintf(stderr, "s3_check: client: %s\n", reg_error_last(""));
        return 2;
    }
    if (faults) {
        run_fault_suite();
        goto done;
    }
    RUN(test_bucket_ensure_twice);
    RUN(test_put_head_get_ranges);
    RUN(test_missing_key_is_not_found);
    RUN(test_empty_object);
    RUN(test_odd_keys_round_trip);
    RUN(test_list_pages_and_stops);
    RUN(test_multipart_three_parts_and_copies);
    RUN(test_multipart_abort);
    RUN(test_presigned_get);
    RUN(test_prefix_is_applied_and_stripped);
    RUN(test_unreachable_endpoint_retries_then_fails);
    RUN(test_threads_share_one_client);
    if (bench_mib)
        bench(bench_mib);
done:
    s3_client_free(client);
    s3_client_free(paged_client);
    s3_client_free(prefixed);
    s3_config_free(&config);
    curl_global_cleanup();
    if (check_failures)
        printf("s3_check: %d check(s) failed\n", check_failures);
    return check_failures != 0;
}
