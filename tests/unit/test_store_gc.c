/* test_store_gc.c - the registry core's writes and its collector at the edges pytest cannot
 * reach: a grace period that has already passed, orphan files made by hand, a dry run compared
 * with the real run, and the manifest checks store_put_manifest makes inside its transaction. */
#include "check.h"
#include "storage/base/reg_error.h"
#include "storage/gc.h"
#include "storage/index/index_repos.h"
#include "storage/store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPO "team/app"

typedef struct fixture {
    char dir[64];
    store *st;
    index_db *ix;
} fixture;

static int setup(fixture *f)
{
    memset(f, 0, sizeof(*f));
    store_location loc = {.data_dir = f->dir};
    if (check_tempdir(f->dir, sizeof(f->dir), "store-gc") < 0 || store_open(&f->st, &loc) < 0 ||
        index_open(&f->ix, f->st->db_path) < 0) {
        fprintf(stderr, "setup: %s\n", reg_error_last("?"));
        return REG_ERROR;
    }
    return REG_OK;
}

static void teardown(fixture *f)
{
    index_close(f->ix);
    store_close(f->st);
    CHECK_RMDIR(f->dir);
}

/* Push `text` as a blob of `repo` through an upload session, as a client's POST + PUT do. */
static int push_blob(digest *out, fixture *f, const char *repo, const char *text)
{
    upload *u = NULL;
    char id[UPLOAD_ID_LEN + 1];
    digest_buffer(out, DIGEST_SHA256, text, strlen(text));
    int err = upload_create(&u, id, f->st->uploads, repo);
    if (err == REG_OK)
        err = upload_append(u, 1, text, strlen(text));
    if (err == REG_OK)
        err = store_commit_upload(f->st, f->ix, u, repo, out);
    if (err != REG_OK && u)
        upload_discard(f->st->uploads, u);
    return err;
}

static int blob_in_repo(fixture *f, const char *repo, const digest *d)
{
    uint64_t size;
    return index_blob_in_repo(&size, f->ix, repo, d);
}

static int tag_exists(fixture *f, const char *repo, const char *tag)
{
    manifest_row row;
    return index_manifest_by_tag(&row, f->ix, repo, tag);
}

static int blob_file_exists(fixture *f, const digest *d)
{
    char path[PATH_MAX];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s", f->dir, digest_hex(d), digest_hex(d));
    return stat(path, &sb) == 0;
}

/* An OCI image manifest with one config and one layer of the given sizes. */
static void image_manifest(char *out, size_t n, const digest *config, size_t config_size,
                           const digest *layer, size_t layer_size)
{
    snprintf(out, n,
             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
             "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
             "\"digest\":\"%s\",\"size\":%zu},"
             "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
             "\"digest\":\"%s\",\"size\":%zu}]}",
             (config)->str, config_size, (layer)->str, layer_size);
}

static int put_manifest(digest *out, char *missing, fixture *f, const char *repo, const char *tag,
                        const char *body)
{
    manifest_info *info = NULL;
    const char *tags[1] = {tag};
    digest_buffer(out, DIGEST_SHA256, body, strlen(body));
    int rc = manifest_parse(&info, MT_OCI_MANIFEST, body, strlen(body));
    if (rc == REG_OK) {
        manifest_put put = {.repo = repo,
                            .dg = out,
                            .body = body,
                            .len = strlen(body),
                            .info = info,
                            .tags = tags,
                            .ntags = tag ? 1 : 0};
        rc = store_put_manifest(f->st, f->ix, &put, missing);
    }
    manifest_info_free(info);
    return rc;
}

static const char config_text[] = "{\"architecture\":\"amd64\",\"os\":\"linux\"}";
static const char layer_text[] = "layer bytes";

