/* gc.c - garbage collection (see gc.h). Each phase works in bounded batches, one write
 * transaction each, so a running server's pushes wait milliseconds, not the whole run. A
 * dry run wraps everything in one transaction and rolls it back, so it reports exactly what a
 * real run would delete. */
#include "storage/gc.h"
#include "storage/events.h"
#include "storage/gc_list.h"
#include "storage/outbox.h"
#include "storage/index/index_fsck.h"
#include "storage/index/index_repos.h"
#include "storage/base/strmap.h"
#include "storage/lifecycle.h"
#include "storage/base/buf.h"
#include "storage/base/reg_error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 256
/* Blob deletions per transaction. Each commit writes every page its deletions touched, and
 * inline blobs' rows lie in push order while a batch goes in digest order, so a batch touches
 * pages all over blob_data: fewer, larger batches write each page fewer times (10,000 images,
 * 15,000 blobs: 0.50 s in batches of 2,048, 0.35 s of 8,192, and one batch of 16,384 writes
 * each page once). The writer mutex is held about 15 us per blob, so a push waits at most
 * about a quarter of a second behind one. */
#define SWEEP_BATCH 16384
#define MAX_DEPTH   8

typedef struct gc_ctx {
    store *st;
    index_db *ix;
    const gc_options *opt;
    gc_report *rep;
    int64_t now, cutoff;
} gc_ctx;

static void progress(gc_ctx *c, const char *phase, int64_t count)
{
    if (c->opt->progress)
        c->opt->progress(c->opt->progress_ctx, phase, count);
}

/* In a dry run the whole run is one transaction; otherwise each batch is. */
static int batch_begin(gc_ctx *c)
{
    return c->opt->dry_run ? REG_OK : index_begin(c->ix);
}

static int batch_end(gc_ctx *c, int err)
{
    if (c->opt->dry_run)
        return err;
    if ((err = index_end(c->ix, err)) == REG_OK)
        outbox_wake(); /* for the DELETE events of what went, if any webhook wants them */
    return err;
}

/* Delete a manifest and then whatever only it kept (index children, referrers). */
static int delete_cascade(gc_ctx *c, const char *repo, const char *digest_text, int depth)
{
    gc_manifest deps[BATCH];
    size_t ndeps = 0;
    char conflict[DIGEST_MAX];
    digest d;
    if (digest_parse(&d, digest_text) < 0)
        return REG_OK;
    int err = index_gc_dependents(deps, BATCH, &ndeps, c->ix, repo, digest_text);
    if (err < 0)
        return err;
    err = index_manifest_delete(conflict, c->ix, repo, &d);
    if (err == REG_ECONFLICT || err == REG_ENOTFOUND)
        return REG_OK; /* still listed by an index, or already gone */
    event ev = {.type = EVENT_DELETE, .repository = repo, .digest = digest_text};
    if (err < 0 || (err = events_queue(NULL, c->ix, &ev)) < 0)
        return err;
    c->rep->totals.manifests_deleted++;
    for (size_t i = 0; err == REG_OK && depth < MAX_DEPTH && i < ndeps; i++) {
        int kept = 1;
        err = index_gc_is_kept(&kept, c->ix, repo, deps[i].digest);
        if (err == REG_ENOTFOUND)
            err = REG_OK;
        else if (err == REG_OK && !kept)
            err = delete_cascade(c, repo, deps[i].digest, depth + 1);
    }
    return err;
}

typedef struct image_list {
    lifecycle_image *images;
    char **owned; /* digests and tag arrays we copied */
    size_t n, cap, nowned;
} image_list;

static void image_list_free(image_list *l)
{
    for (size_t i = 0; i < l->nowned; i++)
        free(l->owned[i]);
    for (size_t i = 0; i < l->n; i++)
        free((void *)l->images[i].tags);
    free(l->owned);
    free(l->images);
}

