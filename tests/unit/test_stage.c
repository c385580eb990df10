/* test_stage.c - the write-behind stage of local uploads: bytes added in pieces of any size,
 * with syncs between them (request ends, which park the stage and free its idle buffers) and a
 * restart in the middle of a block, end up in the file and in the digest exactly; a failed
 * write rolls back only to what was synced; through the page cache each byte is written once. */
#include "storage/base/digest.h"
#include "storage/base/reg_error.h"
#include "storage/blob/stage.h"
#include "check.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEN ((5u << 20) + 12345u)

static unsigned char *sample(void)
{
    unsigned char *p = malloc(LEN);
    for (size_t i = 0; p && i < LEN; i++)
        p[i] = (unsigned char)((i * 2654435761u) >> 13);
    return p;
}

/* The file a test stages into: fd for reads (and for the page-cache stage), dfd with
 * O_DIRECT where the filesystem has it, and a fresh SHA-256 digester. */
typedef struct spool {
    char path[64];
    int fd, dfd;
    digester *h;
} spool;

static int spool_open(spool *sp)
{
    snprintf(sp->path, sizeof(sp->path), "/var/tmp/ocireg-stage-XXXXXX");
    sp->h = NULL;
    sp->fd = mkstemp(sp->path);
    sp->dfd = sp->fd < 0 ? -1 : open(sp->path, O_WRONLY | O_DIRECT);
    if (sp->dfd < 0 && sp->fd >= 0)
        sp->dfd = open(sp->path, O_WRONLY); /* no O_DIRECT here: the stage falls back on EINVAL */
    if (sp->fd < 0 || sp->dfd < 0)
        return -1;
    return digester_new(&sp->h, DIGEST_SHA256) == REG_OK ? 0 : -1;
}

static int file_equals(int fd, const unsigned char *want, size_t len)
{
    unsigned char *got = malloc(len + 1);
    ssize_t n = pread(fd, got, len + 1, 0);
    int same = n == (ssize_t)len && memcmp(got, want, len) == 0;
    free(got);
    return same;
}

/* The whole sample reached the file and the digest, and the stage says so. */
static void check_complete(const stage_result *r, digester *h, int fd, const unsigned char *data,
                           const char *what)
{
    digest want, got;
    CHECK_INT(r->length, LEN);
    CHECK_INT(r->hashed, 1);
    CHECK(file_equals(fd, data, LEN), "file differs (%s)", what);
    digest_buffer(&want, DIGEST_SHA256, data, LEN);
    CHECK_INT(digester_peek(&got, h), REG_OK);
    CHECK_STR(got.str, want.str);
}

static void spool_close(spool *sp)
{
    digester_free(sp->h);
    close(sp->fd);
    if (sp->dfd >= 0)
        close(sp->dfd);
    unlink(sp->path);
}

/* Write data[from, LEN) through stages in pieces of `piece` bytes, syncing every `per_request`
 * pieces and starting a new stage every `per_stage` pieces. */
static void check_written(const unsigned char *data, size_t from, size_t piece, int per_request,
                          int per_stage)
{
    spool sp;
    char what[64];
    stage *s = NULL;
    stage_result r = {0};
    CHECK_INT(spool_open(&sp), 0);
    CHECK_INT(pwrite(sp.fd, data, from, 0), (long long)from);
    digester_update(sp.h, data, from);
    uint64_t at = from;
    for (int n = 0; at < LEN; n++) {
        if (!s)
            CHECK_INT(stage_start(&s, sp.fd, sp.dfd, at, sp.h, 1), REG_OK);
        size_t len = LEN - at < piece ? LEN - at : piece;
        CHECK_INT(stage_add(s, data + at, len), REG_OK);
        at += len;
        if (n % per_request == per_request - 1)
            CHECK_INT(stage_sync(s), REG_OK);
        if (n % per_stage == per_stage - 1) {
            CHECK_INT(stage_finish(s, &r), REG_OK);
            CHECK_INT(r.length, at);
            CHECK_INT(r.hashed, 1);
            s = NULL;
        }
    }
    if (s)
        CHECK_INT(stage_finish(s, &r), REG_OK);
    snprintf(what, sizeof(what), "from %zu, piece %zu", from, piece);
    check_complete(&r, sp.h, sp.fd, data, what);
    spool_close(&sp);
}