/* A tagged image (config + layer + manifest) in REPO. */
static int push_image(digest *manifest, digest *config, digest *layer, fixture *f, const char *tag)
{
    char body[1024], missing[DIGEST_MAX] = "";
    if (push_blob(config, f, REPO, config_text) < 0 || push_blob(layer, f, REPO, layer_text) < 0)
        return REG_ERROR;
    image_manifest(body, sizeof(body), config, strlen(config_text), layer, strlen(layer_text));
    return put_manifest(manifest, missing, f, REPO, tag, body);
}

static gc_options sweep_now(void)
{
    /* A grace period already in the past: every blob counts as old enough. */
    return (gc_options){.sweep = 1, .grace = -2, .upload_expiry = 3600};
}

static void test_gc_sweeps_only_unreferenced_blobs(void)
{
    fixture f;
    digest m, c, l, stray;
    gc_report rep;
    gc_options opt = sweep_now();
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(push_image(&m, &c, &l, &f, "v1"), REG_OK);
    CHECK_INT(push_blob(&stray, &f, REPO, "nobody refers to me"), REG_OK);
    CHECK_INT(gc_run(&rep, f.st, f.ix, &opt), REG_OK);
    CHECK_INT(rep.totals.blobs_deleted, 1);
    CHECK_INT(rep.totals.bytes_freed, strlen("nobody refers to me"));
    CHECK(!blob_file_exists(&f, &stray), "the stray blob's file is gone");
    CHECK(blob_file_exists(&f, &l) && blob_file_exists(&f, &c), "the image's blobs stay");
    CHECK_INT(blob_in_repo(&f, REPO, &stray), REG_ENOTFOUND);
    CHECK_INT(blob_in_repo(&f, REPO, &l), REG_OK);
    teardown(&f);
}

/* With a second connection listing beside the deleting one (as `ocireg gc` runs): the same
 * blobs go, the kept ones stay, and the listing sees the manifests that the run's own untagged
 * phase deleted (committed before the sweep began). More strays than one hand-over step. */
static void test_gc_with_a_lister_sweeps_what_the_transaction_would(void)
{
    fixture f;
    digest m, c, l, tm, tc, tl, stray;
    gc_report rep;
    gc_options opt = sweep_now();
    index_db *lister = NULL;
    char text[64];
    const int strays = 150;
    opt.untagged = 1;
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(push_image(&m, &c, &l, &f, "v1"), REG_OK);
    for (int i = 0; i < strays; i++) {
        snprintf(text, sizeof(text), "stray %d", i);
        CHECK_INT(push_blob(&stray, &f, REPO, text), REG_OK);
    }
    /* An untagged image of its own blobs: the untagged phase deletes it, the sweep its blobs. */
    char body[1024], missing[DIGEST_MAX] = "";
    CHECK_INT(push_blob(&tc, &f, REPO, "{\"os\":\"linux\"}"), REG_OK);
    CHECK_INT(push_blob(&tl, &f, REPO, "untagged layer"), REG_OK);
    image_manifest(body, sizeof(body), &tc, strlen("{\"os\":\"linux\"}"), &tl,
                   strlen("untagged layer"));
    CHECK_INT(put_manifest(&tm, missing, &f, REPO, NULL, body), REG_OK);
    CHECK_INT(index_open(&lister, f.st->db_path), REG_OK);
    index_tune_for_scan(lister);
    opt.lister = lister;
    CHECK_INT(gc_run(&rep, f.st, f.ix, &opt), REG_OK);
    CHECK_INT(rep.totals.manifests_deleted, 1);
    CHECK_INT(rep.totals.blobs_deleted, strays + 3); /* and the untagged config, layer, manifest */
    CHECK_INT(blob_in_repo(&f, REPO, &stray), REG_ENOTFOUND);
    CHECK_INT(blob_in_repo(&f, REPO, &tl), REG_ENOTFOUND);
    CHECK_INT(blob_in_repo(&f, REPO, &l), REG_OK);
    CHECK_INT(blob_in_repo(&f, REPO, &c), REG_OK);
    CHECK_INT(tag_exists(&f, REPO, "v1"), REG_OK);
    /* A second run finds nothing left. */
    CHECK_INT(gc_run(&rep, f.st, f.ix, &opt), REG_OK);
    CHECK_INT(rep.totals.blobs_deleted, 0);
    index_close(lister);
    teardown(&f);
}

