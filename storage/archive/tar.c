/* tar.c - streaming ustar/pax writer and reader (see tar.h). Header layout from POSIX
 * pax(1): name 0..100, mode 100, uid 108, gid 116, size 124, mtime 136, chksum 148,
 * typeflag 156, linkname 157, magic 257, version 263, uname 265, gname 297, prefix 345. */
#include "storage/archive/tar.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OCTAL_SIZE_LIMIT 077777777777ull /* 11 octal digits: just under 8 GiB */
#define MAX_EXTENSIONS   8               /* pax/GNU headers in front of one entry */

static const unsigned char zero_block[TAR_BLOCK];

/* ---- writer ---- */

void tar_writer_init(tar_writer *w, tar_sink sink, void *ctx)
{
    memset(w, 0, sizeof(*w));
    w->sink = sink;
    w->ctx = ctx;
}

static void put_octal(char *field, size_t width, uint64_t value)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%0*llo", (int)(width - 1), (unsigned long long)value);
    memcpy(field, tmp, width - 1);
    field[width - 1] = '\0';
}

void tar_put_checksum(unsigned char *h)
{
    unsigned sum = 0;
    memset(h + 148, ' ', 8);
    for (int i = 0; i < TAR_BLOCK; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
}

/* Split a long name into ustar's prefix and name fields; 0 when it cannot be. */
static int split_name(unsigned char *h, const char *name)
{
    size_t len = strlen(name);
    for (const char *slash = strchr(name, '/'); slash; slash = strchr(slash + 1, '/')) {
        size_t plen = (size_t)(slash - name);
        if (plen <= 155 && len - plen - 1 <= 100 && len - plen - 1 > 0) {
            memcpy(h + 345, name, plen);
            memcpy(h, slash + 1, len - plen - 1);
            return 1;
        }
    }
    return 0;
}

/* Fill in everything but the name fields and write the header block. */
static int put_block(tar_writer *w, unsigned char *h, char type, uint64_t size, unsigned mode,
                     int64_t mtime)
{
    put_octal((char *)h + 100, 8, mode & 07777);
    put_octal((char *)h + 108, 8, 0);
    put_octal((char *)h + 116, 8, 0);
    put_octal((char *)h + 124, 12, size <= OCTAL_SIZE_LIMIT ? size : 0);
    put_octal((char *)h + 136, 12, mtime > 0 ? (uint64_t)mtime : 0);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    tar_put_checksum(h);
    return w->sink(w->ctx, h, TAR_BLOCK);
}

/* One pax record "<len> <key>=<value>\n", where len counts the whole record. */
static int pax_record(char *out, size_t n, const char *key, const char *value)
{
    size_t body = 1 + strlen(key) + 1 + strlen(value) + 1;
    size_t len = body + 1;
    while (len != body + (size_t)snprintf(NULL, 0, "%zu", len))
        len = body + (size_t)snprintf(NULL, 0, "%zu", len);
    if (len >= n)
        return -1;
    return snprintf(out, n, "%zu %s=%s\n", len, key, value);
}

static int write_padded(tar_writer *w, const void *data, size_t len)
{
    int err = w->sink(w->ctx, data, len);
    size_t pad = (TAR_BLOCK - len % TAR_BLOCK) % TAR_BLOCK;
    return err < 0 || pad == 0 ? err : w->sink(w->ctx, zero_block, pad);
}

static int put_pax(tar_writer *w, const char *name, int long_name, uint64_t size)
{
    char records[TAR_NAME_MAX + 128], num[32];
    unsigned char h[TAR_BLOCK] = {0};
    int len = 0, n;
    if (long_name) {
        if ((n = pax_record(records, sizeof(records), "path", name)) < 0)
            return reg_error_set(REG_EINVALID, "tar entry name %.120s is too long", name);
        len += n;
    }
    if (size > OCTAL_SIZE_LIMIT) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)size);
        if ((n = pax_record(records + len, sizeof(records) - (size_t)len, "size", num)) < 0)
            return reg_error_set(REG_EINVALID, "tar entry name %.120s is too long", name);
        len += n;
    }
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    snprintf((char *)h, 100, "PaxHeaders/%.80s", base);
    int err = put_block(w, h, 'x', (uint64_t)len, 0644, 0);
    return err < 0 ? err : write_padded(w, records, (size_t)len);
}

