/* test_index_writer.c - the index writer a server shares and the statement cache, on SQLite
 * and (when OCIREG_TEST_PG_URL is set) PostgreSQL: threads writing through one writer, whose
 * failures reach the thread that met them, and statements prepared once per connection. */
#include "storage/index/index.h"
#include "storage/index/index_internal.h"
#include "storage/base/reg_error.h"
#include "check.h"
#include "index_fixture.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define ROUNDS 40

static int count_name(void *ctx, const char *name)
{
    (*(int *)ctx)++;
    return REG_OK;
}

static int count_repos(index_db *ix)
{
    int n = 0, more = 0;
    CHECK_INT(index_catalog_page(&more, ix, NULL, 10000, count_name, &n), REG_OK);
    return n;
}

typedef struct pusher {
    const char *location;
    index_writer *writer;
    int id;
    int err;
} pusher;

/* ROUNDS write transactions, each creating one repository, on a connection of its own. */
static void *push_repos(void *arg)
{
    pusher *p = arg;
    index_db *ix = NULL;
    if ((p->err = index_open(&ix, p->location)) < 0)
        return NULL;
    index_writer_attach(p->writer, ix);
    for (int n = 0; p->err == REG_OK && n < ROUNDS; n++) {
        char name[32];
        int64_t id;
        snprintf(name, sizeof(name), "t%d/r%d", p->id, n);
        if ((p->err = index_begin(ix)) < 0)
            break;
        if ((p->err = index_repo_ensure(&id, ix, name)) < 0 || (p->err = index_commit(ix)) < 0)
            index_rollback(ix);
    }
    index_close(ix);
    return NULL;
}

static void test_two_threads_write_through_one_writer(void)
{
    index_db *reader = fresh_index();
    index_writer *w = NULL;
    pthread_t t[2];
    pusher p[2];
    CHECK_INT(index_writer_open(&w, fixture_location), REG_OK);
    for (int i = 0; i < 2; i++) {
        p[i] = (pusher){.location = fixture_location, .writer = w, .id = i};
        pthread_create(&t[i], NULL, push_repos, &p[i]);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        CHECK(p[i].err == REG_OK, "thread %d: %d", i, p[i].err);
    }
    CHECK_INT(count_repos(reader), 2 * ROUNDS);
    index_close(reader);
    index_writer_close(w);
}

typedef struct bystander {
    const char *location;
    index_writer *writer;
    int err;
    char msg[256];
} bystander;

/* A successful transaction on the writer, from another thread; what that thread reads then. */
static void *write_fine(void *arg)
{
    bystander *b = arg;
    index_db *ix = NULL;
    int64_t id;
    if ((b->err = index_open(&ix, b->location)) < 0)
        return NULL;
    index_writer_attach(b->writer, ix);
    if ((b->err = index_begin(ix)) == REG_OK &&
        (b->err = index_repo_ensure(&id, ix, "fine")) == REG_OK)
        b->err = index_commit(ix);
    snprintf(b->msg, sizeof(b->msg), "%s", reg_error_last("(none)"));
    index_close(ix);
    return NULL;
}

/* The writer's connection serves another thread between a failed transaction and its report:
 * the report still gives the failed statement's reason, and only to the thread that failed. */
static void test_failed_transaction_message_reaches_its_caller(void)
{
    index_db *ix = fresh_index();
    index_writer *w = NULL;
    bystander b = {.location = fixture_location};
    pthread_t t;
    int64_t id;
    CHECK_INT(index_writer_open(&w, fixture_location), REG_OK);
    b.writer = w;
    index_writer_attach(w, ix);
    reg_error_clear();
    CHECK_INT(index_begin(ix), REG_OK);
    CHECK_INT(index_repo_ensure(&id, ix, NULL), REG_ERROR);
    index_rollback(ix);
    pthread_create(&t, NULL, write_fine, &b);
    pthread_join(t, NULL);
    CHECK_INT(b.err, REG_OK);
    CHECK_STR(b.msg, "(none)");
    const char *msg = index_errmsg(ix);
    CHECK(strstr(msg, "NOT NULL") || strstr(msg, "not-null"), "message after the rollback: %s",
          msg);
    CHECK_INT(index_repo_id(&id, ix, "fine"), REG_OK);
    index_close(ix);
    index_writer_close(w);
}