static char *own(image_list *l, const char *s)
{
    char *copy = strdup(s ? s : "");
    char **grown = copy ? realloc(l->owned, (l->nowned + 1) * sizeof(*grown)) : NULL;
    if (!grown) {
        free(copy);
        return NULL;
    }
    l->owned = grown;
    l->owned[l->nowned++] = copy;
    return copy;
}

/* Split "a,b,c" (already owned) in place into a tag array. */
static int split_tags(lifecycle_image *img, char *tags)
{
    size_t n = *tags ? 1 : 0;
    for (char *p = tags; *p; p++)
        n += *p == ',';
    const char **list = n ? calloc(n, sizeof(*list)) : NULL;
    if (n && !list)
        return REG_ERROR;
    img->ntags = 0;
    for (char *save = NULL, *t = n ? strtok_r(tags, ",", &save) : NULL; t;
         t = strtok_r(NULL, ",", &save))
        list[img->ntags++] = t;
    img->tags = list;
    return REG_OK;
}

/* Lifecycle rules see images: manifests that are not an index's child or a referrer. */
static int collect_image(void *ctx, const image_info *info)
{
    image_list *l = ctx;
    if (info->child || info->subject)
        return REG_OK;
    if (buf_grow_array((void **)&l->images, &l->cap, l->n, sizeof(*l->images), SIZE_MAX) < 0)
        return REG_ERROR;
    lifecycle_image *img = &l->images[l->n];
    memset(img, 0, sizeof(*img));
    char *tags = own(l, info->tags);
    if (!(img->digest = own(l, info->digest)) || !tags || split_tags(img, tags) < 0)
        return REG_ERROR;
    img->pushed_at = info->pushed_at;
    l->n++;
    return REG_OK;
}

static void report_expired(gc_ctx *c, const char *repo, const lifecycle_image *img, int rule)
{
    char tags[1024] = "";
    size_t len = 0;
    for (size_t i = 0; i < img->ntags && len < sizeof(tags); i++)
        len += (size_t)snprintf(tags + len, sizeof(tags) - len, "%s%s", i ? "," : "", img->tags[i]);
    if (c->opt->expired)
        c->opt->expired(c->opt->expired_ctx, repo, img->digest, tags, rule);
}

/* Evaluate a policy over a repository's images and call cb for each expiring one. */
static int select_expiring(index_db *ix, const char *repo, const char *text, int64_t now,
                           gc_expire_cb cb, void *ctx)
{
    lifecycle_policy *policy = NULL;
    image_list list = {0};
    int *expire = NULL;
    int err = lifecycle_parse(&policy, text);
    if (err < 0)
        return err;
    if ((err = index_images(ix, repo, collect_image, &list)) < 0)
        goto done;
    if (list.n && !(expire = calloc(list.n, sizeof(*expire)))) {
        err = REG_ERROR;
        goto done;
    }
    if (list.n && (err = lifecycle_evaluate(policy, list.images, list.n, now, expire)) < 0)
        goto done;
    for (size_t i = 0; err == REG_OK && i < list.n; i++) {
        const lifecycle_image *img = &list.images[i];
        if (expire[i])
            err = cb(ctx, img->digest, img->tags, img->ntags, img->pushed_at, expire[i]);
    }
done:
    free(expire);
    image_list_free(&list);
    lifecycle_free(policy);
    return err;
}

int gc_lifecycle_preview(index_db *ix, const char *repo, const char *policy_text, gc_expire_cb cb,
                         void *ctx)
{
    return select_expiring(ix, repo, policy_text, (int64_t)time(NULL), cb, ctx);
}

typedef struct expire_ctx {
    gc_ctx *c;
    const char *repo;
} expire_ctx;

