/* test_index_outbox.c - the outbox in the index (index_outbox.h, index_webhooks.h) on SQLite
 * and, with OCIREG_TEST_PG_URL, on PostgreSQL: claims follow commit order per repository and
 * target, respect the per-target limit, retries and leases; webhook entries follow each
 * webhook's events and prefix. Also the backoff schedule (storage/outbox.h). */
#include "storage/index/index_outbox.h"
#include "storage/index/index_webhooks.h"
#include "storage/outbox.h"
#include "storage/base/reg_error.h"
#include "check.h"
#include "index_fixture.h"

#include <stdlib.h>
#include <string.h>

#define NOW   ((int64_t)1700000000000)
#define LEASE 10000
#define CAP   4

static void queue(index_db *ix, const char *target, const char *repo, const char *payload)
{
    CHECK_INT(index_outbox_queue(ix, "test", target, repo, payload, NOW), REG_OK);
}

/* Claim as `owner` at `now`: the entry's payload, or "" when none is due. */
static const char *claim_payload(index_db *ix, const char *owner, int64_t now, int64_t cap,
                                 int64_t *id_out)
{
    static char got[64];
    outbox_entry e;
    int err = index_outbox_claim(&e, ix, owner, now, now + LEASE, cap);
    got[0] = '\0';
    CHECK(err == REG_OK || err == REG_ENOTFOUND, "claim failed: %d %s", err, index_errmsg(ix));
    if (err == REG_OK) {
        snprintf(got, sizeof(got), "%s", e.payload);
        if (id_out)
            *id_out = e.id;
        index_outbox_entry_clear(&e);
    }
    return got;
}

/* Claim as "w" at `now`: the entry must be `payload`, on its attempt number `attempts`. */
static void expect_claimed(index_db *ix, int64_t now, const char *payload, int64_t attempts)
{
    outbox_entry e;
    CHECK_INT(index_outbox_claim(&e, ix, "w", now, now + LEASE, CAP), REG_OK);
    CHECK_STR(e.payload ? e.payload : "", payload);
    CHECK_INT(e.attempts, attempts);
    index_outbox_entry_clear(&e);
}

static void test_claims_follow_commit_order_per_repository_and_target(void)
{
    index_db *ix = fresh_index();
    int64_t a1 = 0, b1 = 0, a2 = 0;
    queue(ix, "t", "a", "a1");
    queue(ix, "t", "a", "a2");
    queue(ix, "t", "b", "b1");
    CHECK_STR(claim_payload(ix, "w", NOW, CAP, &a1), "a1");
    /* a2 waits while a1 is in flight; b1 does not */
    CHECK_STR(claim_payload(ix, "w", NOW, CAP, &b1), "b1");
    CHECK_STR(claim_payload(ix, "w", NOW, CAP, NULL), "");
    CHECK_INT(index_outbox_done(ix, a1, "w", NOW), REG_OK);
    CHECK_STR(claim_payload(ix, "w", NOW, CAP, &a2), "a2");
    int64_t depth = 0, oldest = 0;
    CHECK_INT(index_outbox_stats(&depth, &oldest, ix), REG_OK);
    CHECK_INT(depth, 2);
    CHECK_INT(oldest, NOW);
    index_close(ix);
}

static void test_a_target_at_its_limit_gets_no_more(void)
{
    index_db *ix = fresh_index();
    queue(ix, "t", "a", "a");
    queue(ix, "t", "b", "b");
    queue(ix, "t", "c", "c");
    queue(ix, "u", "d", "d");
    CHECK_STR(claim_payload(ix, "w", NOW, 2, NULL), "a");
    CHECK_STR(claim_payload(ix, "w", NOW, 2, NULL), "b");
    CHECK_STR(claim_payload(ix, "w", NOW, 2, NULL), "d");
    CHECK_STR(claim_payload(ix, "w", NOW, 2, NULL), "");
    /* once the leases run out, they count no more */
    CHECK_STR(claim_payload(ix, "w", NOW + LEASE, 2, NULL), "a");
    index_close(ix);
}

/* A fresh index with x1 then x2 queued for one target and repository, x1 claimed by "w" at
 * NOW (its id in *id). */