static void test_gc_keeps_blobs_inside_the_grace_period(void)
{
    fixture f;
    digest stray;
    gc_report rep;
    gc_options opt = {.sweep = 1, .grace = 3600, .upload_expiry = 3600};
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(push_blob(&stray, &f, REPO, "just pushed, not yet used"), REG_OK);
    CHECK_INT(gc_run(&rep, f.st, f.ix, &opt), REG_OK);
    CHECK_INT(rep.totals.blobs_deleted, 0);
    CHECK(blob_file_exists(&f, &stray), "a young blob's file stays");
    teardown(&f);
}

static void test_gc_dry_run_reports_what_the_real_run_deletes(void)
{
    fixture f;
    digest m, c, l, stray;
    gc_report dry, real;
    gc_options opt = sweep_now();
    opt.untagged = 1;
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(push_image(&m, &c, &l, &f, NULL), REG_OK); /* untagged: goes with --untagged */
    CHECK_INT(push_blob(&stray, &f, REPO, "stray"), REG_OK);
    opt.dry_run = 1;
    CHECK_INT(gc_run(&dry, f.st, f.ix, &opt), REG_OK);
    CHECK_INT(dry.totals.manifests_deleted, 1);
    CHECK_INT(dry.totals.blobs_deleted, 4); /* config, layer, stray and the manifest's bytes */
    CHECK(blob_file_exists(&f, &stray) && blob_file_exists(&f, &l), "a dry run deletes nothing");
    CHECK_INT(blob_in_repo(&f, REPO, &stray), REG_OK);
    opt.dry_run = 0;
    CHECK_INT(gc_run(&real, f.st, f.ix, &opt), REG_OK);
    CHECK_INT(real.totals.manifests_deleted, dry.totals.manifests_deleted);
    CHECK_INT(real.totals.blobs_deleted, dry.totals.blobs_deleted);
    CHECK_INT(real.totals.bytes_freed, dry.totals.bytes_freed);
    CHECK(!blob_file_exists(&f, &stray) && !blob_file_exists(&f, &l), "the real run deletes");
    teardown(&f);
}

static void test_gc_removes_an_orphan_file_and_keeps_rows(void)
{
    fixture f;
    digest kept, orphan;
    blob_publish *p = NULL;
    gc_report rep;
    gc_options opt = sweep_now();
    const char text[] = "a file whose commit never reached the index";
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(push_blob(&kept, &f, REPO, "linked"), REG_OK);
    /* A blob file with no row, as a commit that failed after its file appeared leaves. */
    digest_buffer(&orphan, DIGEST_SHA256, text, strlen(text));
    CHECK_INT(blobstore_publish_bytes(&p, f.st->blobs, &orphan, text, strlen(text)), REG_OK);
    CHECK_INT(blob_publish_prepare(p), REG_OK);
    CHECK_INT(blob_publish_commit(p, f.ix), REG_OK);
    blob_publish_free(p);
    CHECK(blob_file_exists(&f, &orphan), "the orphan file is in place");
    opt.grace = 3600; /* the linked blob is young; the orphan is judged by its file's age */
    CHECK_INT(gc_run(&rep, f.st, f.ix, &opt), REG_OK);
    CHECK_INT(rep.orphans_deleted, 0);
    CHECK(blob_file_exists(&f, &orphan), "a young orphan may still be a commit in flight");
    opt.grace = -2;
    CHECK_INT(gc_run(&rep, f.st, f.ix, &opt), REG_OK);
    CHECK_INT(rep.orphans_deleted, 1);
    CHECK(!blob_file_exists(&f, &orphan), "an old orphan file goes");
    teardown(&f);
}

