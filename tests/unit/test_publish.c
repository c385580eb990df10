/* test_publish.c - publishing a local upload in two steps (blob_publish_prepare links the spool
 * into place before the index transaction, blob_publish_commit checks the link inside it): the
 * blob appears with the session's bytes, a blob removed in between (as gc does) is linked again,
 * and a session whose spool has been linked to a blob takes no more bytes, so it can never change a
 * published blob. */
#include "storage/blob/blobstore.h"
#include "storage/base/reg_error.h"
#include "storage/blob/uploads.h"
#include "check.h"
#include "publish_finish.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char body[] = "layer bytes for the publish test";

typedef struct fixture {
    char dir[64];
    blobstore *bs;
    upload_table *t;
    upload *u;
    blob_publish *p;
    char id[UPLOAD_ID_LEN + 1];
    digest d;
} fixture;

static void blob_path(char *out, size_t n, const fixture *f)
{
    snprintf(out, n, "%s/blobs/sha256/%.2s/%s", f->dir, digest_hex(&f->d), digest_hex(&f->d));
}

static void spool_path(char *out, size_t n, const fixture *f)
{
    snprintf(out, n, "%s/uploads/%s", f->dir, f->id);
}

static void file_content(char *out, size_t n, const char *path)
{
    int fd = open(path, O_RDONLY);
    ssize_t got = fd < 0 ? -1 : read(fd, out, n - 1);
    out[got > 0 ? got : 0] = '\0';
    if (fd >= 0)
        close(fd);
}

static int setup(fixture *f)
{
    memset(f, 0, sizeof(*f));
    if (check_tempdir(f->dir, sizeof(f->dir), "publish") < 0 ||
        blobstore_open(&f->bs, f->dir) < 0 || upload_table_new(&f->t, f->bs, NULL) < 0 ||
        upload_create(&f->u, f->id, f->t, "team/app") < 0)
        return -1;
    digest_buffer(&f->d, DIGEST_SHA256, body, sizeof(body) - 1);
    return upload_append(f->u, 1, body, sizeof(body) - 1);
}

static void teardown(fixture *f)
{
    blob_publish_free(f->p);
    upload_table_free(f->t);
    blobstore_close(f->bs);
    CHECK_RMDIR(f->dir);
}

/* The half of a session's publication before the index transaction. */
static int prepare(fixture *f)
{
    int err = upload_publication(&f->p, f->u, f->bs, &f->d);
    return err < 0 ? err : blob_publish_prepare(f->p);
}

/* A whole publication from memory, as a manifest PUT makes. */
static int publish_bytes(fixture *f, const void *data, size_t len)
{
    blob_publish *p = NULL;
    int err = blobstore_publish_bytes(&p, f->bs, &f->d, data, len);
    return publish_finish(p, err);
}

static void test_place_links_the_spool_to_the_blob_path(void)
{
    fixture f;
    char path[PATH_MAX], got[128];
    struct stat st;
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(prepare(&f), REG_OK);
    blob_path(path, sizeof(path), &f);
    file_content(got, sizeof(got), path);
    CHECK_STR(got, body);
    CHECK_INT(stat(path, &st), 0);
    CHECK_INT(st.st_nlink, 2); /* the spool keeps its name until the transaction is over */
    CHECK_INT(st.st_mode & 0222, 0);
    CHECK_INT(blob_publish_commit(f.p, NULL), REG_OK);
    upload_discard(f.t, f.u);
    CHECK_INT(stat(path, &st), 0);
    CHECK_INT(st.st_nlink, 1);
    teardown(&f);
}

static void test_confirm_links_again_after_gc_removed_the_blob(void)
{
    fixture f;
    char path[PATH_MAX], got[128];
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(prepare(&f), REG_OK);
    CHECK_INT(blobstore_remove_many(f.bs, &f.d, 1), REG_OK); /* a gc between link and lock */
    blob_path(path, sizeof(path), &f);
    CHECK_INT(access(path, F_OK), -1);
    CHECK_INT(blob_publish_commit(f.p, NULL), REG_OK);
    file_content(got, sizeof(got), path);
    CHECK_STR(got, body);
    CHECK_INT(blobstore_remove_many(f.bs, &f.d, 1), REG_OK);
    CHECK_INT(blobstore_remove_many(f.bs, &f.d, 1), REG_OK); /* already gone: not an error */
    upload_discard(f.t, f.u);
    teardown(&f);
}

static void test_confirm_accepts_a_copy_another_push_placed(void)
{
    fixture f;
    char path[PATH_MAX], spool[PATH_MAX], got[128];
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(publish_bytes(&f, body, sizeof(body) - 1), REG_OK);
    CHECK_INT(prepare(&f), REG_OK);
    CHECK_INT(blob_publish_commit(f.p, NULL), REG_OK);
    blob_path(path, sizeof(path), &f);
    file_content(got, sizeof(got), path);
    CHECK_STR(got, body);
    spool_path(spool, sizeof(spool), &f);
    upload_discard(f.t, f.u);
    CHECK_INT(access(spool, F_OK), -1);
    CHECK_INT(access(path, F_OK), 0);
    teardown(&f);
}

static void test_a_published_session_takes_no_more_bytes(void)
{
    fixture f;
    upload *again = NULL;
    unsigned gen = 0;
    uint64_t offset = 0;
    char path[PATH_MAX], got[128];
    CHECK_INT(setup(&f), REG_OK);
    CHECK_INT(prepare(&f), REG_OK);
    /* The transaction failed: the session is given back instead of discarded. */
    upload_release(f.t, f.u, 1);
    CHECK_INT(upload_acquire(&again, &gen, f.t, f.id, "team/app"), REG_ENOTFOUND);
    CHECK_INT(upload_peek(&offset, f.t, f.id, "team/app"), REG_ENOTFOUND);
    blob_path(path, sizeof(path), &f);
    file_content(got, sizeof(got), path);
    CHECK_STR(got, body);
    teardown(&f);
}

int main(void)
{
    RUN(test_place_links_the_spool_to_the_blob_path);
    RUN(test_confirm_links_again_after_gc_removed_the_blob);
    RUN(test_confirm_accepts_a_copy_another_push_placed);
    RUN(test_a_published_session_takes_no_more_bytes);
    return check_failures ? 1 : 0;
}