static index_db *x1_claimed_before_x2(int64_t *id)
{
    index_db *ix = fresh_index();
    queue(ix, "t", "a", "x1");
    queue(ix, "t", "a", "x2");
    CHECK_STR(claim_payload(ix, "w", NOW, CAP, id), "x1");
    return ix;
}

static void test_a_retry_waits_for_its_time_and_holds_back_younger_entries(void)
{
    int64_t id = 0;
    index_db *ix = x1_claimed_before_x2(&id);
    int64_t due = 0;
    /* x1 is in flight and holds x2 back: nothing a claim could take */
    CHECK_INT(index_outbox_next_due(&due, ix, NOW), REG_ENOTFOUND);
    CHECK_INT(index_outbox_retry(ix, id, "w", NOW + 500, "HTTP 500", 0, NOW), REG_OK);
    CHECK_INT(index_outbox_next_due(&due, ix, NOW), REG_OK);
    CHECK_INT(due, NOW + 500); /* x2 is due but waits for x1 */
    CHECK_STR(claim_payload(ix, "w", NOW + 499, CAP, NULL), "");
    expect_claimed(ix, NOW + 500, "x1", 2);
    index_close(ix);
}

static void test_a_parked_entry_holds_nothing_back_until_redelivered(void)
{
    int64_t id = 0, n = 0;
    index_db *ix = x1_claimed_before_x2(&id);
    CHECK_INT(index_outbox_retry(ix, id, "w", NOW, "HTTP 500", 1, NOW), REG_OK);
    CHECK_STR(claim_payload(ix, "w", NOW, CAP, NULL), "x2");
    int64_t parked = 0;
    CHECK_INT(index_outbox_parked(&parked, ix), REG_OK);
    CHECK_INT(parked, 1);
    CHECK_INT(index_outbox_redeliver(&n, ix, "test", "t", -1, NOW + 1), REG_OK);
    CHECK_INT(n, 1);
    CHECK_INT(index_outbox_parked(&parked, ix), REG_OK);
    CHECK_INT(parked, 0);
    expect_claimed(ix, NOW + 1, "x1", 1);
    index_close(ix);
}

static void test_an_expired_lease_passes_to_another_owner(void)
{
    index_db *ix = fresh_index();
    int64_t first = 0, second = 0;
    queue(ix, "t", "a", "x");
    CHECK_STR(claim_payload(ix, "one", NOW, CAP, &first), "x");
    CHECK_INT(index_outbox_renew(ix, first, "one", NOW + LEASE + 5), REG_OK);
    CHECK_STR(claim_payload(ix, "two", NOW + LEASE, CAP, NULL), "");
    CHECK_INT(index_outbox_renew(ix, first, "one", NOW + LEASE), REG_OK);
    CHECK_STR(claim_payload(ix, "two", NOW + LEASE - 1, CAP, NULL), "");
    CHECK_STR(claim_payload(ix, "two", NOW + LEASE, CAP, &second), "x");
    CHECK_INT(second, first);
    CHECK_INT(index_outbox_renew(ix, first, "one", NOW + 2 * LEASE), REG_ENOTFOUND);
    CHECK_INT(index_outbox_done(ix, first, "one", NOW + LEASE), REG_ENOTFOUND);
    CHECK_INT(index_outbox_done(ix, first, "two", NOW + LEASE), REG_OK);
    index_close(ix);
}

/* A batch: the entries after the head, in commit order, due and not leased, up to the
 * limit, none past the first that is not due; a batch counts once toward the target's cap. */