/* Put v1 on a fresh store: the config pushed, the layer pushed or not, its descriptor `extra`
 * bytes too long. It must fail with `want`, naming the layer missing when it was not pushed,
 * and leave no tag. */
static void check_put_over_layer(int push_layer, size_t extra, int want)
{
    fixture f;
    digest c, layer, m;
    char body[1024], missing[DIGEST_MAX] = "";
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(push_blob(&c, &f, REPO, config_text), REG_OK);
    if (push_layer)
        CHECK_INT(push_blob(&layer, &f, REPO, layer_text), REG_OK);
    digest_buffer(&layer, DIGEST_SHA256, layer_text, strlen(layer_text));
    image_manifest(body, sizeof(body), &c, strlen(config_text), &layer, strlen(layer_text) + extra);
    CHECK_INT(put_manifest(&m, missing, &f, REPO, "v1", body), want);
    if (!push_layer)
        CHECK_STR(missing, layer.str);
    CHECK_INT(tag_exists(&f, REPO, "v1"), REG_ENOTFOUND);
    teardown(&f);
}

static void test_put_manifest_names_the_missing_blob(void)
{
    check_put_over_layer(0, 0, REG_ENOTFOUND);
}

static void test_put_manifest_refuses_a_wrong_descriptor_size(void)
{
    check_put_over_layer(1, 1, REG_EINVALID);
}

static void test_put_manifest_keeps_an_immutable_tag(void)
{
    fixture f;
    digest m1, m2, c, l;
    char body[1024], missing[DIGEST_MAX] = "";
    manifest_row row;
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(push_image(&m1, &c, &l, &f, "v1"), REG_OK);
    CHECK_INT(index_repo_set_mutability(f.ix, REPO, "IMMUTABLE"), REG_OK);
    /* Another manifest (the same blobs, an annotation more) under the same tag. */
    image_manifest(body, sizeof(body), &c, strlen(config_text), &l, strlen(layer_text));
    strcpy(body + strlen(body) - 1, ",\"annotations\":{\"a\":\"b\"}}");
    CHECK_INT(put_manifest(&m2, missing, &f, REPO, "v1", body), REG_ECONFLICT);
    CHECK_STR(missing, "v1");
    CHECK_INT(index_manifest_by_tag(&row, f.ix, REPO, "v1"), REG_OK);
    CHECK_STR(row.dg.str, m1.str);
    teardown(&f);
}

static void test_mount_needs_the_blob_in_the_source(void)
{
    fixture f;
    digest d, absent;
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(push_blob(&d, &f, REPO, "shared layer"), REG_OK);
    digest_buffer(&absent, DIGEST_SHA256, "x", 1);
    CHECK_INT(store_mount_blob(f.st, f.ix, "team/other", REPO, &d), REG_OK);
    CHECK_INT(blob_in_repo(&f, "team/other", &d), REG_OK);
    CHECK_INT(store_mount_blob(f.st, f.ix, "team/other", REPO, &absent), REG_ENOTFOUND);
    CHECK_INT(blob_in_repo(&f, "team/other", &absent), REG_ENOTFOUND);
    teardown(&f);
}

int main(void)
{
    RUN(test_gc_sweeps_only_unreferenced_blobs);
    RUN(test_gc_with_a_lister_sweeps_what_the_transaction_would);
    RUN(test_gc_keeps_blobs_inside_the_grace_period);
    RUN(test_gc_dry_run_reports_what_the_real_run_deletes);
    RUN(test_gc_removes_an_orphan_file_and_keeps_rows);
    RUN(test_put_manifest_names_the_missing_blob);
    RUN(test_put_manifest_refuses_a_wrong_descriptor_size);
    RUN(test_put_manifest_keeps_an_immutable_tag);
    RUN(test_mount_needs_the_blob_in_the_source);
    return check_failures != 0;
}
