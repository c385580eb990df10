/* test_index_writer.c - the index writer a server shares and the statement cache, on SQLite
 * and (when OCIREG_TEST_PG_URL is set) PostgreSQL: threads writing through one writer, whose
 * failures reach the thread that met them, statements prepared once per connection, and on
 * SQLite the group commit (a member's rollback, a failed COMMIT, the group's bound) and the
 * checkpoints run off the commit. */
#include "storage/index/index.h"
#include "storage/index/index_internal.h"
#include "storage/base/reg_error.h"
#include "check.h"
#include "index_fixture.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    CHECK(strstr(reg_error_last(""), "unable to open") != NULL, "message: %s", reg_error_last(""));
    CHECK_STR(index_errmsg(NULL), reg_error_last(""));
    reg_error_clear();
    CHECK_INT(index_writer_open(&w, path), REG_ERROR);
    CHECK(w == NULL, "a writer came back from a failed open");
    CHECK(strstr(reg_error_last(""), "unable to open") != NULL, "message: %s", reg_error_last(""));
}

typedef struct member {
    index_writer *writer;
    index_db *ix;
    const char *repo; /* the repository its transaction creates */
    int commit;       /* commit it, else roll it back */
    int err;
    char msg[256];
} member;

/* One transaction that creates m->repo, begun once the writer is free. */
static void *member_run(void *arg)
{
    member *m = arg;
    int64_t id;
    reg_error_clear();
    if ((m->err = index_begin(m->ix)) < 0)
        return NULL;
    if ((m->err = index_repo_ensure(&id, m->ix, m->repo)) < 0 || !m->commit ||
        (m->err = index_commit(m->ix)) < 0)
        index_rollback(m->ix);
    snprintf(m->msg, sizeof(m->msg), "%s", reg_error_last("(none)"));
    return NULL;
}

/* Wait (at most 10 s) until n threads wait for the writer. */
static void wait_for_waiters(index_writer *w, int n)
{
    for (int i = 0; i < 10000 && __atomic_load_n(&w->waiting, __ATOMIC_SEQ_CST) < n; i++)
        usleep(1000);
    CHECK_INT(__atomic_load_n(&w->waiting, __ATOMIC_SEQ_CST), n);
}

typedef struct group_run {
    index_writer *w;
    index_db *reader, *first;
    member m[2];
    pthread_t t[2];
} group_run;

/* Whether the reader sees repository `name`: REG_OK, or REG_ENOTFOUND. */
static int seen(group_run *g, const char *name)
{
    int64_t id;
    return index_repo_id(&id, g->reader, name);
}

/* A first transaction (creating "first") holds the writer while two members (creating repo0,
 * repo1; committed or rolled back) begin and wait for it: when it ends they form its group. */

static void group_open(group_run *g, const char *repo0, int commit0, const char *repo1, int commit1)
{
    int64_t id;
    g->reader = fresh_index();
    CHECK_INT(index_writer_open(&g->w, fixture_location), REG_OK);
    CHECK_INT(index_open(&g->first, fixture_location), REG_OK);
    index_writer_attach(g->w, g->first);
    const char *repos[2] = {repo0, repo1};
    int commits[2] = {commit0, commit1};
    for (int i = 0; i < 2; i++) {
        g->m[i] = (member){.writer = g->w, .repo = repos[i], .commit = commits[i]};
        CHECK_INT(index_open(&g->m[i].ix, fixture_location), REG_OK);
        index_writer_attach(g->w, g->m[i].ix);
    }
    CHECK_INT(index_begin(g->first), REG_OK);
    CHECK_INT(index_repo_ensure(&id, g->first, "first"), REG_OK);
    for (int i = 0; i < 2; i++) {
        pthread_create(&g->t[i], NULL, member_run, &g->m[i]);
        wait_for_waiters(g->w, i + 1);
    }
    reg_error_clear();
}

static void group_join(group_run *g)
{
    for (int i = 0; i < 2; i++)
        pthread_join(g->t[i], NULL);
}

static void group_close(group_run *g)
{
    for (int i = 0; i < 2; i++)
        index_close(g->m[i].ix);
    index_close(g->first);
    index_close(g->reader);
    index_writer_close(g->w);
}

static void check_counts(index_writer *w, uint64_t commits, uint64_t transactions)
{
    uint64_t c = 0, t = 0;
    index_writer_counts(&c, &t, w);
    CHECK(c == commits && t == transactions,
          "%llu commits for %llu transactions, expected %llu for %llu", (unsigned long long)c,
          (unsigned long long)t, (unsigned long long)commits, (unsigned long long)transactions);
}

/* Three transactions meet at the writer: one COMMIT makes the two committed ones durable, and
 * the one rolled back between them leaves nothing, taking nothing of the others with it. */