static int expire_one(void *ctx, const char *digest, const char *const *tags, size_t ntags,
                      int64_t pushed_at, int rule)
{
    expire_ctx *e = ctx;
    lifecycle_image img = {.digest = digest, .tags = tags, .ntags = ntags, .pushed_at = pushed_at};
    int err = batch_begin(e->c);
    report_expired(e->c, e->repo, &img, rule);
    e->c->rep->images_expired++;
    return err == REG_OK ? batch_end(e->c, delete_cascade(e->c, e->repo, digest, 0)) : err;
}

static int expire_repo(gc_ctx *c, const char *repo)
{
    char *text = NULL;
    expire_ctx e = {c, repo};
    int err = index_repo_policy(&text, c->ix, repo);
    if (err == REG_ENOTFOUND)
        return REG_OK;
    if (err == REG_OK)
        err = select_expiring(c->ix, repo, text, c->now, expire_one, &e);
    if (err == REG_EINVALID) {
        snprintf(c->rep->warning, sizeof(c->rep->warning), "%s: policy skipped: %s", repo,
                 reg_error_last("invalid policy"));
        reg_error_clear(); /* handled: the run goes on */
        err = REG_OK;
    }
    free(text);
    return err;
}

static int collect_policy_repo(void *ctx, const repo_info *info)
{
    return info->has_policy ? strlist_collect(ctx, info->name) : REG_OK;
}

/* Every repository with a policy; one named repository through index_repo_infos, which
 * answers REG_ENOTFOUND when it does not exist. */
static int apply_lifecycle(gc_ctx *c)
{
    strlist repos = {0};
    const char *only = c->opt->only_repo;
    int err = only ? index_repo_infos(c->ix, only, NULL, 1, collect_policy_repo, &repos)
                   : index_repos_with_policy(c->ix, NULL, strlist_collect, &repos);
    for (size_t i = 0; err == REG_OK && i < repos.n; i++) {
        err = expire_repo(c, repos.items[i]);
        progress(c, "lifecycle", (int64_t)i + 1);
    }
    strlist_free(&repos);
    return err;
}

static int delete_untagged(gc_ctx *c)
{
    gc_manifest batch[BATCH];
    size_t n;
    int err;
    do {
        if ((err = batch_begin(c)) < 0)
            return err;
        err = index_gc_untagged(batch, BATCH, &n, c->ix, c->cutoff);
        for (size_t i = 0; err == REG_OK && i < n; i++)
            err = delete_cascade(c, batch[i].repo, batch[i].digest, 0);
        if ((err = batch_end(c, err)) < 0)
            return err;
        progress(c, "untagged", c->rep->totals.manifests_deleted);
    } while (n == BATCH);
    return REG_OK;
}

/* The files (or S3 objects) of a batch whose rows are gone, removed on a thread. */
typedef struct removal {
    blobstore *bs;
    digest *gone;
    size_t n;
    int err;
    int threaded;
    pthread_t thread;
} removal;

static void *remove_gone(void *arg)
{
    removal *r = arg;
    r->err = blobstore_remove_many(r->bs, r->gone, r->n);
    return NULL;
}

/* Inside a write transaction: keep the blobs whose rows have not come back (a push links a
 * blob under the same write lock, so a file is never deleted while a row points at it), and
 * start removing them. */
static int start_removal(removal *r, gc_ctx *c, const gc_blob *batch, size_t n)
{
    int known = 0, err = REG_OK;
    if (!(r->gone = malloc(n * sizeof(*r->gone))))
        return REG_ERROR;
    for (size_t i = 0; err == REG_OK && i < n; i++)
        if (!batch[i].held &&
            (err = index_gc_blob_known(&known, c->ix, batch[i].dg.str)) == REG_OK && !known)
            r->gone[r->n++] = batch[i].dg;
    if (err < 0 || !r->n)
        return err;
    r->threaded = pthread_create(&r->thread, NULL, remove_gone, r) == 0;
    if (!r->threaded)
        remove_gone(r);
    return REG_OK;
}

static int finish_removal(removal *r, int err)
{
    if (r->threaded)
        pthread_join(r->thread, NULL);
    free(r->gone);
    return err < 0 ? err : r->err;
}

