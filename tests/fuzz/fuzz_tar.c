/* fuzz_tar.c - the tar reader that import and restore run over an archive's bytes
 * (storage/archive/tar.c), and the classification of each entry's name as an OCI layout path
 * (storage/archive/ocilayout.c). The first input byte picks how many bytes the source hands out
 * per call (short reads are where a streaming reader slips); the rest is the tar stream. */
#include "fuzz_util.h"
#include "storage/archive/ocilayout.h"
#include "storage/archive/tar.h"
#include "storage/base/reg_error.h"

#define MAX_ENTRIES 64

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t pos;
    size_t step; /* most bytes per call */
} source;

static int read_source(void *ctx, void *buf, size_t len, size_t *got)
{
    source *s = ctx;
    size_t n = s->size - s->pos;
    if (n > len)
        n = len;
    if (n > s->step)
        n = s->step;
    memcpy(buf, s->data + s->pos, n);
    s->pos += n;
    *got = n;
    return REG_OK;
}

static void check_name(const tar_entry *e)
{
    char norm[TAR_NAME_MAX];
    char rebuilt[DIGEST_MAX + 8];
    digest dg;
    FUZZ_CHECK(memchr(e->name, '\0', sizeof(e->name)) != NULL);
    layout_kind kind = layout_classify(&dg, norm, sizeof(norm), e->name);
    if (kind != LAYOUT_BLOB)
        return;
    /* A blob's path is exactly the one its digest names: nothing else can reach the store. */
    layout_blob_name(rebuilt, sizeof(rebuilt), &dg);
    FUZZ_CHECK(strcmp(rebuilt, norm) == 0);
}

/* Read the current entry's data; the reader must hand out exactly its declared size. */
static int drain(tar_reader *r, const tar_entry *e)
{
    uint8_t buf[700];
    uint64_t total = 0;
    size_t got = 0;
    int err;
    do {
        err = tar_read(r, buf, sizeof(buf), &got);
        total += got;
        FUZZ_CHECK(total <= e->size);
    } while (err == REG_OK && got > 0);
    if (err == REG_OK)
        FUZZ_CHECK(total == e->size);
    return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    source src = {data + 1, size - 1, 0, (size_t)data[0] * 7 + 1};
    tar_reader r;
    tar_entry e;
    tar_reader_init(&r, read_source, &src);
    for (int i = 0; i < MAX_ENTRIES; i++) {
        int err = tar_next(&e, &r);
        FUZZ_CHECK(err == REG_OK || err == REG_ENOTFOUND || err == REG_EINVALID);
        if (err != REG_OK)
            break;
        check_name(&e);
        /* Every other entry is skipped by the next tar_next, as import does with directories. */
        if ((i & 1) == 0 && drain(&r, &e) != REG_OK)
            break;
    }
    return 0;
}
