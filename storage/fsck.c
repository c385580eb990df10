/* fsck.c - data folder verification and safe repair (see fsck.h). */
#include "storage/fsck.h"
#include "storage/index/index_fsck.h"
#include "storage/index/index_gc.h"
#include "storage/base/buf.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct bad_blob {
    digest dg;
    int corrupt; /* else missing */
} bad_blob;

typedef struct fsck_ctx {
    store *st;
    index_db *ix;
    const fsck_options *opt;
    fsck_report *rep;
    bad_blob *bad;
    size_t nbad, capbad;
} fsck_ctx;

static void problem(fsck_ctx *c, const char *kind, const char *what, int fixed)
{
    c->rep->problems++;
    c->rep->repaired += fixed;
    if (c->opt->problem)
        c->opt->problem(c->opt->ctx, kind, what,
                        fixed ? (strstr(kind, "corrupt") ? "quarantined" : "removed") : "");
}

static int remember_bad(fsck_ctx *c, const digest *d, int corrupt)
{
    if (buf_grow_array((void **)&c->bad, &c->capbad, c->nbad, sizeof(*c->bad), SIZE_MAX) < 0)
        return REG_ERROR;
    c->bad[c->nbad].dg = *d;
    c->bad[c->nbad++].corrupt = corrupt;
    return REG_OK;
}

/* Read the whole file back and compare size and digest with the row. */
static int check_blob(void *ctx, const char *digest_text, int64_t size)
{
    fsck_ctx *c = ctx;
    digest d, actual;
    uint64_t file_size = 0;
    int fd = -1;
    if (digest_parse(&d, digest_text) < 0) {
        /* Rows are written from parsed digests: one that does not parse was damaged. */
        problem(c, "invalid-digest-row", digest_text ? digest_text : "(null)", 0);
        return REG_OK;
    }
    int err = blobstore_open_blob(&fd, &file_size, c->st->blobs, c->ix, &d);
    if (err == REG_ENOTFOUND)
        return remember_bad(c, &d, 0);
    if (err < 0)
        return err;
    int corrupt = file_size != (uint64_t)size || digest_file(&actual, d.alg, fd, file_size) < 0 ||
                  strcmp(actual.str, d.str);
    close(fd);
    c->rep->blobs_checked++;
    c->rep->bytes_checked += (int64_t)file_size;
    if (c->opt->progress)
        c->opt->progress(c->opt->ctx, c->rep->blobs_checked, c->rep->bytes_checked);
    return corrupt ? remember_bad(c, &d, 1) : REG_OK;
}

/* Quarantine a corrupt file; drop the row of a missing or corrupt blob nothing uses. */
static int repair_blob(fsck_ctx *c, const bad_blob *b, int *fixed)
{
    int quarantined = 0; /* a corrupt blob the index holds has no file to move */
    *fixed = 0;
    if (!c->opt->repair)
        return REG_OK;
    if (b->corrupt) {
        int err = blobstore_quarantine(c->st->blobs, &b->dg);
        if (err < 0 && err != REG_ENOTFOUND)
            return err;
        quarantined = err == REG_OK;
    }
    int err = index_begin(c->ix);
    if (err < 0)
        return err;
    if ((err = index_end(c->ix, index_fsck_drop_blob(c->ix, b->dg.str))) == REG_OK)
        *fixed = 1;
    /* A corrupt file that a manifest still needs stays quarantined: report it as such. */
    if (err == REG_ECONFLICT && quarantined)
        *fixed = 1;
    return err == REG_ECONFLICT ? REG_OK : err;
}

static int report_bad_blobs(fsck_ctx *c)
{
    for (size_t i = 0; i < c->nbad; i++) {
        int fixed = 0, err = repair_blob(c, &c->bad[i], &fixed);
        if (err < 0)
            return err;
        problem(c, c->bad[i].corrupt ? "corrupt-blob" : "missing-blob", c->bad[i].dg.str, fixed);
    }
    return REG_OK;
}

/* What a crash is expected to leave (design: the file is written before its row), and what gc
 * reclaims: counted apart from damage, with its size. */
static void garbage(fsck_ctx *c, const char *kind, const char *what, int64_t size)
{
    c->rep->garbage++;
    c->rep->garbage_bytes += size;
    if (c->opt->garbage)
        c->opt->garbage(c->opt->ctx, kind, what, size);
}

