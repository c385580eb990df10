/* test_tar.c - the streaming tar writer and reader: round trips (long names through pax,
 * sizes past ustar's 8 GiB), GNU base-256 sizes, and refusal of damaged or hostile input. */
#include "storage/base/reg_error.h"
#include "storage/archive/tar.h"
#include "check.h"

#include <stdlib.h>

typedef struct mem {
    unsigned char data[64 * 1024];
    size_t len, pos;
} mem;

static int mem_sink(void *ctx, const void *data, size_t len)
{
    mem *m = ctx;
    if (len > sizeof(m->data) - m->len)
        return REG_ETOOLARGE;
    memcpy(m->data + m->len, data, len);
    m->len += len;
    return REG_OK;
}

static int mem_source(void *ctx, void *buf, size_t len, size_t *got)
{
    mem *m = ctx;
    size_t n = m->len - m->pos < len ? m->len - m->pos : len;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    *got = n;
    return REG_OK;
}

/* Start reading the archive in m: its first entry's header into e. */
static int first_entry(tar_entry *e, tar_reader *r, mem *m)
{
    tar_reader_init(r, mem_source, m);
    return tar_next(e, r);
}

/* A header block written by hand at the start of an empty m: its name and mode set, the rest
 * (size, type, magic, checksum) the test's to write. */
static unsigned char *raw_header(mem *m, const char *name)
{
    memset(m, 0, sizeof(*m));
    strcpy((char *)m->data, name);
    memcpy(m->data + 100, "0000644", 8);
    return m->data;
}

static void put_file(tar_writer *w, const char *name, const char *data)
{
    CHECK_INT(tar_put_header(w, name, TAR_FILE, strlen(data), 0644, 0), REG_OK);
    CHECK_INT(tar_put_data(w, data, strlen(data)), REG_OK);
    CHECK_INT(tar_end_entry(w), REG_OK);
}

static void expect_file(tar_reader *r, const char *name, const char *data)
{
    tar_entry e;
    char buf[256] = "";
    size_t got = 0, total = 0;
    CHECK_INT(tar_next(&e, r), REG_OK);
    CHECK_STR(e.name, name);
    CHECK(e.type == TAR_FILE, "%s: type '%c'", name, e.type);
    CHECK_INT(e.size, strlen(data));
    while (tar_read(r, buf + total, sizeof(buf) - 1 - total, &got) == REG_OK && got > 0)
        total += got;
    buf[total] = '\0';
    CHECK_STR(buf, data);
}

static void test_round_trip_with_long_names(void)
{
    static mem m;
    char sha512_name[200] = "blobs/sha512/";
    for (int i = 0; i < 128; i++)
        strcat(sha512_name, "a");
    char deep[300] = "";
    for (int i = 0; i < 30; i++)
        strcat(deep, "folder/");
    strcat(deep, "file");
    tar_writer w;
    tar_reader r;
    tar_entry e;
    memset(&m, 0, sizeof(m));
    tar_writer_init(&w, mem_sink, &m);
    CHECK_INT(tar_put_header(&w, "blobs/", TAR_DIR, 0, 0755, 0), REG_OK);
    CHECK_INT(tar_end_entry(&w), REG_OK);
    put_file(&w, "index.json", "{}");
    put_file(&w, sha512_name, "a blob with a 141-byte name");
    put_file(&w, deep, "split into prefix and name");
    put_file(&w, "empty", "");
    CHECK_INT(tar_put_end(&w), REG_OK);
    CHECK_INT(m.len % TAR_BLOCK, 0);

    CHECK_INT(first_entry(&e, &r, &m), REG_OK);
    CHECK_STR(e.name, "blobs/");
    CHECK(e.type == TAR_DIR && e.mode == 0755, "folder entry");
    expect_file(&r, "index.json", "{}");
    expect_file(&r, sha512_name, "a blob with a 141-byte name");
    expect_file(&r, deep, "split into prefix and name");
    expect_file(&r, "empty", "");
    CHECK_INT(tar_next(&e, &r), REG_ENOTFOUND);
}

