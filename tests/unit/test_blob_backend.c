/* test_blob_backend.c - the blob backend contract (backend.h), the same cases on each backend:
 * a local folder, then the S3 bucket named by OCIREG_TEST_S3 (s3://BUCKET?endpoint=URL&region=R,
 * credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; tests/scaleout runs it against
 * radosgw) when it is set; and the upload session cases pytest cannot reach. */
#include "storage/blob/blobstore.h"
#include "storage/blob/uploads.h"
#include "storage/base/buf.h"
#include "storage/base/reg_error.h"
#include "check.h"
#include "publish_finish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *storage; /* the backend the cases run on now: NULL local, else an S3 URL */
static int serial;

typedef struct fixture {
    char dir[64];
    char index[128];
    blobstore *bs;
    upload_table *t;
} fixture;

static int setup(fixture *f)
{
    memset(f, 0, sizeof(*f));
    if (check_tempdir(f->dir, sizeof(f->dir), "blob-backend") < 0)
        return REG_ERROR;
    snprintf(f->index, sizeof(f->index), "%s/meta.db", f->dir);
    int err = blobstore_open_at(&f->bs, f->dir, storage);
    if (err < 0) {
        fprintf(stderr, "cannot open the blob store: %s\n", reg_error_last("?"));
        return err;
    }
    return upload_table_new(&f->t, f->bs, f->index);
}

static void teardown(fixture *f)
{
    upload_table_free(f->t);
    blobstore_close(f->bs);
    CHECK_RMDIR(f->dir);
}

/* Bytes no other run has stored (the S3 bucket outlives a run), `len` of them. */
static char *unique_bytes(size_t len)
{
    char *p = malloc(len + 1);
    int n = snprintf(p, len + 1, "blob %d-%ld-%d ", (int)getpid(), (long)time(NULL), ++serial);
    for (size_t i = (size_t)n; i < len; i++)
        p[i] = (char)('a' + (i * 7 + (size_t)serial) % 26);
    return p;
}

static int publish(fixture *f, const digest *d, const void *data, size_t len)
{
    blob_publish *p = NULL;
    int err = blobstore_publish_bytes(&p, f->bs, d, data, len);
    return publish_finish(p, err);
}

/* Everything blobstore_open_reader gives for the range; the first error. */
static int read_range(buf *out, fixture *f, const digest *d, uint64_t start, uint64_t length)
{
    blob_reader *r = NULL;
    char piece[1000];
    ssize_t got = blobstore_open_reader(&r, f->bs, NULL, d, start, length);
    buf_init(out, 64u << 20);
    while (got >= 0 && (got = blob_reader_read(r, out->len, piece, sizeof(piece))) > 0)
        if (buf_append(out, piece, (size_t)got) < 0)
            got = REG_ERROR;
    blob_reader_free(r);
    return got < 0 ? (int)got : REG_OK;
}

/* The whole blob through blobstore_open_blob. */
static int read_file(buf *out, fixture *f, const digest *d)
{
    int fd = -1;
    uint64_t size = 0;
    buf_init(out, 64u << 20);
    int err = blobstore_open_blob(&fd, &size, f->bs, NULL, d);
    if (err < 0)
        return err;
    char piece[65536];
    ssize_t n;
    while (err == REG_OK && (n = pread(fd, piece, sizeof(piece), (off_t)out->len)) > 0)
        err = buf_append(out, piece, (size_t)n);
    close(fd);
    return err == REG_OK && out->len != size ? REG_ERROR : err;
}

static int same(const buf *b, const void *want, size_t len)
{
    return b->len == len && memcmp(b->data, want, len) == 0;
}

/* ---- blobs ---- */

