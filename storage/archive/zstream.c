/* zstream.c - zstd streaming compression and decompression over a descriptor (see
 * zstream.h). */
#include "storage/archive/zstream.h"
#include "storage/base/fileio.h"
#include "storage/base/reg_error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

/* Each worker holds about a job of input and one of output. zstd's default job is four
 * windows (8 MiB at level 3), which puts 4 workers past 64 MiB; 2 MiB jobs cost little ratio. */
#define JOB_SIZE (2 << 20)

struct zwriter {
    int fd;
    ZSTD_CCtx *cctx;
    void *out;
    size_t out_cap;
    uint64_t bytes_out;
};

static int set_param(ZSTD_CCtx *c, ZSTD_cParameter p, int value, const char *what)
{
    size_t rc = ZSTD_CCtx_setParameter(c, p, value);
    if (!ZSTD_isError(rc))
        return REG_OK;
    return reg_error_set(REG_EINVALID, "zstd: %s %d: %s", what, value, ZSTD_getErrorName(rc));
}

static int set_threads(ZSTD_CCtx *c, int threads)
{
    int err = set_param(c, ZSTD_c_nbWorkers, threads, "threads");
    return err < 0 ? err : set_param(c, ZSTD_c_jobSize, JOB_SIZE, "job size");
}

int zwriter_new(zwriter **out, int fd, int level, int threads)
{
    zwriter *z = calloc(1, sizeof(*z));
    int err = REG_ERROR;
    if (!z)
        return reg_error_set(REG_ERROR, "out of memory");
    z->fd = fd;
    z->out_cap = ZSTD_CStreamOutSize();
    if (!(z->cctx = ZSTD_createCCtx()) || !(z->out = malloc(z->out_cap))) {
        err = reg_error_set(REG_ERROR, "out of memory");
        goto fail;
    }
    if ((err = set_param(z->cctx, ZSTD_c_compressionLevel, level, "level")) < 0 ||
        (err = set_param(z->cctx, ZSTD_c_checksumFlag, 1, "checksum")) < 0 ||
        (threads > 0 && (err = set_threads(z->cctx, threads)) < 0))
        goto fail;
    *out = z;
    return REG_OK;
fail:
    zwriter_free(z);
    return err;
}

/* Feed input (possibly none) with `mode` until zstd has taken it all and, for a flush or
 * end, until it has nothing left to give. */
static int compress(zwriter *z, const void *data, size_t len, ZSTD_EndDirective mode)
{
    ZSTD_inBuffer in = {data, len, 0};
    for (;;) {
        ZSTD_outBuffer o = {z->out, z->out_cap, 0};
        size_t left = ZSTD_compressStream2(z->cctx, &o, &in, mode);
        if (ZSTD_isError(left))
            return reg_error_set(REG_ERROR, "zstd: %s", ZSTD_getErrorName(left));
        int err = fileio_write_all(z->fd, z->out, o.pos);
        if (err < 0)
            return err;
        z->bytes_out += o.pos;
        if (mode == ZSTD_e_continue ? in.pos == in.size : left == 0)
            return REG_OK;
    }
}

int zwriter_write(zwriter *z, const void *data, size_t len)
{
    return len ? compress(z, data, len, ZSTD_e_continue) : REG_OK;
}

int zwriter_finish(zwriter *z)
{
    return compress(z, NULL, 0, ZSTD_e_end);
}

uint64_t zwriter_bytes_out(const zwriter *z)
{
    return z->bytes_out;
}

void zwriter_free(zwriter *z)
{
    if (!z)
        return;
    ZSTD_freeCCtx(z->cctx);
    free(z->out);
    free(z);
}

struct zreader {
    int fd;
    int is_zstd;
    int eof;
    ZSTD_DCtx *dctx;
    unsigned char *in;
    size_t in_cap, in_pos, in_len;
    size_t frame_left; /* ZSTD_decompressStream's last hint: 0 between frames */
    uint64_t bytes_in;
};

/* Read more input behind what is still unconsumed. */
static int fill(zreader *z)
{
    if (z->in_pos > 0) {
        memmove(z->in, z->in + z->in_pos, z->in_len - z->in_pos);
        z->in_len -= z->in_pos;
        z->in_pos = 0;
    }
    while (z->in_len < z->in_cap) {
        ssize_t n = read(z->fd, z->in + z->in_len, z->in_cap - z->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return reg_error_set(REG_ERROR, "read: %s", strerror(errno));
        if (n == 0) {
            z->eof = 1;
            break;
        }
        z->in_len += (size_t)n;
        z->bytes_in += (uint64_t)n;
        if (!z->is_zstd || z->in_len >= 4)
            break;
    }
    return REG_OK;
}

int zreader_new(zreader **out, int fd)
{
    static const unsigned char magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    zreader *z = calloc(1, sizeof(*z));
    if (!z)
        return REG_ERROR;
    z->fd = fd;
    z->is_zstd = 1; /* until the first bytes say otherwise: fill() then reads 4 at least */
    z->in_cap = ZSTD_DStreamInSize();
    if (!(z->in = malloc(z->in_cap)) || fill(z) < 0)
        goto fail;
    z->is_zstd = z->in_len >= 4 && memcmp(z->in, magic, 4) == 0;
    if (z->is_zstd && !(z->dctx = ZSTD_createDCtx()))
        goto fail;
    *out = z;
    return REG_OK;
fail:
    zreader_free(z);
    return REG_ERROR;
}

static int read_plain(zreader *z, void *buf, size_t len, size_t *got)
{
    if (z->in_pos == z->in_len && !z->eof && fill(z) < 0)
        return REG_ERROR;
    size_t n = z->in_len - z->in_pos < len ? z->in_len - z->in_pos : len;
    memcpy(buf, z->in + z->in_pos, n);
    z->in_pos += n;
    *got = n;
    return REG_OK;
}

static int read_zstd(zreader *z, void *buf, size_t len, size_t *got)
{
    ZSTD_outBuffer o = {buf, len, 0};
    while (o.pos == 0) {
        if (z->in_pos == z->in_len) {
            if (z->eof)
                break;
            if (fill(z) < 0)
                return REG_ERROR;
            continue;
        }
        ZSTD_inBuffer in = {z->in, z->in_len, z->in_pos};
        size_t hint = ZSTD_decompressStream(z->dctx, &o, &in);
        if (ZSTD_isError(hint))
            return reg_error_set(REG_EINVALID, "the zstd data is corrupt (%s)",
                                 ZSTD_getErrorName(hint));
        z->in_pos = in.pos;
        z->frame_left = hint;
    }
    if (o.pos == 0 && z->frame_left != 0)
        return reg_error_set(REG_EINVALID, "the archive is truncated: it ends inside a zstd frame");
    *got = o.pos;
    return REG_OK;
}

int zreader_read(zreader *z, void *buf, size_t len, size_t *got)
{
    *got = 0;
    if (len == 0)
        return REG_OK;
    return z->is_zstd ? read_zstd(z, buf, len, got) : read_plain(z, buf, len, got);
}

uint64_t zreader_bytes_in(const zreader *z)
{
    return z->bytes_in;
}

void zreader_free(zreader *z)
{
    if (!z)
        return;
    ZSTD_freeDCtx(z->dctx);
    free(z->in);
    free(z);
}