static void test_pieces_and_syncs_give_the_same_file_and_digest(void)
{
    unsigned char *data = sample();
    check_written(data, 0, 32768, 256, 1 << 30);    /* 8 MiB requests, one stage */
    check_written(data, 0, LEN, 1, 1);              /* one monolithic request */
    check_written(data, 5000, 65536 + 3, 7, 30);    /* unaligned start, restarts */
    check_written(data, 4096, 1, 1 << 30, 1 << 30); /* byte by byte */
    check_written(data, 1 << 20, 1000003, 1, 2);    /* a stage per two requests */
    check_written(data, 0, 1 << 20, 1, 1 << 30);    /* requests end on buffer edges */
    check_written(data, 0, 3 << 20, 1, 1 << 30);    /* parked while the hash catches up */
    free(data);
}

/* Sessions that pause between requests: the worker gives the idle buffers back meanwhile. */
static void test_idle_pauses_trim_and_resume(void)
{
    static const size_t cuts[] = {(2u << 20) + 4321u, 4u << 20, (4u << 20) + 1u, LEN};
    unsigned char *data = sample();
    spool sp;
    stage *s = NULL;
    stage_result r;
    size_t at = 0;
    CHECK_INT(spool_open(&sp), 0);
    CHECK_INT(stage_start(&s, sp.fd, sp.dfd, 0, sp.h, 1), REG_OK);
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        CHECK_INT(stage_add(s, data + at, cuts[i] - at), REG_OK);
        at = cuts[i];
        CHECK_INT(stage_sync(s), REG_OK);
        CHECK(file_equals(sp.fd, data, at), "after the request ending at %zu", at);
        usleep(300 * 1000); /* longer than the stage's idle trim */
    }
    CHECK_INT(stage_finish(s, &r), REG_OK);
    check_complete(&r, sp.h, sp.fd, data, "after idle pauses");
    spool_close(&sp);
    free(data);
}

static void test_a_failed_write_keeps_what_was_synced(void)
{
    unsigned char *data = sample();
    spool sp;
    stage *s = NULL;
    stage_result r;
    CHECK_INT(spool_open(&sp), 0);
    close(sp.dfd); /* writes of full buffers now fail (EBADF) */
    CHECK_INT(stage_start(&s, sp.fd, sp.dfd, 0, sp.h, 1), REG_OK);
    CHECK_INT(stage_add(s, data, 100000), REG_OK);
    CHECK_INT(stage_sync(s), REG_OK);
    CHECK(stage_add(s, data + 100000, 3 << 20) < 0, "a write to a closed fd must fail");
    CHECK(stage_finish(s, &r) < 0, "finish reports the failure");
    CHECK_INT(r.length, 100000);
    CHECK_INT(r.hashed, 0);
    CHECK(file_equals(sp.fd, data, 100000), "the synced bytes stay, and nothing else");
    sp.dfd = -1; /* closed above */
    spool_close(&sp);
    free(data);
}

/* Bytes this process has handed to write-like calls (/proc/self/io), or -1. */
static long long wchar(void)
{
    char line[128];
    long long n = -1;
    FILE *f = fopen("/proc/self/io", "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "wchar: %lld", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

/* A stage whose dfd is its fd (a spool that pull-through readers follow): after each sync the
 * file holds every byte added, and each byte is written once. */
static void test_page_cache_stage_writes_each_byte_once(void)
{
    unsigned char *data = sample();
    spool sp;
    stage *s;
    stage_result r;
    CHECK_INT(spool_open(&sp), 0);
    CHECK_INT(stage_start(&s, sp.fd, sp.fd, 0, sp.h, 1), REG_OK);
    long long before = wchar();
    for (size_t at = 0, n; at < LEN; at += n) {
        n = LEN - at < 300000 ? LEN - at : 300000;
        CHECK_INT(stage_add(s, data + at, n), REG_OK);
        CHECK_INT(stage_sync(s), REG_OK);
        CHECK(file_equals(sp.fd, data, at + n), "after the piece ending at %zu", at + n);
    }
    CHECK_INT(stage_finish(s, &r), REG_OK);
    CHECK_INT(wchar() - before, LEN);
    check_complete(&r, sp.h, sp.fd, data, "page cache");
    spool_close(&sp);
    free(data);
}

int main(void)
{
    RUN(test_page_cache_stage_writes_each_byte_once);
    RUN(test_pieces_and_syncs_give_the_same_file_and_digest);
    RUN(test_idle_pauses_trim_and_resume);
    RUN(test_a_failed_write_keeps_what_was_synced);
    return check_failures ? 1 : 0;
}