/* In the write transaction: list the next batch, then delete its rows. */
static int delete_listed(gc_ctx *c, gc_blob *next, size_t *n, const char *after)
{
    int err = index_gc_unreferenced_blobs(next, SWEEP_BATCH, n, c->ix, c->cutoff, after);
    for (size_t i = 0; err == REG_OK && i < *n; i++)
        err = index_gc_delete_blob(&next[i].held, c->ix, next[i].dg.str);
    return err;
}

/* The same, with the listing on opt->lister's thread (gc_list.h): each row is deleted as soon
 * as it is listed. */
static int delete_listed_beside(gc_ctx *c, gc_blob *next, size_t *n, const char *after)
{
    gc_lister *l = NULL;
    int err = gc_lister_start(&l, c->opt->lister, next, SWEEP_BATCH, c->cutoff, after);
    if (err < 0)
        return err;
    for (size_t i = 0; err == REG_OK && gc_lister_wait(l, i); i++)
        err = index_gc_delete_blob(&next[i].held, c->ix, next[i].dg.str);
    int listed = gc_lister_finish(l, n);
    return err < 0 ? err : listed;
}

/* One write transaction. The files of the previous batch, whose rows an earlier transaction
 * deleted, are removed while this one deletes the rows of the next batch (unless `next` is
 * NULL): the unlinks wait on the disk, the row deletions on the CPU. A gc interrupted before
 * the files go leaves them behind, and a later orphan pass removes them. */
static int sweep_step(gc_ctx *c, const gc_blob *prev, size_t nprev, gc_blob *next, size_t *n,
                      const char *after)
{
    removal r = {.bs = c->st->blobs};
    int err = batch_begin(c);
    if (err < 0)
        return err;
    if (nprev)
        err = start_removal(&r, c, prev, nprev);
    *n = 0;
    if (err == REG_OK && next)
        err = c->opt->lister && !c->opt->dry_run ? delete_listed_beside(c, next, n, after)
                                                 : delete_listed(c, next, n, after);
    return batch_end(c, finish_removal(&r, err));
}

static int sweep_blobs(gc_ctx *c)
{
    char after[DIGEST_MAX] = "";
    gc_blob *prev = malloc(SWEEP_BATCH * sizeof(*prev));
    gc_blob *next = malloc(SWEEP_BATCH * sizeof(*next));
    size_t nprev = 0, n = SWEEP_BATCH;
    int err = prev && next ? REG_OK : REG_ERROR;
    while (err == REG_OK && n == SWEEP_BATCH) {
        if ((err = sweep_step(c, prev, nprev, next, &n, after)) < 0)
            break;
        for (size_t i = 0; i < n; i++) {
            c->rep->totals.blobs_deleted++;
            c->rep->totals.bytes_freed += next[i].size;
        }
        if (n)
            snprintf(after, DIGEST_MAX, "%s", next[n - 1].dg.str);
        gc_blob *t = prev;
        prev = next;
        next = t;
        nprev = c->opt->dry_run ? 0 : n;
        progress(c, "blobs", c->rep->totals.blobs_deleted);
    }
    if (err == REG_OK && nprev)
        err = sweep_step(c, prev, nprev, NULL, &n, after);
    free(prev);
    free(next);
    /* What an interrupted gc of an older version left in its trash. */
    if (err == REG_OK && !c->opt->dry_run)
        blobstore_empty_trash(c->st->blobs);
    return err;
}

typedef struct orphan_ctx {
    gc_ctx *c;
    strmap known; /* every blob row's digest, read when the walk meets its first file */
    int loaded;
    int err;
} orphan_ctx;

static int remember_known(void *ctx, const char *digest, int64_t size)
{
    int err = strmap_put(ctx, digest, size);
    return err == REG_ECONFLICT ? REG_OK : err;
}