static void test_group_member_rollback_undoes_only_its_own(void)
{
    group_run g = {0};
    if (fixture_on_pg)
        return; /* PostgreSQL commits each transaction on its own connection */
    group_open(&g, "rolled/back", 0, "second", 1);
    CHECK_INT(index_commit(g.first), REG_OK);
    group_join(&g);
    CHECK_INT(g.m[0].err, REG_OK);
    CHECK_INT(g.m[1].err, REG_OK);
    CHECK_INT(seen(&g, "first"), REG_OK);
    CHECK_INT(seen(&g, "second"), REG_OK);
    CHECK_INT(seen(&g, "rolled/back"), REG_ENOTFOUND);
    check_counts(g.w, 1, 2);
    group_close(&g);
}

static int refuse_commit(void *ctx)
{
    (void)ctx;
    return 1; /* SQLite turns the COMMIT into a ROLLBACK and fails it */
}

/* A COMMIT that fails fails every transaction of its group, each thread told why, and the
 * next transaction starts a group of its own. */
static void test_failed_group_commit_fails_every_member(void)
{
    group_run g = {0};
    int64_t id;
    if (fixture_on_pg)
        return;
    group_open(&g, "second", 1, "third", 1);
    sqlite3_commit_hook(sqldb_sqlite(g.w->ix->own_db), refuse_commit, NULL);
    CHECK_INT(index_commit(g.first), REG_ERROR);
    index_rollback(g.first);
    CHECK(strstr(reg_error_last(""), "commit failed") != NULL, "first: %s", reg_error_last(""));
    CHECK(strstr(index_errmsg(g.first), "commit failed") != NULL, "first: %s",
          index_errmsg(g.first));
    group_join(&g);
    for (int i = 0; i < 2; i++) {
        CHECK_INT(g.m[i].err, REG_ERROR);
        CHECK(strstr(g.m[i].msg, "commit failed") != NULL, "%s: %s", g.m[i].repo, g.m[i].msg);
    }
    check_counts(g.w, 1, 3);
    CHECK_INT(seen(&g, "first"), REG_ENOTFOUND);
    CHECK_INT(seen(&g, "second"), REG_ENOTFOUND);
    CHECK_INT(seen(&g, "third"), REG_ENOTFOUND);

    sqlite3_commit_hook(sqldb_sqlite(g.w->ix->own_db), NULL, NULL);
    CHECK_INT(index_begin(g.first), REG_OK);
    CHECK_INT(index_repo_ensure(&id, g.first, "after"), REG_OK);
    CHECK_INT(index_commit(g.first), REG_OK);
    CHECK_INT(seen(&g, "after"), REG_OK);
    group_close(&g);
}

/* Interrupts a writing statement of the member thread it names: SQLite then rolls the whole
 * transaction back by itself, as after a full disk or an I/O error. */
typedef struct interrupter {
    sqlite3 *db;
    pthread_t victim;
} interrupter;

static int interrupt_write(void *ctx)
{
    interrupter *i = ctx;
    if (!pthread_equal(pthread_self(), i->victim))
        return 0;
    for (sqlite3_stmt *st = sqlite3_next_stmt(i->db, NULL); st; st = sqlite3_next_stmt(i->db, st))
        if (sqlite3_stmt_busy(st) && !sqlite3_stmt_readonly(st))
            return 1;
    return 0;
}

/* When SQLite rolls the group's transaction back under a member, the members that had already
 * asked to commit fail (nothing of theirs was made durable), and the next transaction starts
 * a group of its own. */
static void test_group_lost_by_sqlite_fails_its_members(void)
{
    group_run g = {0};
    if (fixture_on_pg)
        return;
    group_open(&g, "interrupted", 1, "third", 1);
    interrupter in = {.db = sqldb_sqlite(g.w->ix->own_db), .victim = g.t[0]};
    sqlite3_progress_handler(in.db, 1, interrupt_write, &in);
    CHECK_INT(index_commit(g.first), REG_ERROR);
    CHECK(strstr(reg_error_last(""), "rolled back") != NULL, "first: %s", reg_error_last(""));
    group_join(&g);
    sqlite3_progress_handler(in.db, 0, NULL, NULL);
    CHECK_INT(g.m[0].err, REG_ERROR);
    CHECK_INT(g.m[1].err, REG_OK);
    CHECK_INT(seen(&g, "first"), REG_ENOTFOUND);
    CHECK_INT(seen(&g, "interrupted"), REG_ENOTFOUND);
    CHECK_INT(seen(&g, "third"), REG_OK);
    group_close(&g);
}

/* A group takes at most group_max transactions (INDEX_WRITER_GROUP_MAX in a server): with 2,
 * three transactions that meet need two COMMITs. */
static void test_group_ends_at_its_bound(void)
{
    group_run g = {0};
    if (fixture_on_pg)
        return;
    group_open(&g, "second", 1, "third", 1);
    CHECK_INT(g.w->group_max, INDEX_WRITER_GROUP_MAX);
    g.w->group_max = 2;
    CHECK_INT(index_commit(g.first), REG_OK);
    group_join(&g);
    CHECK_INT(g.m[0].err, REG_OK);
    CHECK_INT(g.m[1].err, REG_OK);
    check_counts(g.w, 2, 3);
    CHECK_INT(seen(&g, "third"), REG_OK);
    group_close(&g);
}

