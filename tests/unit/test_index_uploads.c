/* test_index_uploads.c - upload sessions in the index (index_uploads.h) on SQLite and, with
 * OCIREG_TEST_PG_URL, on PostgreSQL: leases and generations decide who may write a session,
 * progress round-trips byte for byte, and expiry hands each session to exactly one caller. */
#include "storage/index/index_uploads.h"
#include "storage/base/reg_error.h"
#include "check.h"
#include "index_fixture.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID    "0b4e2a8c-1d3f-4a5b-9c7d-2e6f8a0b1c3d"
#define OTHER "7f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
#define NOW   ((int64_t)1700000000)
#define LEASE 3

static void test_new_session_claims_at_offset_zero(void)
{
    index_db *ix = fresh_index();
    upload_row row;
    CHECK_INT(index_upload_insert(ix, ID, "team/app", NOW), REG_OK);
    CHECK_INT(index_upload_insert(ix, ID, "team/app", NOW), REG_ECONFLICT);
    CHECK_INT(index_upload_claim(&row, ix, ID, "team/app", NOW, LEASE), REG_OK);
    CHECK_STR(row.id, ID);
    CHECK_STR(row.repo, "team/app");
    CHECK_INT(row.offset, 0);
    CHECK_INT(row.hash_len, 0);
    CHECK_STR(row.mpu_id, "");
    CHECK(row.parts == NULL, "parts of a new session: %s", row.parts);
    CHECK_INT(row.generation, 2); /* the creator held generation 1 */
    CHECK_INT(row.busy_until, NOW + LEASE);
    CHECK_INT(row.updated, NOW);
    free(row.parts);
    index_close(ix);
}

static void test_claim_in_another_repository_is_not_found(void)
{
    index_db *ix = fresh_index();
    upload_row row;
    CHECK_INT(index_upload_insert(ix, ID, "team/app", NOW), REG_OK);
    CHECK_INT(index_upload_claim(&row, ix, ID, "team/other", NOW, LEASE), REG_ENOTFOUND);
    CHECK_INT(index_upload_claim(&row, ix, OTHER, "team/app", NOW, LEASE), REG_ENOTFOUND);
    CHECK_INT(index_upload_get(&row, ix, ID, "team/other"), REG_ENOTFOUND);
    index_close(ix);
}

static void test_held_session_is_busy_until_its_lease_ends(void)
{
    index_db *ix = fresh_index();
    upload_row first, second;
    CHECK_INT(index_upload_insert(ix, ID, "r", NOW), REG_OK);
    CHECK_INT(index_upload_claim(&first, ix, ID, "r", NOW, LEASE), REG_OK);
    CHECK_INT(index_upload_claim(&second, ix, ID, "r", NOW + 1, LEASE), REG_EBUSY);
    CHECK_INT(index_upload_claim(&second, ix, ID, "r", NOW + LEASE, LEASE), REG_OK);
    CHECK_INT(second.generation, first.generation + 1);
    free(first.parts);
    free(second.parts);
    index_close(ix);
}

static void test_progress_round_trips(void)
{
    index_db *ix = fresh_index();
    upload_row row, back;
    const char *parts = "[{\"n\":1,\"etag\":\"\\\"abc\\\"\",\"size\":8388608}]";
    CHECK_INT(index_upload_insert(ix, ID, "r", NOW), REG_OK);
    CHECK_INT(index_upload_claim(&row, ix, ID, "r", NOW, LEASE), REG_OK);
    row.offset = 8388608 + 5000000000ULL;
    for (size_t i = 0; i < 400; i++)
        row.hash_state[i] = (unsigned char)(i * 31); /* zero bytes and backslashes included */
    row.hash_len = 400;
    snprintf(row.mpu_id, sizeof(row.mpu_id), "2~Ab'c/d+e=f");
    row.parts = strdup(parts);
    row.tail_len = 5000000000ULL;
    row.updated = NOW + 2;
    row.busy_until = NOW + 9;
    CHECK_INT(index_upload_save(ix, &row), REG_OK);
    CHECK_INT(index_upload_get(&back, ix, ID, "r"), REG_OK);
    CHECK_INT(back.offset, 8388608 + 5000000000ULL);
    CHECK_INT(back.hash_len, 400);
    CHECK(memcmp(back.hash_state, row.hash_state, 400) == 0, "hash state differs");
    CHECK_STR(back.mpu_id, "2~Ab'c/d+e=f");
    CHECK_STR(back.parts ? back.parts : "(null)", parts);
    CHECK_INT(back.tail_len, 5000000000ULL);
    CHECK_INT(back.updated, NOW + 2);
    CHECK_INT(back.busy_until, NOW + 9);
    CHECK_INT(back.generation, row.generation);
    free(row.parts);
    free(back.parts);
    index_close(ix);
}

static void test_displaced_holder_cannot_write(void)
{
    index_db *ix = fresh_index();
    upload_row old, now;
    CHECK_INT(index_upload_insert(ix, ID, "r", NOW), REG_OK);
    CHECK_INT(index_upload_claim(&old, ix, ID, "r", NOW, LEASE), REG_OK);
    CHECK_INT(index_upload_claim(&now, ix, ID, "r", NOW + LEASE + 1, LEASE), REG_OK);
    old.offset = 99;
    CHECK_INT(index_upload_save(ix, &old), REG_EBUSY);
    CHECK_INT(index_upload_renew(ix, ID, old.generation, NOW + 100), REG_EBUSY);
    CHECK_INT(index_upload_release(ix, ID, old.generation), REG_EBUSY);
    CHECK_INT(index_upload_renew(ix, ID, now.generation, NOW + 100), REG_OK);
    CHECK_INT(index_upload_release(ix, ID, now.generation), REG_OK);
    free(old.parts);
    free(now.parts);
    CHECK_INT(index_upload_get(&now, ix, ID, "r"), REG_OK);
    CHECK_INT(now.offset, 0);
    CHECK_INT(now.busy_until, 0);
    free(now.parts);
    index_close(ix);
}