static void test_a_published_blob_reads_back_whole_and_in_a_range(void)
{
    fixture f;
    digest d;
    buf got;
    size_t len = 3000;
    char *data = unique_bytes(len);
    digest_buffer(&d, DIGEST_SHA256, data, len);
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(publish(&f, &d, data, len), REG_OK);
    CHECK_INT(read_file(&got, &f, &d), REG_OK);
    CHECK(same(&got, data, len), "open_blob gave %zu other bytes", got.len);
    buf_free(&got);
    CHECK_INT(read_range(&got, &f, &d, 0, len), REG_OK);
    CHECK(same(&got, data, len), "the whole range gave %zu other bytes", got.len);
    buf_free(&got);
    CHECK_INT(read_range(&got, &f, &d, 1234, 1500), REG_OK);
    CHECK(same(&got, data + 1234, 1500), "the range gave %zu other bytes", got.len);
    buf_free(&got);
    teardown(&f);
    free(data);
}

static void test_a_local_reader_hands_over_its_file(void)
{
    fixture f;
    digest d;
    blob_reader *r = NULL;
    uint64_t size = 0;
    char *data = unique_bytes(100);
    digest_buffer(&d, DIGEST_SHA256, data, 100);
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(publish(&f, &d, data, 100), REG_OK);
    CHECK_INT(blobstore_open_reader(&r, f.bs, NULL, &d, 10, 20), REG_OK);
    int fd = blob_reader_fd(&size, r);
    if (storage) {
        CHECK_INT(fd, -1); /* S3 streams through the reader */
    } else {
        CHECK(fd >= 0, "no file to send from");
        CHECK_INT(size, 100);
        CHECK_INT(blob_reader_fd(&size, r), -1); /* handed over once */
        close(fd);
    }
    blob_reader_free(r);
    teardown(&f);
    free(data);
}

static void test_stat_sees_a_published_blob(void)
{
    fixture f;
    digest d;
    uint64_t size = 0;
    int64_t mtime = 0;
    char *data = unique_bytes(777);
    digest_buffer(&d, DIGEST_SHA256, data, 777);
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(publish(&f, &d, data, 777), REG_OK);
    CHECK_INT(blobstore_stat(&size, &mtime, f.bs, &d), REG_OK);
    CHECK_INT(size, 777);
    CHECK(mtime > time(NULL) - 3600 && mtime <= time(NULL) + 3600, "mtime %lld", (long long)mtime);
    teardown(&f);
    free(data);
}

typedef struct seen {
    const digest *want;
    int times;
} seen;

static int count_match(void *ctx, const digest *d)
{
    seen *s = ctx;
    s->times += strcmp(d->str, s->want->str) == 0;
    return REG_OK;
}

static void test_publishing_the_same_digest_twice_keeps_one_blob(void)
{
    fixture f;
    digest d;
    buf got;
    char *data = unique_bytes(500);
    digest_buffer(&d, DIGEST_SHA256, data, 500);
    seen s = {.want = &d};
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(publish(&f, &d, data, 500), REG_OK);
    CHECK_INT(publish(&f, &d, data, 500), REG_OK);
    CHECK_INT(read_range(&got, &f, &d, 0, 500), REG_OK);
    CHECK(same(&got, data, 500), "the blob changed");
    buf_free(&got);
    CHECK_INT(blobstore_walk(f.bs, count_match, &s), REG_OK);
    CHECK_INT(s.times, 1);
    teardown(&f);
    free(data);
}

static void test_a_missing_blob_is_not_found(void)
{
    fixture f;
    digest d;
    buf got;
    uint64_t size;
    int64_t mtime;
    int fd = -1;
    char *data = unique_bytes(64);
    digest_buffer(&d, DIGEST_SHA256, data, 64);
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(blobstore_stat(&size, &mtime, f.bs, &d), REG_ENOTFOUND);
    CHECK_INT(blobstore_open_blob(&fd, &size, f.bs, NULL, &d), REG_ENOTFOUND);
    CHECK_INT(read_range(&got, &f, &d, 0, 64), REG_ENOTFOUND);
    buf_free(&got);
    teardown(&f);
    free(data);
}