int tar_put_header(tar_writer *w, const char *name, char type, uint64_t size, unsigned mode,
                   int64_t mtime)
{
    unsigned char h[TAR_BLOCK] = {0};
    size_t len = strlen(name);
    int long_name = 0, err;
    if (len == 0 || len >= TAR_NAME_MAX)
        return reg_error_set(REG_EINVALID, "tar entry name \"%.120s\" is empty or too long", name);
    if (len <= 100) {
        memcpy(h, name, len);
    } else if (!split_name(h, name)) {
        long_name = 1; /* the pax path holds it; the ustar field a truncated copy */
        memcpy(h, name, 99);
    }
    if ((long_name || size > OCTAL_SIZE_LIMIT) && (err = put_pax(w, name, long_name, size)) < 0)
        return err;
    if ((err = put_block(w, h, type, size, mode, mtime)) < 0)
        return err;
    w->left = w->size = type == TAR_DIR ? 0 : size;
    return REG_OK;
}

int tar_put_data(tar_writer *w, const void *data, size_t len)
{
    if (len > w->left)
        return reg_error_set(REG_EINVALID, "more data than the tar entry's declared size");
    w->left -= len;
    return len ? w->sink(w->ctx, data, len) : REG_OK;
}

int tar_end_entry(tar_writer *w)
{
    if (w->left)
        return reg_error_set(REG_EINVALID, "a tar entry ended before its declared size");
    size_t pad = (size_t)((TAR_BLOCK - w->size % TAR_BLOCK) % TAR_BLOCK);
    return pad ? w->sink(w->ctx, zero_block, pad) : REG_OK;
}

int tar_put_end(tar_writer *w)
{
    int err = w->sink(w->ctx, zero_block, TAR_BLOCK);
    return err < 0 ? err : w->sink(w->ctx, zero_block, TAR_BLOCK);
}

/* ---- reader ---- */

void tar_reader_init(tar_reader *r, tar_source source, void *ctx)
{
    memset(r, 0, sizeof(*r));
    r->source = source;
    r->ctx = ctx;
}

/* Exactly n bytes. With ended_clean, an input that ends before the first byte is not an
 * error: *ended_clean is set instead. */
static int read_exact(tar_reader *r, void *buf, size_t n, int *ended_clean)
{
    size_t done = 0, got;
    if (ended_clean)
        *ended_clean = 0;
    while (done < n) {
        int err = r->source(r->ctx, (char *)buf + done, n - done, &got);
        if (err < 0)
            return err;
        if (got == 0) {
            if (done == 0 && ended_clean) {
                *ended_clean = 1;
                return REG_OK;
            }
            return reg_error_set(REG_EINVALID,
                                 "the archive is truncated (it ends inside entry %llu)",
                                 (unsigned long long)r->count + 1);
        }
        done += got;
    }
    return REG_OK;
}

static int skip(tar_reader *r, uint64_t n)
{
    unsigned char scratch[16384];
    while (n > 0) {
        size_t chunk = n < sizeof(scratch) ? (size_t)n : sizeof(scratch);
        int err = read_exact(r, scratch, chunk, NULL);
        if (err < 0)
            return err;
        n -= chunk;
    }
    return REG_OK;
}

/* A numeric field: octal (space or NUL terminated), or GNU base-256 when the top bit is set. */
static int parse_number(uint64_t *out, const unsigned char *f, size_t width)
{
    uint64_t v = 0;
    size_t i = 0;
    if (f[0] & 0x80) {
        if (f[0] != 0x80)
            return -1; /* negative or over 2^56 in the first byte */
        for (i = 1; i < width; i++) {
            if (v >> 56)
                return -1;
            v = (v << 8) | f[i];
        }
        *out = v;
        return 0;
    }
    while (i < width && f[i] == ' ')
        i++;
    for (; i < width && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60)
            return -1;
        v = v * 8 + (uint64_t)(f[i] - '0');
    }
    if (i < width && f[i] != ' ' && f[i] != '\0')
        return -1;
    *out = v;
    return 0;
}