static void test_released_session_can_be_claimed_at_once(void)
{
    index_db *ix = fresh_index();
    upload_row row;
    CHECK_INT(index_upload_insert(ix, ID, "r", NOW), REG_OK);
    CHECK_INT(index_upload_claim(&row, ix, ID, "r", NOW, LEASE), REG_OK);
    row.busy_until = 0;
    CHECK_INT(index_upload_save(ix, &row), REG_OK);
    free(row.parts);
    CHECK_INT(index_upload_claim(&row, ix, ID, "r", NOW, LEASE), REG_OK);
    free(row.parts);
    index_close(ix);
}

static void test_writes_to_a_deleted_session_are_not_found(void)
{
    index_db *ix = fresh_index();
    upload_row row;
    CHECK_INT(index_upload_insert(ix, ID, "r", NOW), REG_OK);
    CHECK_INT(index_upload_claim(&row, ix, ID, "r", NOW, LEASE), REG_OK);
    CHECK_INT(index_upload_delete(ix, ID), REG_OK);
    CHECK_INT(index_upload_delete(ix, ID), REG_ENOTFOUND);
    CHECK_INT(index_upload_save(ix, &row), REG_ENOTFOUND);
    CHECK_INT(index_upload_renew(ix, ID, row.generation, NOW + 5), REG_ENOTFOUND);
    free(row.parts);
    index_close(ix);
}

typedef struct expired_list {
    char text[512];
} expired_list;

static int collect_expired(void *ctx, const char *id, const char *mpu_id)
{
    expired_list *l = ctx;
    size_t len = strlen(l->text);
    snprintf(l->text + len, sizeof(l->text) - len, "%.8s:%s;", id, mpu_id ? mpu_id : "-");
    return REG_OK;
}

static void test_expiry_deletes_idle_sessions_only(void)
{
    index_db *ix = fresh_index();
    upload_row row;
    expired_list l = {""}, again = {""};
    CHECK_INT(index_upload_insert(ix, ID, "r", NOW - 1000), REG_OK);
    CHECK_INT(index_upload_insert(ix, OTHER, "r", NOW - 1000), REG_OK);
    CHECK_INT(index_upload_insert(ix, "fresh", "r", NOW), REG_OK);
    /* OTHER has an open multipart upload and a lease that is still running */
    CHECK_INT(index_upload_claim(&row, ix, OTHER, "r", NOW - 1000, LEASE), REG_OK);
    snprintf(row.mpu_id, sizeof(row.mpu_id), "mpu-1");
    row.busy_until = NOW + 60;
    CHECK_INT(index_upload_save(ix, &row), REG_OK);
    free(row.parts);
    CHECK_INT(index_upload_expire(ix, NOW - 10, collect_expired, &l), REG_OK);
    CHECK_STR(l.text, "0b4e2a8c:-;");
    CHECK_INT(index_upload_release(ix, OTHER, row.generation), REG_OK);
    CHECK_INT(index_upload_expire(ix, NOW - 10, collect_expired, &again), REG_OK);
    CHECK_STR(again.text, "7f1e2d3c:mpu-1;");
    CHECK_INT(index_upload_get(&row, ix, "fresh", "r"), REG_OK);
    free(row.parts);
    index_close(ix);
}

/* ---- concurrent claims ---- */

#define CLAIMERS 6

typedef struct claimer {
    const char *location;
    pthread_barrier_t *start;
    int err;
} claimer;

static void *claim_once(void *arg)
{
    claimer *c = arg;
    index_db *ix = NULL;
    upload_row row;
    int err = index_open(&ix, c->location);
    pthread_barrier_wait(c->start);
    if (err == REG_OK && (err = index_upload_claim(&row, ix, ID, "r", NOW, LEASE)) == REG_OK)
        free(row.parts);
    c->err = err;
    index_close(ix);
    return NULL;
}

static void test_concurrent_claims_have_one_winner(void)
{
    index_db *ix = fresh_index();
    pthread_t threads[CLAIMERS];
    claimer c[CLAIMERS];
    pthread_barrier_t start;
    int won = 0, busy = 0;
    CHECK_INT(index_upload_insert(ix, ID, "r", NOW), REG_OK);
    pthread_barrier_init(&start, NULL, CLAIMERS);
    for (int i = 0; i < CLAIMERS; i++) {
        c[i] = (claimer){.location = fixture_location, .start = &start};
        pthread_create(&threads[i], NULL, claim_once, &c[i]);
    }
    for (int i = 0; i < CLAIMERS; i++) {
        pthread_join(threads[i], NULL);
        won += c[i].err == REG_OK;
        busy += c[i].err == REG_EBUSY;
    }
    pthread_barrier_destroy(&start);
    CHECK_INT(won, 1);
    CHECK_INT(busy, CLAIMERS - 1);
    index_close(ix);
}

static void suite(void)
{
    RUN(test_new_session_claims_at_offset_zero);
    RUN(test_claim_in_another_repository_is_not_found);
    RUN(test_held_session_is_busy_until_its_lease_ends);
    RUN(test_progress_round_trips);
    RUN(test_displaced_holder_cannot_write);
    RUN(test_released_session_can_be_claimed_at_once);
    RUN(test_writes_to_a_deleted_session_are_not_found);
    RUN(test_expiry_deletes_idle_sessions_only);
    RUN(test_concurrent_claims_have_one_winner);
}