static void test_remove_and_remove_many_delete_blobs(void)
{
    fixture f;
    digest d[4];
    char *data[4];
    uint64_t size;
    int64_t mtime;
    CHECK_INT(setup(&f), REG_OK);
    for (int i = 0; i < 4; i++) {
        data[i] = unique_bytes(200 + (size_t)i);
        digest_buffer(&d[i], DIGEST_SHA256, data[i], 200 + (size_t)i);
        if (i < 3) /* the fourth is never stored: already gone is no error */
            CHECK_INT(publish(&f, &d[i], data[i], 200 + (size_t)i), REG_OK);
    }
    CHECK_INT(blobstore_remove(f.bs, &d[0]), REG_OK);
    CHECK_INT(blobstore_stat(&size, &mtime, f.bs, &d[0]), REG_ENOTFOUND);
    CHECK_INT(blobstore_remove_many(f.bs, &d[1], 3), REG_OK);
    CHECK_INT(blobstore_remove_many(f.bs, &d[1], 3), REG_OK);
    for (int i = 0; i < 4; i++) {
        CHECK_INT(blobstore_stat(&size, &mtime, f.bs, &d[i]), REG_ENOTFOUND);
        free(data[i]);
    }
    teardown(&f);
}

/* ---- upload sessions ---- */

static int publish_session(fixture *f, upload *u, const digest *d)
{
    blob_publish *p = NULL;
    int err = upload_publication(&p, u, f->bs, d);
    return publish_finish(p, err);
}

static void test_offsets_follow_appends_and_flushes(void)
{
    fixture f;
    upload *u = NULL;
    char id[UPLOAD_ID_LEN + 1];
    uint64_t offset = 99;
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(upload_create(&u, id, f.t, "team/app"), REG_OK);
    CHECK_INT(upload_offset(u), 0);
    CHECK_INT(upload_append(u, 1, "hello ", 6), REG_OK);
    CHECK_INT(upload_append(u, 1, "world", 5), REG_OK);
    CHECK_INT(upload_offset(u), 11);
    CHECK_INT(upload_flush(u), REG_OK);
    CHECK_INT(upload_peek(&offset, f.t, id, "team/app"), REG_OK);
    CHECK_INT(offset, 11);
    CHECK_INT(upload_peek(&offset, f.t, id, "team/other"), REG_ENOTFOUND);
    CHECK_INT(upload_peek(&offset, f.t, "not-an-id", "team/app"), REG_ENOTFOUND);
    upload_release(f.t, u, 1);
    teardown(&f);
}

static void test_a_session_in_use_is_busy_for_another_request(void)
{
    fixture f;
    upload *u = NULL, *again = NULL;
    unsigned gen = 0;
    char id[UPLOAD_ID_LEN + 1];
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(upload_create(&u, id, f.t, "team/app"), REG_OK);
    CHECK_INT(upload_append(u, 1, "abc", 3), REG_OK);
    CHECK_INT(upload_flush(u), REG_OK);
    CHECK_INT(upload_acquire(&again, &gen, f.t, id, "team/app"), REG_EBUSY);
    CHECK_INT(upload_acquire(&again, &gen, f.t, id, "team/other"), REG_ENOTFOUND);
    upload_release(f.t, u, 1);
    CHECK_INT(upload_acquire(&again, &gen, f.t, id, "team/app"), REG_OK);
    CHECK(upload_owned(again, gen), "the new use does not own the session");
    CHECK_INT(upload_offset(again), 3);
    upload_release(f.t, again, gen);
    teardown(&f);
}

/* S3: a new session's row has no lease until its creator writes (nobody else knows the id
 * before the creating request answers); a request that claims it meanwhile displaces the
 * creator, whose next write is refused. */
static void test_an_unwritten_new_session_yields_to_a_claim(void)
{
    fixture f;
    upload *u = NULL, *again = NULL;
    unsigned gen = 0;
    char id[UPLOAD_ID_LEN + 1];
    if (!storage)
        return;
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(upload_create(&u, id, f.t, "team/app"), REG_OK);
    CHECK_INT(upload_acquire(&again, &gen, f.t, id, "team/app"), REG_OK);
    CHECK(gen != 1, "the claim kept the creator's generation");
    CHECK_INT(upload_append(u, 1, "abc", 3), REG_OK);
    CHECK_INT(upload_flush(u), REG_EBUSY);
    CHECK(!upload_owned(u, 1), "the displaced creator still owns the session");
    upload_release(f.t, u, 1);
    CHECK_INT(upload_append(again, gen, "xy", 2), REG_OK);
    CHECK_INT(upload_flush(again), REG_OK);
    upload_release(f.t, again, gen);
    uint64_t offset = 0;
    CHECK_INT(upload_peek(&offset, f.t, id, "team/app"), REG_OK);
    CHECK_INT(offset, 2);
    teardown(&f);
}