static void test_a_batch_takes_the_run_that_follows_its_head(void)
{
    index_db *ix = fresh_index();
    outbox_entry head, more[8];
    size_t n = 0;
    int64_t x3 = 0;
    queue(ix, "t", "a", "x1");
    queue(ix, "t", "b", "y1");
    queue(ix, "t", "a", "x2");
    queue(ix, "u", "a", "z1");
    queue(ix, "t", "a", "x3");
    queue(ix, "t", "a", "x4");
    queue(ix, "t", "a", "x5");
    CHECK_INT(index_outbox_claim(&head, ix, "w", NOW, NOW + LEASE, CAP), REG_OK);
    CHECK_STR(head.payload, "x1");
    CHECK_INT(index_outbox_claim_following(more, 2, &n, ix, &head, "w", NOW, NOW + LEASE), REG_OK);
    CHECK_INT((int64_t)n, 2);
    CHECK_STR(more[0].payload, "x2");
    CHECK_STR(more[1].payload, "x3");
    CHECK_INT(more[1].attempts, 1);
    x3 = more[1].id;
    for (size_t i = 0; i < n; i++)
        index_outbox_entry_clear(&more[i]);
    /* x3 failed: it waits, and x4, x5 may not pass it in a batch */
    CHECK_INT(index_outbox_retry(ix, x3, "w", NOW + 500, "HTTP 500", 0, NOW), REG_OK);
    CHECK_INT(index_outbox_claim_following(more, 8, &n, ix, &head, "w", NOW, NOW + LEASE), REG_OK);
    CHECK_INT((int64_t)n, 0);
    /* the batch on t counts once: with a cap of 2, b's entry still goes, then none */
    CHECK_STR(claim_payload(ix, "w", NOW, 2, NULL), "y1");
    CHECK_STR(claim_payload(ix, "w2", NOW, 2, NULL), "z1");
    index_outbox_entry_clear(&head);
    index_close(ix);
}

static void add_webhook(index_db *ix, const char *name, unsigned events, const char *prefix)
{
    webhook_row w = {.name = (char *)name,
                     .url = "http://127.0.0.1:9/",
                     .events = events,
                     .repo_prefix = (char *)prefix,
                     .created_at = 1};
    CHECK_INT(index_webhook_add(ix, &w), REG_OK);
}

static void test_webhook_entries_follow_events_and_prefix(void)
{
    index_db *ix = fresh_index();
    int queued = 0;
    add_webhook(ix, "all", 1 | 2, "");
    add_webhook(ix, "team", 1, "team/");
    webhook_row dup = {.name = "all", .url = "http://x/", .events = 1, .repo_prefix = ""};
    CHECK_INT(index_webhook_add(ix, &dup), REG_ECONFLICT);
    CHECK_INT(index_webhook_wanted(ix, 1, "team/app"), 1);
    CHECK_INT(index_webhook_wanted(ix, 4, "team/app"), 0);
    CHECK_INT(index_outbox_queue_webhooks(&queued, ix, 1, "team/app", "{}", NOW), REG_OK);
    CHECK_INT(queued, 2);
    CHECK_INT(index_outbox_queue_webhooks(&queued, ix, 2, "team/app", "{}", NOW), REG_OK);
    CHECK_INT(queued, 1);
    CHECK_INT(index_outbox_queue_webhooks(&queued, ix, 1, "teamx", "{}", NOW), REG_OK);
    CHECK_INT(queued, 1);
    CHECK_INT(index_webhook_delete(ix, "all"), REG_OK);
    CHECK_INT(index_webhook_delete(ix, "all"), REG_ENOTFOUND);
    int64_t depth = 0, oldest = 0;
    CHECK_INT(index_outbox_stats(&depth, &oldest, ix), REG_OK);
    CHECK_INT(depth, 1); /* the deleted webhook's entries went with it */
    index_close(ix);
}

static void test_backoff_doubles_within_bounds(void)
{
    CHECK_INT(outbox_backoff_ms(1, 1000, 0), 500);
    CHECK_INT(outbox_backoff_ms(1, 1000, 1), 1000);
    CHECK_INT(outbox_backoff_ms(3, 1000, 0), 2000);
    CHECK_INT(outbox_backoff_ms(3, 1000, 1), 4000);
    CHECK_INT(outbox_backoff_ms(200, 1000, 1), OUTBOX_RETRY_MAX_MS);
    CHECK_INT(outbox_backoff_ms(200, 1000, 0), OUTBOX_RETRY_MAX_MS / 2);
}

static void suite(void)
{
    RUN(test_claims_follow_commit_order_per_repository_and_target);
    RUN(test_a_target_at_its_limit_gets_no_more);
    RUN(test_a_retry_waits_for_its_time_and_holds_back_younger_entries);
    RUN(test_a_parked_entry_holds_nothing_back_until_redelivered);
    RUN(test_an_expired_lease_passes_to_another_owner);
    RUN(test_a_batch_takes_the_run_that_follows_its_head);
    RUN(test_webhook_entries_follow_events_and_prefix);
    RUN(test_backoff_doubles_within_bounds);
}