static void test_size_over_8gib_goes_through_pax(void)
{
    static mem m;
    tar_writer w;
    tar_reader r;
    tar_entry e;
    uint64_t huge = (9ull << 30) + 7;
    memset(&m, 0, sizeof(m));
    tar_writer_init(&w, mem_sink, &m);
    CHECK_INT(tar_put_header(&w, "big", TAR_FILE, huge, 0644, 0), REG_OK);
    CHECK_INT(first_entry(&e, &r, &m), REG_OK);
    CHECK(e.size == huge, "expected %llu, got %llu", (unsigned long long)huge,
          (unsigned long long)e.size);
}

static void test_gnu_base256_size_is_read(void)
{
    static mem m;
    tar_reader r;
    tar_entry e;
    unsigned char *h = raw_header(&m, "gnu-big");
    h[124] = 0x80; /* base-256: 12 GiB in the last bytes */
    h[124 + 7] = 0x03;
    h[156] = '0';
    memcpy(h + 257, "ustar  ", 8);
    tar_put_checksum(h);
    m.len = TAR_BLOCK;
    CHECK_INT(first_entry(&e, &r, &m), REG_OK);
    CHECK(e.size == (3ull << 32), "got %llu", (unsigned long long)e.size);
}

static void write_one(mem *m)
{
    tar_writer w;
    memset(m, 0, sizeof(*m));
    tar_writer_init(&w, mem_sink, m);
    put_file(&w, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
    tar_put_end(&w);
}

static void test_damaged_header_is_refused(void)
{
    static mem m;
    tar_reader r;
    tar_entry e;
    write_one(&m);
    m.data[3] ^= 0x20;
    CHECK_INT(first_entry(&e, &r, &m), REG_EINVALID);
    CHECK(strstr(reg_error_last(""), "checksum") != NULL, "message: %s", reg_error_last(""));
}

static void test_missing_end_marker_is_truncation(void)
{
    static mem m;
    tar_reader r;
    tar_entry e;
    write_one(&m);
    m.len -= 2 * TAR_BLOCK;
    CHECK_INT(first_entry(&e, &r, &m), REG_OK);
    CHECK_INT(tar_next(&e, &r), REG_EINVALID);
    CHECK(strstr(reg_error_last(""), "truncated") != NULL, "message: %s", reg_error_last(""));
}

static void test_data_cut_short_is_truncation(void)
{
    static mem m;
    tar_reader r;
    tar_entry e;
    char buf[64];
    size_t got;
    write_one(&m);
    m.len = TAR_BLOCK + 10;
    CHECK_INT(first_entry(&e, &r, &m), REG_OK);
    CHECK_INT(tar_read(&r, buf, sizeof(buf), &got), REG_EINVALID);
}

static void test_oversized_pax_header_is_refused(void)
{
    static mem m;
    tar_reader r;
    tar_entry e;
    unsigned char *h = raw_header(&m, "PaxHeaders/x");
    snprintf((char *)h + 124, 12, "%011o", TAR_EXTENDED_MAX + 1);
    h[156] = 'x';
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    tar_put_checksum(h);
    m.len = TAR_BLOCK * 4;
    CHECK_INT(first_entry(&e, &r, &m), REG_EINVALID);
    CHECK(strstr(reg_error_last(""), "larger than") != NULL, "message: %s", reg_error_last(""));
}

static void test_writer_holds_entries_to_their_size(void)
{
    static mem m;
    tar_writer w;
    memset(&m, 0, sizeof(m));
    tar_writer_init(&w, mem_sink, &m);
    CHECK_INT(tar_put_header(&w, "f", TAR_FILE, 3, 0644, 0), REG_OK);
    CHECK_INT(tar_put_data(&w, "abcd", 4), REG_EINVALID);
    CHECK_INT(tar_put_data(&w, "ab", 2), REG_OK);
    CHECK_INT(tar_end_entry(&w), REG_EINVALID);
}

int main(void)
{
    RUN(test_round_trip_with_long_names);
    RUN(test_size_over_8gib_goes_through_pax);
    RUN(test_gnu_base256_size_is_read);
    RUN(test_damaged_header_is_refused);
    RUN(test_missing_end_marker_is_truncation);
    RUN(test_data_cut_short_is_truncation);
    RUN(test_oversized_pax_header_is_refused);
    RUN(test_writer_holds_entries_to_their_size);
    return check_failures != 0;
}