/* Prepared on first use, then the same statement every time: reads on the connection's own
 * cache, writes in a transaction on the writer's, whichever connection runs them. */
static void test_statements_are_prepared_once(void)
{
    index_db *a = fresh_index(), *b = NULL;
    index_writer *w = NULL;
    int64_t id;
    CHECK_INT(index_writer_open(&w, fixture_location), REG_OK);
    CHECK_INT(index_open(&b, fixture_location), REG_OK);
    index_writer_attach(w, a);
    index_writer_attach(w, b);
    CHECK(!a->own_st[ST_REPO_ID].lite && !a->own_st[ST_REPO_ID].pg, "prepared before its use");
    CHECK_INT(index_repo_id(&id, a, "none"), REG_ENOTFOUND);
    sqldb_stmt first = a->own_st[ST_REPO_ID];
    CHECK(first.lite || first.pg, "not prepared on its first use");
    CHECK_INT(index_repo_id(&id, a, "none"), REG_ENOTFOUND);
    CHECK(a->own_st[ST_REPO_ID].lite == first.lite && a->own_st[ST_REPO_ID].pg == first.pg,
          "prepared again on the second use");

    /* SQLite: transactions run on the writer's connection and share its statements;
     * PostgreSQL: each connection writes on its own */
    int shared = w->ix != NULL;
    index_db *runs = shared ? w->ix : a;
    CHECK_INT(index_begin(a), REG_OK);
    CHECK_INT(index_repo_ensure(&id, a, "one"), REG_OK);
    CHECK_INT(index_commit(a), REG_OK);
    sqldb_stmt insert = runs->own_st[ST_REPO_INSERT];
    CHECK(insert.lite || insert.pg, "the transaction's statement was not prepared where it ran");
    CHECK(!shared || !a->own_st[ST_REPO_INSERT].lite,
          "a transaction on the writer prepared on the connection's own cache");
    CHECK(a->db == a->own_db && a->st == a->own_st, "the writer is still in use after commit");
    CHECK_INT(index_begin(b), REG_OK);
    CHECK_INT(index_repo_ensure(&id, b, "two"), REG_OK);
    CHECK_INT(index_commit(b), REG_OK);
    CHECK(!shared || w->ix->own_st[ST_REPO_INSERT].lite == insert.lite,
          "the writer prepared its statement again for another connection");
    index_close(a);
    index_close(b);
    index_writer_close(w);
}

/* A location that cannot be opened: the reason reaches the caller through reg_error_last. */
static void test_open_failure_message_goes_through_reg_error(void)
{
    index_db *ix = NULL;
    index_writer *w = NULL;
    if (fixture_on_pg)
        return; /* test_index_pg covers an unreachable server */
    char path[4200];
    snprintf(path, sizeof(path), "%s/no/such/folder/index.db", fixture_dir);
    reg_error_clear();
    CHECK_INT(index_open(&ix, path), REG_ERROR);
    CHECK(ix == NULL, "a connection came back from a failed open");
    CHECK(strstr(reg_error_last(""), "unable to open") != NULL, "message: %s",
          reg_error_last(""));
    CHECK_STR(index_errmsg(NULL), reg_error_last(""));
    reg_error_clear();
    CHECK_INT(index_writer_open(&w, path), REG_ERROR);
    CHECK(w == NULL, "a writer came back from a failed open");
    CHECK(strstr(reg_error_last(""), "unable to open") != NULL, "message: %s",
          reg_error_last(""));
}

static void suite(void)
{
    RUN(test_two_threads_write_through_one_writer);
    RUN(test_failed_transaction_message_reaches_its_caller);
    RUN(test_statements_are_prepared_once);
    RUN(test_open_failure_message_goes_through_reg_error);
}

int main(int argc, char **argv)
{
    RUN_ON_BACKEND(suite, argc, argv);
}
