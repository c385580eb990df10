/* test_index_console.c - what the web console keeps in the index (index_console.h) on SQLite
 * and, with OCIREG_TEST_PG_URL, on PostgreSQL: sessions live until they expire, are ended, or
 * their user changes generation; names by prefix are exactly the prefix's names, in pages;
 * summaries and gc runs read back. */
#include "storage/index/index_console.h"
#include "storage/index/index_gc.h"
#include "storage/base/reg_error.h"
#include "check.h"
#include "index_fixture.h"

#include <stdio.h>
#include <string.h>

#define NOW   ((int64_t)1700000000)
#define SID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void put_user(index_db *ix, const char *name, int64_t generation)
{
    user_record u = {.iterations = 1, .generation = generation};
    snprintf(u.name, sizeof(u.name), "%s", name);
    CHECK_INT(index_user_put(ix, &u), REG_OK);
}

/* A fresh index holding user `name` at `generation`. */
static index_db *index_with_user(const char *name, int64_t generation)
{
    index_db *ix = fresh_index();
    put_user(ix, name, generation);
    return ix;
}

/* Whether session `sid` is open at `now`: REG_OK or REG_ENOTFOUND. */
static int session_open(index_db *ix, const char *sid, int64_t now)
{
    char user[USER_NAME_MAX + 1];
    int64_t expires;
    return index_session_get(user, &expires, ix, sid, now);
}

static void test_session_lives_until_it_expires(void)
{
    index_db *ix = index_with_user("alice", 11);
    char user[USER_NAME_MAX + 1] = "";
    int64_t expires = 0;
    CHECK_INT(index_session_put(ix, SID_A, "alice", 11, NOW, NOW + 60), REG_OK);
    CHECK_INT(index_session_get(user, &expires, ix, SID_A, NOW + 59), REG_OK);
    CHECK_STR(user, "alice");
    CHECK_INT(expires, NOW + 60);
    CHECK_INT(session_open(ix, SID_A, NOW + 60), REG_ENOTFOUND);
    CHECK_INT(session_open(ix, SID_B, NOW), REG_ENOTFOUND);
    index_close(ix);
}

static void test_session_ends_with_sign_out_or_a_new_generation(void)
{
    index_db *ix = index_with_user("alice", 11);
    CHECK_INT(index_session_put(ix, SID_A, "alice", 11, NOW, NOW + 60), REG_OK);
    CHECK_INT(index_session_put(ix, SID_B, "alice", 11, NOW, NOW + 60), REG_OK);
    CHECK_INT(index_session_delete(ix, SID_A), REG_OK);
    CHECK_INT(index_session_delete(ix, SID_A), REG_OK); /* gone already: still fine */
    CHECK_INT(session_open(ix, SID_A, NOW), REG_ENOTFOUND);
    CHECK_INT(session_open(ix, SID_B, NOW), REG_OK);
    put_user(ix, "alice", 12); /* a new password */
    CHECK_INT(session_open(ix, SID_B, NOW), REG_ENOTFOUND);
    CHECK_INT(index_session_put(ix, SID_A, "alice", 12, NOW, NOW + 60), REG_OK);
    CHECK_INT(index_user_delete(ix, "alice"), REG_OK);
    CHECK_INT(session_open(ix, SID_A, NOW), REG_ENOTFOUND);
    index_close(ix);
}

static void test_opening_a_session_forgets_expired_ones(void)
{
    index_db *ix = index_with_user("alice", 1);
    char user[USER_NAME_MAX + 1];
    int64_t expires;
    CHECK_INT(index_session_put(ix, SID_A, "alice", 1, NOW, NOW + 10), REG_OK);
    /* the row, not just its use, is gone: its id can be opened again */
    CHECK_INT(index_session_put(ix, SID_B, "alice", 1, NOW + 10, NOW + 20), REG_OK);
    CHECK_INT(index_session_put(ix, SID_A, "alice", 1, NOW + 10, NOW + 30), REG_OK);
    CHECK_INT(index_session_get(user, &expires, ix, SID_A, NOW + 11), REG_OK);
    CHECK_INT(expires, NOW + 30);
    index_close(ix);
}