static int checksum_ok(const unsigned char *h)
{
    uint64_t stored;
    unsigned sum = 0;
    int ssum = 0;
    if (parse_number(&stored, h + 148, 8) < 0)
        return 0;
    for (int i = 0; i < TAR_BLOCK; i++) {
        unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];
        sum += c;
        ssum += (signed char)c;
    }
    return stored == sum || (int64_t)stored == ssum;
}

static int is_zero(const unsigned char *b)
{
    return memcmp(b, zero_block, TAR_BLOCK) == 0;
}

typedef struct pending {
    char name[TAR_NAME_MAX];
    int has_name, has_size;
    uint64_t size;
} pending;

/* The content of an extension header, NUL-terminated, into a fresh buffer. */
static int read_extension(char **out, tar_reader *r, uint64_t size, const char *what)
{
    if (size > TAR_EXTENDED_MAX)
        return reg_error_set(
            REG_EINVALID, "entry %llu: a %s header of %llu bytes is larger than the %d accepted",
            (unsigned long long)r->count + 1, what, (unsigned long long)size, TAR_EXTENDED_MAX);
    char *text = malloc((size_t)size + 1);
    if (!text)
        return reg_error_set(REG_ERROR, "out of memory");
    int err = read_exact(r, text, (size_t)size, NULL);
    if (err == REG_OK)
        err = skip(r, (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK);
    if (err < 0) {
        free(text);
        return err;
    }
    text[size] = '\0';
    *out = text;
    return REG_OK;
}

static int pax_value(pending *p, const char *key, const char *value, size_t len)
{
    if (memchr(value, '\0', len))
        return reg_error_set(REG_EINVALID, "a pax header value holds a NUL byte");
    if (!strcmp(key, "path")) {
        if (len >= TAR_NAME_MAX)
            return reg_error_set(REG_EINVALID, "a pax path of %zu bytes is too long", len);
        memcpy(p->name, value, len);
        p->name[len] = '\0';
        p->has_name = 1;
    } else if (!strcmp(key, "size")) {
        char *end;
        if (len == 0 || len > 19 || value[0] < '0' || value[0] > '9')
            return reg_error_set(REG_EINVALID, "a pax size is invalid");
        p->size = strtoull(value, &end, 10);
        if (end != value + len)
            return reg_error_set(REG_EINVALID, "a pax size is invalid");
        p->has_size = 1;
    }
    return REG_OK;
}

/* Records "<len> <key>=<value>\n"; keys other than path and size are ignored. */
static int parse_pax(pending *p, char *text, size_t size)
{
    size_t pos = 0;
    while (pos < size) {
        char *end;
        unsigned long len = strtoul(text + pos, &end, 10);
        if (end == text + pos || *end != ' ' || len > size - pos || len < 5 ||
            text[pos + len - 1] != '\n')
            return reg_error_set(REG_EINVALID, "a pax header record is malformed");
        char *key = end + 1, *eq = memchr(key, '=', (size_t)(text + pos + len - 1 - key));
        if (!eq)
            return reg_error_set(REG_EINVALID, "a pax header record has no '='");
        *eq = '\0';
        int err = pax_value(p, key, eq + 1, (size_t)(text + pos + len - 1 - (eq + 1)));
        if (err < 0)
            return err;
        pos += len;
    }
    return REG_OK;
}

/* Apply one pax ('x', 'g') or GNU ('L', 'K') header to what the next entry gets. */
static int read_extension_header(pending *p, tar_reader *r, char type, uint64_t size)
{
    char *text = NULL;
    int err = read_extension(&text, r, size, type == 'L' || type == 'K' ? "GNU long name" : "pax");
    if (err < 0)
        return err;
    if (type == 'x') {
        err = parse_pax(p, text, (size_t)size);
    } else if (type == 'L') {
        size_t len = strnlen(text, (size_t)size);
        if (len >= TAR_NAME_MAX)
            err = reg_error_set(REG_EINVALID, "a GNU long name of %zu bytes is too long", len);
        else
            memcpy(p->name, text, len + 1);
        p->has_name = 1;
    }
    free(text); /* 'g' (global pax) and 'K' (long link target) carry nothing we use */
    return err;
}

/* After the first zero block: a second one, or the end of the input. */
static int read_end_marker(tar_reader *r)
{
    unsigned char b[TAR_BLOCK];
    int ended = 0;
    int err = read_exact(r, b, TAR_BLOCK, &ended);
    if (err < 0)
        return err;
    if (!ended && !is_zero(b))
        return reg_error_set(REG_EINVALID, "a zero block sits in the middle of the archive");
    return REG_ENOTFOUND;
}

static void entry_name(tar_entry *out, const unsigned char *h, const pending *p)
{
    if (p->has_name) {
        snprintf(out->name, sizeof(out->name), "%s", p->name);
    } else if (memcmp(h + 257, "ustar\0", 6) == 0 && h[345]) {
        snprintf(out->name, sizeof(out->name), "%.155s/%.100s", (const char *)h + 345,
                 (const char *)h);
    } else {
        snprintf(out->name, sizeof(out->name), "%.100s", (const char *)h);
    }
}

static int read_header(unsigned char *h, tar_reader *r)
{
    int ended = 0;
    int err = read_exact(r, h, TAR_BLOCK, &ended);
    if (err < 0)
        return err;
    if (ended)
        return reg_error_set(
            REG_EINVALID, "the archive is truncated (no end-of-archive marker after %llu entries)",
            (unsigned long long)r->count);
    if (is_zero(h))
        return read_end_marker(r);
    if (!checksum_ok(h))
        return reg_error_set(
            REG_EINVALID,
            "entry %llu: the header checksum is wrong (a corrupt archive, or not a "
            "tar archive)",
            (unsigned long long)r->count + 1);
    if (memcmp(h + 257, "ustar", 5) != 0)
        return reg_error_set(REG_EINVALID, "entry %llu: not a ustar, pax or GNU tar header",
                             (unsigned long long)r->count + 1);
    return REG_OK;
}

int tar_next(tar_entry *out, tar_reader *r)
{
    unsigned char h[TAR_BLOCK];
    pending p = {0};
    int err = skip(r, r->left + r->pad);
    r->left = r->pad = 0;
    for (int n = 0; err == REG_OK; n++) {
        uint64_t size, mode;
        if ((err = read_header(h, r)) < 0)
            return err;
        if (parse_number(&size, h + 124, 12) < 0 || parse_number(&mode, h + 100, 8) < 0)
            return reg_error_set(REG_EINVALID, "entry %llu: a numeric header field is malformed",
                                 (unsigned long long)r->count + 1);
        char type = h[156] ? (char)h[156] : TAR_FILE;
        if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
            if (n == MAX_EXTENSIONS)
                return reg_error_set(REG_EINVALID, "entry %llu: too many extension headers",
                                     (unsigned long long)r->count + 1);
            err = read_extension_header(&p, r, type, size);
            continue;
        }
        memset(out, 0, sizeof(*out));
        entry_name(out, h, &p);
        out->type = type;
        out->mode = (unsigned)(mode & 07777);
        out->size = p.has_size ? p.size : size;
        if (type == TAR_DIR || type == '1' || type == '2' || type == '3' || type == '4' ||
            type == '6')
            out->size = 0; /* no data follows these, whatever the size field says */
        r->left = out->size;
        r->pad = (unsigned)((TAR_BLOCK - out->size % TAR_BLOCK) % TAR_BLOCK);
        r->count++;
        return REG_OK;
    }
    return err;
}

int tar_read(tar_reader *r, void *buf, size_t len, size_t *got)
{
    size_t n = r->left < len ? (size_t)r->left : len;
    *got = 0;
    if (n == 0)
        return REG_OK;
    int err = read_exact(r, buf, n, NULL);
    if (err < 0)
        return err;
    r->left -= n;
    *got = n;
    return REG_OK;
}