/* A file with no row, older than the grace period, is an orphan (a commit that failed after
 * its rename). The final check and the unlink run under the write lock, so a commit that is
 * about to insert the row for an existing file cannot interleave. */
static int check_orphan(void *ctx, const digest *d)
{
    orphan_ctx *o = ctx;
    gc_ctx *c = o->c;
    uint64_t size = 0;
    int64_t mtime = 0;
    int known = 1;
    if (!o->loaded) {
        o->loaded = 1;
        if ((o->err = index_fsck_blobs(c->ix, remember_known, &o->known)) < 0)
            return o->err;
    }
    if (strmap_get(NULL, &o->known, d->str) == REG_OK)
        return REG_OK;
    if (blobstore_stat(&size, &mtime, c->st->blobs, d) < 0 || mtime >= c->cutoff)
        return REG_OK;
    if ((o->err = batch_begin(c)) < 0)
        return o->err;
    o->err = index_gc_blob_known(&known, c->ix, d->str);
    if (o->err == REG_OK && !known) {
        if (!c->opt->dry_run)
            o->err = blobstore_remove(c->st->blobs, d);
        if (o->err == REG_OK) {
            c->rep->orphans_deleted++;
            c->rep->orphan_bytes += (int64_t)size;
        }
        if (o->err == REG_ENOTFOUND)
            o->err = REG_OK;
    }
    o->err = batch_end(c, o->err);
    return o->err;
}

static int remove_orphans(gc_ctx *c)
{
    orphan_ctx o = {.c = c, .err = REG_OK};
    strmap_init(&o.known);
    int err = blobstore_walk(c->st->blobs, check_orphan, &o);
    strmap_free(&o.known);
    progress(c, "orphans", c->rep->orphans_deleted);
    return err < 0 ? err : o.err;
}

static uint64_t failed_runs;

uint64_t gc_failed_runs(void)
{
    return __atomic_load_n(&failed_runs, __ATOMIC_RELAXED);
}

int gc_run(gc_report *out, store *st, index_db *ix, const gc_options *opt)
{
    gc_ctx c = {.st = st, .ix = ix, .opt = opt, .rep = out, .now = time(NULL)};
    int err = REG_OK;
    memset(out, 0, sizeof(*out));
    reg_error_clear();
    /* Times are whole seconds: whatever was stamped in this second or earlier is at least
     * `grace` old when stamped at or before now - grace, so the cutoff (compared with <) is
     * one past that; with --grace 0 a blob pushed in the current second is collected. */
    c.cutoff = c.now - opt->grace + 1;
    out->totals.started_at = c.now;
    out->totals.dry_run = opt->dry_run;
    if (opt->dry_run && (err = index_begin(ix)) < 0)
        return err;
    if (opt->lifecycle)
        err = apply_lifecycle(&c);
    if (err == REG_OK && opt->untagged)
        err = delete_untagged(&c);
    /* Orphans first: a dry run's sweep removes rows it then rolls back, which would make the
     * swept files look like orphans. */
    if (err == REG_OK && opt->sweep)
        err = remove_orphans(&c);
    if (err == REG_OK && opt->sweep)
        err = sweep_blobs(&c);
    if (err == REG_OK && opt->sweep) {
        int64_t n = upload_sweep(st->uploads, opt->upload_expiry, opt->dry_run);
        if (n < 0)
            err = reg_error_set(REG_ERROR, "cannot read the upload sessions");
        else
            out->totals.uploads_deleted += n;
    }
    if (opt->dry_run)
        index_rollback(ix);
    out->totals.finished_at = time(NULL);
    if (err == REG_OK && !opt->dry_run)
        err = index_gc_record(ix, &out->totals);
    if (err < 0 && !reg_error_last(NULL))
        reg_error_set(err, "index: %s", index_errmsg(ix));
    if (err < 0)
        __atomic_fetch_add(&failed_runs, 1, __ATOMIC_RELAXED);
    return err;
}