typedef struct names {
    char list[16][64];
    int n;
} names;

static int collect(void *ctx, const char *name)
{
    names *out = ctx;
    if (out->n < 16)
        snprintf(out->list[out->n++], sizeof(out->list[0]), "%s", name);
    return REG_OK;
}

static const char *joined(const names *n)
{
    static char text[1024];
    text[0] = '\0';
    for (int i = 0; i < n->n; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%s", i ? " " : "",
                 n->list[i]);
    return text;
}

static void test_names_by_prefix_are_exactly_the_prefix(void)
{
    index_db *ix = fresh_index();
    const char *repos[] = {"ab", "ab-c", "ab/x", "ab/y", "ab0", "abc", "ac", "a", "b/ab"};
    int64_t id;
    int more = 0;
    for (size_t i = 0; i < sizeof(repos) / sizeof(repos[0]); i++)
        CHECK_INT(index_repo_ensure(&id, ix, repos[i]), REG_OK);
    names n = {0};
    CHECK_INT(index_repo_names_prefix(&more, ix, "ab", NULL, 100, collect, &n), REG_OK);
    CHECK_STR(joined(&n), "ab ab-c ab/x ab/y ab0 abc");
    CHECK_INT(more, 0);
    n = (names){0};
    CHECK_INT(index_repo_names_prefix(&more, ix, "ab/", NULL, 100, collect, &n), REG_OK);
    CHECK_STR(joined(&n), "ab/x ab/y");
    n = (names){0};
    CHECK_INT(index_repo_names_prefix(&more, ix, "ab", "ab/x", 2, collect, &n), REG_OK);
    CHECK_STR(joined(&n), "ab/y ab0");
    CHECK_INT(more, 1);
    n = (names){0};
    CHECK_INT(index_repo_names_prefix(&more, ix, "", "ac", 100, collect, &n), REG_OK);
    CHECK_STR(joined(&n), "b/ab");
    n = (names){0};
    CHECK_INT(index_repo_names_prefix(&more, ix, "zz", NULL, 100, collect, &n), REG_OK);
    CHECK_INT(n.n, 0);
    index_close(ix);
}

typedef struct gc_seen {
    int64_t *started;
    int *count;
} gc_seen;

static int gc_seen_cb(void *ctx, const gc_totals *run)
{
    gc_seen *g = ctx;
    if (*g->count < 2)
        g->started[*g->count] = run->started_at;
    ++*g->count;
    return REG_OK;
}

static void test_summary_and_gc_runs_read_back(void)
{
    index_db *ix = fresh_index();
    repo_summary s;
    gc_totals runs[2] = {
        {.started_at = NOW, .finished_at = NOW + 2, .blobs_deleted = 3, .bytes_freed = 4096},
        {.started_at = NOW + 10, .finished_at = NOW + 11, .dry_run = 1}};
    int64_t id;
    CHECK_INT(index_repo_ensure(&id, ix, "team/app"), REG_OK);
    CHECK_INT(index_repo_summary(&s, ix, "team/app"), REG_OK);
    CHECK_STR(s.mutability, "MUTABLE");
    CHECK_INT(s.image_count, 0);
    CHECK_INT(s.last_pushed_at, 0);
    CHECK_INT(index_repo_summary(&s, ix, "team/none"), REG_ENOTFOUND);
    for (int i = 0; i < 2; i++)
        CHECK_INT(index_gc_record(ix, &runs[i]), REG_OK);
    int64_t seen[2] = {0, 0};
    int count = 0;
    CHECK_INT(index_gc_runs(ix, 1, gc_seen_cb, &(gc_seen){seen, &count}), REG_OK);
    CHECK_INT(count, 1);
    CHECK_INT(seen[0], NOW + 10); /* newest first */
    index_close(ix);
}

static void suite(void)
{
    RUN(test_session_lives_until_it_expires);
    RUN(test_session_ends_with_sign_out_or_a_new_generation);
    RUN(test_opening_a_session_forgets_expired_ones);
    RUN(test_names_by_prefix_are_exactly_the_prefix);
    RUN(test_summary_and_gc_runs_read_back);
}