static void test_a_cancelled_session_is_gone(void)
{
    fixture f;
    upload *u = NULL;
    unsigned gen = 0;
    uint64_t offset;
    char id[UPLOAD_ID_LEN + 1];
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(upload_create(&u, id, f.t, "team/app"), REG_OK);
    CHECK_INT(upload_append(u, 1, "bytes", 5), REG_OK);
    CHECK_INT(upload_flush(u), REG_OK);
    upload_discard(f.t, u);
    CHECK_INT(upload_acquire(&u, &gen, f.t, id, "team/app"), REG_ENOTFOUND);
    CHECK_INT(upload_peek(&offset, f.t, id, "team/app"), REG_ENOTFOUND);
    teardown(&f);
}

/* A session of 9 MiB (more than one S3 part, several local stage buffers) written in pieces
 * across a restart of the table (a new process), then published. */
static void test_a_session_resumes_after_reopen_and_publishes(void)
{
    fixture f;
    upload *u = NULL;
    unsigned gen = 0;
    digest d, got_d;
    buf got;
    char id[UPLOAD_ID_LEN + 1];
    const size_t piece = 1u << 20, len = 9 * piece + 123;
    char *data = unique_bytes(len);
    digest_buffer(&d, DIGEST_SHA256, data, len);
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(upload_create(&u, id, f.t, "team/app"), REG_OK);
    for (size_t at = 0; at < 4 * piece; at += piece)
        CHECK_INT(upload_append(u, 1, data + at, piece), REG_OK);
    CHECK_INT(upload_flush(u), REG_OK);
    upload_release(f.t, u, 1);
    upload_table_free(f.t);
    CHECK_INT(upload_table_new(&f.t, f.bs, f.index), REG_OK);
    CHECK_INT(upload_acquire(&u, &gen, f.t, id, "team/app"), REG_OK);
    CHECK_INT(upload_offset(u), 4 * piece);
    for (size_t at = 4 * piece; at < len; at += piece)
        CHECK_INT(upload_append(u, gen, data + at, len - at < piece ? len - at : piece), REG_OK);
    CHECK_INT(upload_offset(u), len);
    CHECK_INT(upload_digest(&got_d, u, DIGEST_SHA256), REG_OK);
    CHECK_STR(got_d.str, d.str);
    CHECK_INT(publish_session(&f, u, &d), REG_OK);
    upload_discard(f.t, u);
    CHECK_INT(read_file(&got, &f, &d), REG_OK);
    CHECK(same(&got, data, len), "the published blob differs (%zu bytes)", got.len);
    buf_free(&got);
    CHECK_INT(blobstore_remove(f.bs, &d), REG_OK);
    teardown(&f);
    free(data);
}

static void run_cases(void)
{
    RUN(test_a_published_blob_reads_back_whole_and_in_a_range);
    RUN(test_a_local_reader_hands_over_its_file);
    RUN(test_stat_sees_a_published_blob);
    RUN(test_publishing_the_same_digest_twice_keeps_one_blob);
    RUN(test_a_missing_blob_is_not_found);
    RUN(test_remove_and_remove_many_delete_blobs);
    RUN(test_offsets_follow_appends_and_flushes);
    RUN(test_a_session_in_use_is_busy_for_another_request);
    RUN(test_an_unwritten_new_session_yields_to_a_claim);
    RUN(test_a_cancelled_session_is_gone);
    RUN(test_a_session_resumes_after_reopen_and_publishes);
}

int main(void)
{
    printf("-- local\n");
    run_cases();
    storage = getenv("OCIREG_TEST_S3");
    if (storage && storage[0]) {
        printf("-- S3\n");
        run_cases();
    } else {
        printf("skip S3: OCIREG_TEST_S3 is not set\n");
    }
    return check_failures ? 1 : 0;
}