/* About 1,500 pages of rows in one transaction on ix (begun by the caller). */
static int write_pages(index_db *ix)
{
    return sqldb_exec(ix->db, "CREATE TABLE IF NOT EXISTS filler(x BLOB);"
                              "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                              "WHERE i < 1500) INSERT INTO filler SELECT randomblob(3000) FROM n");
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n = -1;
    if (f && fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (f)
        fclose(f);
    return n;
}

/* A commit that crosses the WAL's threshold only wakes the writer's checkpointer, which copies
 * the pages into the database file on its own thread (bounded wait: 10 s). */
static void test_checkpoints_run_on_their_own_thread(void)
{
    if (fixture_on_pg)
        return; /* no WAL */
    index_db *ix = fresh_index();
    index_writer *w = NULL;
    CHECK_INT(index_writer_open(&w, fixture_location), REG_OK);
    index_writer_attach(w, ix);
    CHECK_INT(index_writer_checkpoints(w), 0);
    int64_t automatic = -1; /* SQLite's own checkpoint in the COMMIT: replaced */
    CHECK_INT(sqldb_query_int64(&automatic, w->ix->own_db, "PRAGMA wal_autocheckpoint"), REG_OK);
    CHECK_INT(automatic, 0);
    CHECK_INT(index_begin(ix), REG_OK);
    CHECK_INT(write_pages(ix), REG_OK);
    CHECK_INT(index_commit(ix), REG_OK);
    for (int i = 0; i < 1000 && index_writer_checkpoints(w) == 0; i++)
        usleep(10000);
    CHECK(index_writer_checkpoints(w) >= 1, "no checkpoint ran");
    CHECK(file_size(fixture_location) > 1500L * 3000, "the database file holds %ld bytes",
          file_size(fixture_location));
    index_close(ix);
    index_writer_close(w);
}

/* Writes that never pause: the checkpointer copies beside them, so the WAL is never wholly
 * copied when the next transaction begins, and SQLite starts it over only then. The commit
 * that finds it past INDEX_WAL_RESTART_FRAMES copies the rest itself, so it stays bounded
 * (12 transactions of about 1,500 pages each: 72 MB were written). */
static void test_wal_starts_over_under_steady_writes(void)
{
    if (fixture_on_pg)
        return;
    index_db *ix = fresh_index();
    index_writer *w = NULL;
    char wal[4200];
    long most = 0;
    snprintf(wal, sizeof(wal), "%s-wal", fixture_location);
    CHECK_INT(index_writer_open(&w, fixture_location), REG_OK);
    index_writer_attach(w, ix);
    for (int i = 0; i < 12; i++) {
        CHECK_INT(index_begin(ix), REG_OK);
        CHECK_INT(write_pages(ix), REG_OK);
        CHECK_INT(index_commit(ix), REG_OK);
        long n = file_size(wal);
        most = n > most ? n : most;
    }
    long bound = (INDEX_WAL_RESTART_FRAMES + 2 * 1600L) * (4096 + 24);
    CHECK(most < bound, "the WAL grew to %ld bytes (bound %ld)", most, bound);
    index_close(ix);
    index_writer_close(w);
}

/* A connection that defers its checkpoints leaves its pages in the WAL until it closes. */
static void test_deferred_checkpoint_waits_for_close(void)
{
    if (fixture_on_pg)
        return;
    index_db *ix = fresh_index();
    char wal[4200];
    snprintf(wal, sizeof(wal), "%s-wal", fixture_location);
    index_tune_for_batch(ix);
    CHECK_INT(index_begin(ix), REG_OK);
    CHECK_INT(write_pages(ix), REG_OK);
    CHECK_INT(index_commit(ix), REG_OK);
    CHECK(file_size(fixture_location) < 1500L * 3000, "the commit checkpointed (%ld bytes)",
          file_size(fixture_location));
    CHECK(file_size(wal) > 1500L * 3000, "the WAL holds %ld bytes", file_size(wal));
    index_close(ix);
    CHECK(file_size(fixture_location) > 1500L * 3000, "the close left %ld bytes",
          file_size(fixture_location));
}

static void suite(void)
{
    RUN(test_two_threads_write_through_one_writer);
    RUN(test_failed_transaction_message_reaches_its_caller);
    RUN(test_statements_are_prepared_once);
    RUN(test_open_failure_message_goes_through_reg_error);
    RUN(test_group_member_rollback_undoes_only_its_own);
    RUN(test_failed_group_commit_fails_every_member);
    RUN(test_group_lost_by_sqlite_fails_its_members);
    RUN(test_group_ends_at_its_bound);
    RUN(test_checkpoints_run_on_their_own_thread);
    RUN(test_deferred_checkpoint_waits_for_close);
    RUN(test_wal_starts_over_under_steady_writes);
}