static int check_file(void *ctx, const digest *d)
{
    fsck_ctx *c = ctx;
    int known = 1;
    uint64_t size = 0;
    int64_t mtime = 0;
    int err = index_gc_blob_known(&known, c->ix, d->str);
    if (err < 0 || known)
        return err;
    err = blobstore_stat(&size, &mtime, c->st->blobs, d);
    if (err == REG_ENOTFOUND)
        return REG_OK; /* gone meanwhile (gc ran) */
    if (err == REG_OK)
        garbage(c, "orphan-file", d->str, (int64_t)size);
    return err;
}

static int check_upload(void *ctx, const char *id, uint64_t bytes)
{
    garbage(ctx, "upload-spool", id, (int64_t)bytes);
    return REG_OK;
}

typedef struct dangling {
    char kind[24];
    char repo[256];
    char a[DIGEST_MAX + 128];
    char b[DIGEST_MAX];
} dangling;

typedef struct dangling_list {
    dangling *items;
    size_t n, cap;
} dangling_list;

/* Collected first: rows are repaired after the query has finished. */
static int collect_row(void *ctx, const char *kind, const char *repo, const char *a, const char *b)
{
    dangling_list *l = ctx;
    if (buf_grow_array((void **)&l->items, &l->cap, l->n, sizeof(*l->items), SIZE_MAX) < 0)
        return REG_ERROR;
    dangling *d = &l->items[l->n++];
    snprintf(d->kind, sizeof(d->kind), "%s", kind);
    snprintf(d->repo, sizeof(d->repo), "%s", repo ? repo : "");
    snprintf(d->a, sizeof(d->a), "%s", a ? a : "");
    snprintf(d->b, sizeof(d->b), "%s", b ? b : "");
    return REG_OK;
}

/* Dangling tags and repository links lose nothing when removed; the rest is reported. */
static int repair_row(fsck_ctx *c, const dangling *d, int *fixed)
{
    int tag = !strcmp(d->kind, "tag"), link = !strcmp(d->kind, "link");
    *fixed = 0;
    if (!c->opt->repair || (!tag && !link))
        return REG_OK;
    int err = index_begin(c->ix);
    if (err < 0)
        return err;
    err = tag ? index_fsck_drop_tag(c->ix, d->repo, d->a)
              : index_fsck_drop_link(c->ix, d->repo, d->a);
    if ((err = index_end(c->ix, err)) == REG_OK)
        *fixed = 1;
    return err;
}

static int check_rows(fsck_ctx *c)
{
    static const struct {
        const char *kind, *name;
    } names[] = {{"tag", "dangling-tag"},
                 {"link", "dangling-link"},
                 {"manifest-blob", "manifest-without-blob"},
                 {"reference", "missing-reference"},
                 {"child", "missing-child"}};
    dangling_list l = {0};
    int err = index_fsck_dangling(c->ix, collect_row, &l);
    for (size_t i = 0; err == REG_OK && i < l.n; i++) {
        const dangling *d = &l.items[i];
        char what[sizeof(d->repo) + sizeof(d->a) + sizeof(d->b) + 8];
        int fixed = 0;
        if ((err = repair_row(c, d, &fixed)) < 0)
            break;
        snprintf(what, sizeof(what), "%s %s%s%s", d->repo, d->a, d->b[0] ? " -> " : "", d->b);
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            if (!strcmp(d->kind, names[k].kind))
                problem(c, names[k].name, what, fixed);
    }
    free(l.items);
    return err;
}

int fsck_run(fsck_report *out, store *st, index_db *ix, const fsck_options *opt)
{
    fsck_ctx c = {.st = st, .ix = ix, .opt = opt, .rep = out};
    char msg[256];
    memset(out, 0, sizeof(*out));
    if (index_fsck_integrity(msg, sizeof(msg), ix) < 0)
        problem(&c, "index", msg, 0);
    int err = index_fsck_blobs(ix, check_blob, &c);
    if (err == REG_OK)
        err = report_bad_blobs(&c);
    if (err == REG_OK)
        err = blobstore_walk(st->blobs, check_file, &c);
    if (err == REG_OK)
        err = upload_leftovers(st->uploads, check_upload, &c);
    if (err == REG_OK)
        err = check_rows(&c);
    free(c.bad);
    return err;
}
