/* test_index_pg.c - the index's operations, transactions and migrations on SQLite and, when
 * OCIREG_TEST_PG_URL names a PostgreSQL database, the same on PostgreSQL: both backends must
 * answer alike (ordering, NULLs, booleans, blobs, conflicts), writers must be serialised
 * across connections, and a lost PostgreSQL connection must be reset (before use when it was
 * lost while idle; after failing the transaction it was lost in). */
#include "storage/index/index.h"
#include "storage/index/index_auth.h"
#include "storage/index/index_export.h"
#include "storage/index/index_fsck.h"
#include "storage/index/index_gc.h"
#include "storage/index/index_inline.h"
#include "storage/index/index_lifecycle.h"
#include "storage/index/index_policy.h"
#include "storage/index/index_repos.h"
#include "storage/base/reg_error.h"
#include "check.h"
#include "index_fixture.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static digest dg(int n)
{
    char text[80];
    digest d;
    snprintf(text, sizeof(text), "sha256:%064x", n);
    if (digest_parse(&d, text) < 0)
        abort();
    return d;
}

/* Collects names and other callback rows as one comma-separated string. */
typedef struct names {
    char text[2048];
    int n;
} names;

static void add_name(names *l, const char *s)
{
    size_t len = strlen(l->text);
    snprintf(l->text + len, sizeof(l->text) - len, "%s%s", l->n++ ? "," : "", s ? s : "(null)");
}

static int collect_name(void *ctx, const char *name)
{
    add_name(ctx, name);
    return REG_OK;
}

/* A repository "r" with an image: config dg(1), layer dg(2), manifest dg(10) tagged "v1". */
static int64_t seed_image(index_db *ix)
{
    int64_t repo_id = 0;
    int inserted = 0;
    digest cfg = dg(1), layer = dg(2), man = dg(10);
    CHECK_INT(index_begin(ix), REG_OK);
    CHECK_INT(index_repo_ensure(&repo_id, ix, "r"), REG_OK);
    CHECK_INT(index_blob_link(ix, repo_id, &cfg, 100), REG_OK);
    CHECK_INT(index_blob_link(ix, repo_id, &layer, 5000000000LL), REG_OK);
    CHECK_INT(index_blob_link(ix, repo_id, &man, 400), REG_OK);
    manifest_record rec = {.dg = &man,
                           .media_type = "application/vnd.oci.image.manifest.v1+json",
                           .size = 400,
                           .image_size = 5000000500LL};
    CHECK_INT(index_manifest_insert(&inserted, ix, repo_id, &rec), REG_OK);
    CHECK_INT(inserted, 1);
    CHECK_INT(index_manifest_ref_insert(ix, repo_id, man.str, cfg.str, "config"), REG_OK);
    CHECK_INT(index_manifest_ref_insert(ix, repo_id, man.str, layer.str, "layer"), REG_OK);
    CHECK_INT(index_tag_set(ix, repo_id, "v1", man.str), REG_OK);
    CHECK_INT(index_commit(ix), REG_OK);
    return repo_id;
}

static void test_open_twice_keeps_the_migrated_schema(void)
{
    char msg[256] = "";
    index_db *ix = fresh_index(), *again = NULL;
    CHECK_INT(index_open(&again, fixture_location), REG_OK);
    CHECK_INT(index_fsck_integrity(msg, sizeof(msg), again), REG_OK);
    CHECK_STR(msg, "ok");
    index_close(again);
    index_close(ix);
}

static void test_blob_and_manifest_round_trip(void)
{
    index_db *ix = fresh_index();
    int64_t repo_id = seed_image(ix), again = 0;
    uint64_t size = 0;
    manifest_row row;
    digest layer = dg(2), man = dg(10), absent = dg(99);
    CHECK_INT(index_repo_id(&again, ix, "r"), REG_OK);
    CHECK_INT(again, repo_id);
    CHECK_INT(index_repo_id(&again, ix, "nope"), REG_ENOTFOUND);
    CHECK_INT(index_blob_in_repo(&size, ix, "r", &layer), REG_OK);
    CHECK_INT(size, 5000000000LL);
    CHECK_INT(index_blob_in_repo_id(&size, ix, repo_id, layer.str), REG_OK);
    CHECK_INT(index_blob_in_repo(&size, ix, "r", &absent), REG_ENOTFOUND);
    CHECK_INT(index_manifest_by_tag(&row, ix, "r", "v1"), REG_OK);
    CHECK_STR(row.dg.str, man.str);
    CHECK_STR(row.media_type, "application/vnd.oci.image.manifest.v1+json");
    CHECK_INT(row.size, 400);
    CHECK_INT(index_manifest_by_digest(&row, ix, "r", &man), REG_OK);
    CHECK_INT(index_manifest_by_tag(&row, ix, "r", "v2"), REG_ENOTFOUND);
    CHECK_INT(index_manifest_in_repo_id(ix, repo_id, man.str), REG_OK);
    index_close(ix);
}

static void test_second_insert_of_a_manifest_reports_not_inserted(void)
{
    index_db *ix = fresh_index();
    int64_t repo_id = seed_image(ix);
    int inserted = 1;
    digest man = dg(10);
    manifest_record rec = {.dg = &man, .media_type = "x", .size = 1};
    CHECK_INT(index_manifest_insert(&inserted, ix, repo_id, &rec), REG_OK);
    CHECK_INT(inserted, 0);
    index_close(ix);
}

static void test_pages_are_in_byte_order(void)
{
    index_db *ix = fresh_index();
    int64_t repo_id = seed_image(ix);
    int more = 0;
    names all = {0}, page = {0}, rest = {0};
    static const char *const tags[] = {"b", "a_b", "B", "a-b", "a", "A1"};
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
        CHECK_INT(index_tag_set(ix, repo_id, tags[i], dg(10).str), REG_OK);
    CHECK_INT(index_tags_page(&more, ix, "r", NULL, 100, collect_name, &all), REG_OK);
    CHECK_STR(all.text, "A1,B,a,a-b,a_b,b,v1");
    CHECK_INT(more, 0);
    CHECK_INT(index_tags_page(&more, ix, "r", "a", 2, collect_name, &page), REG_OK);
    CHECK_STR(page.text, "a-b,a_b");
    CHECK_INT(more, 1);
    CHECK_INT(index_tags_page(&more, ix, "nope", NULL, 2, collect_name, &rest), REG_ENOTFOUND);
    int64_t id;
    CHECK_INT(index_repo_ensure(&id, ix, "Zeta"), REG_OK);
    CHECK_INT(index_repo_ensure(&id, ix, "alpha/x"), REG_OK);
    CHECK_INT(index_catalog_page(&more, ix, "", 10, collect_name, &rest), REG_OK);
    CHECK_STR(rest.text, "Zeta,alpha/x,r");
    index_close(ix);
}

typedef struct referrers {
    names digests;
    char artifact[64], annotations[64];
} referrers;

static int collect_referrer(void *ctx, const referrer_row *row)
{
    referrers *r = ctx;
    add_name(&r->digests, row->digest);
    snprintf(r->artifact, sizeof(r->artifact), "%s",
             row->artifact_type ? row->artifact_type : "NULL");
    snprintf(r->annotations, sizeof(r->annotations), "%s",
             row->annotations ? row->annotations : "NULL");
    return REG_OK;
}

static void test_referrers_filter_by_artifact_type_or_not(void)
{
    index_db *ix = fresh_index();
    int64_t repo_id = seed_image(ix);
    int inserted;
    digest subject = dg(10), sig = dg(20), sbom = dg(21);
    manifest_record a = {.dg = &sig,
                         .media_type = "m",
                         .artifact_type = "sig",
                         .subject = subject.str,
                         .annotations = "{\"k\":\"v\"}",
                         .size = 1};
    manifest_record b = {.dg = &sbom, .media_type = "m", .subject = subject.str, .size = 1};
    CHECK_INT(index_manifest_insert(&inserted, ix, repo_id, &a), REG_OK);
    CHECK_INT(index_manifest_insert(&inserted, ix, repo_id, &b), REG_OK);
    referrers all = {0}, sigs = {0};
    CHECK_INT(index_referrers(ix, "r", &subject, NULL, collect_referrer, &all), REG_OK);
    CHECK_INT(all.digests.n, 2);
    CHECK_STR(all.artifact, "NULL"); /* sbom (dg 21) comes last and has none */
    CHECK_INT(index_referrers(ix, "r", &subject, "sig", collect_referrer, &sigs), REG_OK);
    CHECK_STR(sigs.digests.text, sig.str);
    CHECK_STR(sigs.annotations, "{\"k\":\"v\"}");
    index_close(ix);
}

static void test_deletes_refuse_what_is_still_used(void)
{
    index_db *ix = fresh_index();
    int64_t repo_id = seed_image(ix);
    char conflict[DIGEST_MAX] = "";
    digest layer = dg(2), man = dg(10), idx = dg(30), absent = dg(99);
    CHECK_INT(index_blob_unlink(conflict, ix, "r", &layer), REG_ECONFLICT);
    CHECK_STR(conflict, man.str);
    CHECK_INT(index_manifest_ref_insert(ix, repo_id, idx.str, man.str, "manifest"), REG_OK);
    CHECK_INT(index_manifest_delete(conflict, ix, "r", &man), REG_ECONFLICT);
    CHECK_STR(conflict, idx.str);
    CHECK_INT(index_manifest_delete(conflict, ix, "r", &absent), REG_ENOTFOUND);
    CHECK_INT(index_tag_delete(ix, "r", "v1"), REG_OK);
    CHECK_INT(index_tag_delete(ix, "r", "v1"), REG_ENOTFOUND);
    index_close(ix);
}

static void test_rollback_leaves_nothing_behind(void)
{
    index_db *ix = fresh_index();
    int64_t repo_id = 0;
    CHECK_INT(index_begin(ix), REG_OK);
    CHECK_INT(index_repo_ensure(&repo_id, ix, "gone"), REG_OK);
    index_rollback(ix);
    CHECK_INT(index_repo_id(&repo_id, ix, "gone"), REG_ENOTFOUND);
    /* the lock was released: a second transaction can start */
    CHECK_INT(index_begin(ix), REG_OK);
    CHECK_INT(index_commit(ix), REG_OK);
    index_close(ix);
}

static void test_users_grants_and_keys(void)
{
    index_db *ix = fresh_index();
    user_record u = {.name = "alice", .iterations = 1000, .generation = 0x3fffffffffff1234}, got;
    unsigned char secret[40];
    char user[USER_NAME_MAX + 1];
    size_t len = 0;
    int64_t count = 0, gen = 0;
    memset(u.salt, 0x00, sizeof(u.salt));
    u.salt[3] = 0x5c; /* a backslash and a zero byte survive the round trip */
    for (int i = 0; i < PASSWORD_HASH_LEN; i++)
        u.hash[i] = (unsigned char)(255 - i);
    CHECK_INT(index_user_put(ix, &u), REG_OK);
    CHECK_INT(index_user_get(&got, ix, "alice"), REG_OK);
    CHECK(memcmp(got.salt, u.salt, sizeof(u.salt)) == 0, "salt differs");
    CHECK(memcmp(got.hash, u.hash, sizeof(u.hash)) == 0, "hash differs");
    CHECK_INT(got.iterations, 1000);
    CHECK_INT(got.generation, 0x3fffffffffff1234);
    u.generation = 7; /* a new password brings a new generation */
    CHECK_INT(index_user_put(ix, &u), REG_OK);
    CHECK_INT(index_user_generation(&gen, ix, "alice"), REG_OK);
    CHECK_INT(gen, 7);
    CHECK_INT(index_user_generation(&gen, ix, "nobody"), REG_ENOTFOUND);
    CHECK_INT(index_user_count(&count, ix), REG_OK);
    CHECK_INT(count, 1);
    CHECK_INT(index_grant_add(ix, "alice", "team/*", 1), REG_OK);
    CHECK_INT(index_grant_add(ix, "alice", "team/*", 2), REG_OK);
    CHECK_INT(index_grant_remove(ix, "alice", "team/*", 1), REG_OK);
    CHECK_INT(index_grant_remove(ix, "bob", "team/*", 1), REG_ENOTFOUND);
    for (size_t i = 0; i < sizeof(secret); i++)
        secret[i] = (unsigned char)(i * 7);
    CHECK_INT(index_access_key_put(ix, "AKIA1", "alice", secret, sizeof(secret)), REG_OK);
    memset(secret, 0, sizeof(secret));
    CHECK_INT(index_access_key_get(user, secret, &len, ix, "AKIA1"), REG_OK);
    CHECK_STR(user, "alice");
    CHECK_INT(len, 40);
    CHECK_INT(secret[39], (39 * 7) & 255);
    CHECK_INT(index_access_key_get(user, secret, &len, ix, "AKIA2"), REG_ENOTFOUND);
    CHECK_INT(index_user_delete(ix, "alice"), REG_OK);
    CHECK_INT(index_access_key_get(user, secret, &len, ix, "AKIA1"), REG_ENOTFOUND);
    CHECK_INT(index_user_delete(ix, "alice"), REG_ENOTFOUND);
    index_close(ix);
}

static int collect_grant(void *ctx, const char *principal, const char *pattern, unsigned actions)
{
    char row[200];
    snprintf(row, sizeof(row), "%s:%s:%u", principal, pattern, actions);
    add_name(ctx, row);
    return REG_OK;
}

static int collect_key(void *ctx, const char *id, const char *user, int64_t created_at)
{
    add_name(ctx, id);
    add_name(ctx, user);
    return created_at > 0 ? REG_OK : REG_ERROR;
}

static void test_grants_and_keys_list_with_and_without_a_filter(void)
{
    index_db *ix = fresh_index();
    names mine = {0}, all = {0}, keys = {0}, no_keys = {0};
    unsigned char secret[4] = {1, 2, 3, 4};
    CHECK_INT(index_grant_add(ix, "anonymous", "pub/*", 1), REG_OK);
    CHECK_INT(index_grant_add(ix, "bob", "b/*", 3), REG_OK);
    CHECK_INT(index_grant_add(ix, "carol", "c/*", 1), REG_OK);
    CHECK_INT(index_grants(ix, "bob", collect_grant, &mine), REG_OK);
    CHECK_INT(mine.n, 2);
    CHECK_INT(index_grants(ix, NULL, collect_grant, &all), REG_OK);
    CHECK_STR(all.text, "anonymous:pub/*:1,bob:b/*:3,carol:c/*:1");
    CHECK_INT(index_access_key_put(ix, "K1", "bob", secret, 4), REG_OK);
    CHECK_INT(index_access_keys(ix, NULL, collect_key, &keys), REG_OK);
    CHECK_STR(keys.text, "K1,bob");
    CHECK_INT(index_access_keys(ix, "carol", collect_key, &no_keys), REG_OK);
    CHECK_INT(no_keys.n, 0);
    index_close(ix);
}

typedef struct image_rows {
    names rows;
} image_rows;

static int collect_image(void *ctx, const image_info *img)
{
    char row[400];
    snprintf(row, sizeof(row), "%.14s|%s|%s|%lld|%d", img->digest + 7 + 50,
             img->tags ? img->tags : "-", img->subject ? "subject" : "-", (long long)img->size,
             img->child);
    add_name(ctx, row);
    return REG_OK;
}

static int collect_repo(void *ctx, const repo_info *info)
{
    char row[400];
    snprintf(row, sizeof(row), "%s|%s|%d|%lld|%lld|%lld", info->name, info->mutability,
             info->has_policy, (long long)info->image_count, (long long)info->tag_count,
             (long long)info->size_bytes);
    add_name(ctx, row);
    return REG_OK;
}

static int collect_kv(void *ctx, const char *key, const char *value)
{
    add_name(ctx, key);
    add_name(ctx, value);
    return REG_OK;
}

static void test_repository_metadata(void)
{
    index_db *ix = fresh_index();
    int64_t repo_id = seed_image(ix);
    int immutable = -1;
    char *policy = NULL;
    names images = {0}, infos = {0}, kv = {0};
    uint64_t image_size = 0;
    CHECK_INT(index_tag_set(ix, repo_id, "latest", dg(10).str), REG_OK);
    CHECK_INT(index_images(ix, "r", collect_image, &images), REG_OK);
    CHECK_STR(images.text, "0000000000000a|latest,v1|-|5000000500|0");
    CHECK_INT(index_repo_immutable(&immutable, ix, repo_id), REG_OK);
    CHECK_INT(immutable, 0);
    CHECK_INT(index_repo_set_mutability(ix, "r", IMMUTABLE), REG_OK);
    CHECK_INT(index_repo_immutable(&immutable, ix, repo_id), REG_OK);
    CHECK_INT(immutable, 1);
    CHECK_INT(index_repo_policy(&policy, ix, "r"), REG_ENOTFOUND);
    CHECK_INT(index_repo_set_policy(ix, "r", "{\"rules\":[]}"), REG_OK);
    CHECK_INT(index_repo_policy(&policy, ix, "r"), REG_OK);
    CHECK_STR(policy ? policy : "", "{\"rules\":[]}");
    free(policy);
    CHECK_INT(index_repo_infos(ix, NULL, NULL, 10, collect_repo, &infos), REG_OK);
    CHECK_STR(infos.text, "r|IMMUTABLE|1|1|2|5000000500");
    CHECK_INT(index_repo_infos(ix, "nope", NULL, 10, collect_repo, &infos), REG_ENOTFOUND);
    CHECK_INT(index_manifest_image_size(&image_size, ix, repo_id, dg(10).str), REG_OK);
    CHECK_INT(image_size, 5000000500LL);
    CHECK_INT(index_record_pull(ix, "r", dg(10).str, 1700000000), REG_OK);
    CHECK_INT(index_repo_tag_set(ix, "r", "team", "a"), REG_OK);
    CHECK_INT(index_repo_tag_set(ix, "r", "team", "b"), REG_OK);
    CHECK_INT(index_repo_tags(ix, "r", collect_kv, &kv), REG_OK);
    CHECK_STR(kv.text, "team,b");
    CHECK_INT(index_repo_create(ix, "r", MUTABLE), REG_ECONFLICT);
    CHECK_INT(index_repo_create(ix, "empty", MUTABLE), REG_OK);
    CHECK_INT(index_repo_delete(ix, "r", 0), REG_ECONFLICT);
    CHECK_INT(index_repo_delete(ix, "r", 1), REG_OK);
    CHECK_INT(index_repo_delete(ix, "r", 1), REG_ENOTFOUND);
    CHECK_INT(index_repo_delete(ix, "empty", 0), REG_OK);
    index_close(ix);
}

static void test_lifecycle_previews_and_tag_counts(void)
{
    index_db *ix = fresh_index();
    int64_t repo_id = seed_image(ix), tags = -1;
    index_preview p = {0};
    CHECK_INT(index_preview_get(&p, ix, "r"), REG_ENOTFOUND);
    CHECK_INT(index_preview_set(ix, "nope", "COMPLETE", "{}", "[]", 1), REG_ENOTFOUND);
    CHECK_INT(index_preview_set(ix, "r", "COMPLETE", "{\"rules\":[]}", "[]", 1), REG_OK);
    CHECK_INT(index_preview_set(ix, "r", "COMPLETE", "{\"rules\":[1]}", "[{\"a\":1}]", 2), REG_OK);
    CHECK_INT(index_preview_get(&p, ix, "r"), REG_OK);
    CHECK_STR(p.status ? p.status : "", "COMPLETE");
    CHECK_STR(p.policy ? p.policy : "", "{\"rules\":[1]}");
    CHECK_STR(p.results ? p.results : "", "[{\"a\":1}]");
    index_preview_clear(&p);
    CHECK_INT(index_tag_set(ix, repo_id, "latest", dg(10).str), REG_OK);
    CHECK_INT(index_image_tag_count(&tags, ix, repo_id, dg(10).str), REG_OK);
    CHECK_INT(tags, 2);
    CHECK_INT(index_image_tag_count(&tags, ix, repo_id, dg(11).str), REG_OK);
    CHECK_INT(tags, 0);
    CHECK_INT(index_repo_delete(ix, "r", 1), REG_OK);
    CHECK_INT(index_repo_create(ix, "r", MUTABLE), REG_OK);
    CHECK_INT(index_preview_get(&p, ix, "r"), REG_ENOTFOUND);
    index_close(ix);
}

static int collect_access_policy(void *ctx, const char *repo, const char *text)
{
    names *l = ctx;
    char row[256];
    snprintf(row, sizeof(row), "%s=%s", repo ? repo : "(registry)", text);
    add_name(l, row);
    return REG_OK;
}

/* get(&text, ix, key) gives want, or REG_ENOTFOUND when want is NULL. */
static void expect_text(int (*get)(char **, index_db *, const char *), index_db *ix,
                        const char *key, const char *want)
{
    char *text = NULL;
    CHECK_INT(get(&text, ix, key), want ? REG_OK : REG_ENOTFOUND);
    if (want)
        CHECK_STR(text ? text : "", want);
    free(text);
}

/* Repository policies exist only with their repository and go with it; the registry's is
 * listed with repo NULL. */
static void test_access_policies(void)
{
    index_db *ix = fresh_index();
    names all = {0};
    CHECK_INT(index_access_policy_put(ix, "r", "{}"), REG_ENOTFOUND);
    CHECK_INT(index_repo_create(ix, "r", MUTABLE), REG_OK);
    expect_text(index_access_policy_get, ix, "r", NULL);
    CHECK_INT(index_access_policy_put(ix, "r", "{\"a\":1}"), REG_OK);
    CHECK_INT(index_access_policy_put(ix, "r", "{\"a\":2}"), REG_OK);
    expect_text(index_access_policy_get, ix, "r", "{\"a\":2}");
    expect_text(index_access_policy_get, ix, NULL, NULL);
    CHECK_INT(index_access_policy_put(ix, NULL, "{\"r\":1}"), REG_OK);
    CHECK_INT(index_access_policies(ix, collect_access_policy, &all), REG_OK);
    CHECK_STR(all.text, "(registry)={\"r\":1},r={\"a\":2}");
    CHECK_INT(index_repo_delete(ix, "r", 0), REG_OK);
    CHECK_INT(index_repo_create(ix, "r", MUTABLE), REG_OK);
    expect_text(index_access_policy_get, ix, "r", NULL);
    CHECK_INT(index_access_policy_delete(ix, "r"), REG_ENOTFOUND);
    CHECK_INT(index_access_policy_delete(ix, NULL), REG_OK);
    CHECK_INT(index_access_policy_delete(ix, NULL), REG_ENOTFOUND);
    index_close(ix);
}

static int keep_scan_on_push(void *ctx, const repo_info *info)
{
    *(int *)ctx = info->scan_on_push;
    return REG_OK;
}

/* ECR: resource tags under a limit in one transaction, scanOnPush, registry settings. */
static void test_repository_ecr_settings(void)
{
    index_db *ix = fresh_index();
    const char *keys[] = {"a", "b", "c"}, *values[] = {"1", "", "3"};
    names kv = {0};
    int scan = -1;
    CHECK_INT(index_repo_create_scanning(ix, "s", MUTABLE, 1), REG_OK);
    CHECK_INT(index_repo_infos(ix, "s", NULL, 1, keep_scan_on_push, &scan), REG_OK);
    CHECK_INT(scan, 1);
    CHECK_INT(index_repo_set_scan_on_push(ix, "s", 0), REG_OK);
    CHECK_INT(index_repo_infos(ix, "s", NULL, 1, keep_scan_on_push, &scan), REG_OK);
    CHECK_INT(scan, 0);
    CHECK_INT(index_repo_set_scan_on_push(ix, "nope", 1), REG_ENOTFOUND);
    CHECK_INT(index_repo_tags_add(ix, "s", 2, keys, values, 2), REG_OK);
    CHECK_INT(index_repo_tags_add(ix, "s", 1, keys + 2, values + 2, 2), REG_ETOOLARGE);
    CHECK_INT(index_repo_tags_add(ix, "s", 1, keys, values + 2, 2), REG_OK); /* replaces a */
    CHECK_INT(index_repo_tags(ix, "s", collect_kv, &kv), REG_OK);
    CHECK_STR(kv.text, "a,3,b,");
    expect_text(index_registry_setting, ix, "x", NULL);
    CHECK_INT(index_registry_setting_set(ix, "x", "{\"rules\":[]}"), REG_OK);
    CHECK_INT(index_registry_setting_set(ix, "x", "{\"rules\":[1]}"), REG_OK);
    expect_text(index_registry_setting, ix, "x", "{\"rules\":[1]}");
    index_close(ix);
}

static void test_gc_queries(void)
{
    index_db *ix = fresh_index();
    int64_t repo_id = seed_image(ix), runs = 0, blobs = 0, bytes = 0, total = 0, last = 0;
    gc_manifest found[8];
    gc_blob unref[8];
    size_t n = 0;
    int kept = -1, known = -1;
    digest orphan = dg(40);
    CHECK_INT(index_gc_is_kept(&kept, ix, "r", dg(10).str), REG_OK);
    CHECK_INT(kept, 1);
    CHECK_INT(index_tag_delete(ix, "r", "v1"), REG_OK);
    CHECK_INT(index_gc_is_kept(&kept, ix, "r", dg(10).str), REG_OK);
    CHECK_INT(kept, 0);
    CHECK_INT(index_gc_untagged(found, 8, &n, ix, time(NULL) + 10), REG_OK);
    CHECK_INT(n, 1);
    CHECK_STR(found[0].repo, "r");
    CHECK_INT(index_blob_link(ix, repo_id, &orphan, 7), REG_OK);
    CHECK_INT(index_gc_unreferenced_blobs(unref, 8, &n, ix, time(NULL) + 10, ""), REG_OK);
    CHECK_INT(n, 1);
    CHECK_STR(unref[0].dg.str, orphan.str);
    CHECK_INT(unref[0].size, 7);
    CHECK_INT(index_gc_blob_known(&known, ix, orphan.str), REG_OK);
    CHECK_INT(known, 1);
    CHECK_INT(index_gc_delete_blob(&unref[0].held, ix, orphan.str), REG_OK);
    CHECK_INT(unref[0].held, 0);
    CHECK_INT(index_gc_blob_known(&known, ix, orphan.str), REG_OK);
    CHECK_INT(known, 0);
    gc_totals t = {
        .started_at = 1, .finished_at = 2, .blobs_deleted = 3, .bytes_freed = 6000000000LL};
    CHECK_INT(index_gc_record(ix, &t), REG_OK);
    CHECK_INT(index_gc_record(ix, &t), REG_OK);
    CHECK_INT(index_gc_summary(&runs, &blobs, &bytes, &last, ix), REG_OK);
    CHECK_INT(runs, 2);
    CHECK_INT(blobs, 6);
    CHECK_INT(bytes, 12000000000LL);
    CHECK_INT(last, 2);
    CHECK_INT(index_storage_bytes(&total, ix), REG_OK);
    CHECK_INT(total, 5000000500LL);
    index_close(ix);
}

/* Blobs held in the index: bytes (zeros and 0xff included) come back exact, whole or by range,
 * an empty blob is zero bytes (not NULL), gc frees them with the row and sees which were held. */
static void test_inline_blobs_round_trip(void)
{
    index_db *ix = fresh_index();
    int64_t repo_id = 0;
    unsigned char bytes[300];
    digest held = dg(50), empty = dg(51), absent = dg(52);
    void *out = NULL;
    uint64_t size = 0;
    gc_blob unref[8];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (unsigned char)(i * 7 + (i % 3 ? 0 : 0xff));
    bytes[0] = 0;
    CHECK_INT(index_begin(ix), REG_OK);
    CHECK_INT(index_repo_ensure(&repo_id, ix, "r"), REG_OK);
    CHECK_INT(index_inline_put(ix, &held, bytes, sizeof(bytes)), REG_OK);
    CHECK_INT(index_inline_put(ix, &held, "other", 5), REG_OK); /* held already: kept */
    CHECK_INT(index_inline_put(ix, &empty, NULL, 0), REG_OK);
    CHECK_INT(index_inline_put(ix, &absent, bytes, INDEX_INLINE_LIMIT + 1), REG_ETOOLARGE);
    CHECK_INT(index_blob_link(ix, repo_id, &held, sizeof(bytes)), REG_OK);
    CHECK_INT(index_blob_link(ix, repo_id, &absent, 9), REG_OK);
    CHECK_INT(index_commit(ix), REG_OK);
    CHECK_INT(index_inline_read(&out, &size, ix, &held, 0, UINT64_MAX), REG_OK);
    CHECK(size == sizeof(bytes) && memcmp(out, bytes, sizeof(bytes)) == 0, "whole blob back");
    free(out);
    CHECK_INT(index_inline_read(&out, &size, ix, &held, 290, 10), REG_OK);
    CHECK(memcmp(out, bytes + 290, 10) == 0, "the last 10 bytes back");
    free(out);
    CHECK_INT(index_inline_read(&out, &size, ix, &held, 290, 11), REG_EINVALID);
    CHECK_INT(index_inline_read(&out, &size, ix, &empty, 0, UINT64_MAX), REG_OK);
    CHECK_INT(size, 0);
    free(out);
    CHECK_INT(index_inline_read(&out, &size, ix, &absent, 0, 1), REG_ENOTFOUND);
    CHECK_INT(index_inline_size(&size, ix, held.str), REG_OK);
    CHECK_INT(size, sizeof(bytes));
    CHECK_INT(index_inline_size(&size, ix, absent.str), REG_ENOTFOUND);
    CHECK_INT(index_gc_unreferenced_blobs(unref, 8, &n, ix, time(NULL) + 10, ""), REG_OK);
    CHECK_INT(n, 2);
    CHECK_INT(index_begin(ix), REG_OK);
    for (size_t i = 0; i < n; i++) {
        CHECK_INT(index_gc_delete_blob(&unref[i].held, ix, unref[i].dg.str), REG_OK);
        CHECK_INT(unref[i].held, strcmp(unref[i].dg.str, held.str) == 0);
    }
    CHECK_INT(index_commit(ix), REG_OK);
    CHECK_INT(index_inline_size(&size, ix, held.str), REG_ENOTFOUND);
    index_close(ix);
}

static int collect_problem(void *ctx, const char *kind, const char *repo, const char *a,
                           const char *b)
{
    char row[300];
    snprintf(row, sizeof(row), "%s:%s:%.12s", kind, repo, a);
    add_name(ctx, row);
    return b ? REG_OK : REG_ERROR;
}

static void test_fsck_queries(void)
{
    index_db *ix = fresh_index();
    int64_t repo_id = seed_image(ix);
    names problems = {0};
    CHECK_INT(index_tag_set(ix, repo_id, "dangling", dg(50).str), REG_OK);
    CHECK_INT(index_fsck_dangling(ix, collect_problem, &problems), REG_OK);
    CHECK_STR(problems.text, "tag:r:dangling");
    CHECK_INT(index_fsck_drop_blob(ix, dg(2).str), REG_ECONFLICT);
    CHECK_INT(index_fsck_drop_tag(ix, "r", "dangling"), REG_OK);
    index_close(ix);
}

static int collect_digest_size(void *ctx, const char *digest, uint64_t size)
{
    char row[120];
    snprintf(row, sizeof(row), "%.12s=%llu", digest + 59, (unsigned long long)size);
    add_name(ctx, row);
    return REG_OK;
}

static int collect_blob_row(void *ctx, const char *digest, int64_t size)
{
    return collect_digest_size(ctx, digest, (uint64_t)size);
}

static int collect_tag(void *ctx, const char *tag, const char *digest)
{
    add_name(ctx, tag);
    return digest ? REG_OK : REG_ERROR;
}

static void test_listings(void)
{
    index_db *ix = fresh_index();
    int64_t repo_id = seed_image(ix), count = 0;
    names page = {0}, rows = {0}, tags = {0}, users = {0}, kv = {0};
    gc_manifest deps[4];
    size_t n = 0;
    char target[DIGEST_MAX] = "";
    unsigned char secret[4] = {9, 9, 9, 9};
    user_record u = {.name = "zed", .iterations = 1};
    CHECK_INT(index_blobs_page(&count, ix, "", 2, collect_digest_size, &page), REG_OK);
    CHECK_INT(count, 2);
    CHECK_STR(page.text, "000000000001=100,000000000002=5000000000");
    CHECK_INT(index_fsck_blobs(ix, collect_blob_row, &rows), REG_OK);
    CHECK_INT(rows.n, 3);
    CHECK_INT(index_export_tags(ix, "r", collect_tag, &tags), REG_OK);
    CHECK_STR(tags.text, "v1");
    CHECK_INT(index_export_tags(ix, "nope", collect_tag, &tags), REG_ENOTFOUND);
    CHECK_INT(index_tag_target(target, ix, repo_id, "v1"), REG_OK);
    CHECK_STR(target, dg(10).str);
    CHECK_INT(index_tag_target(target, ix, repo_id, "v9"), REG_ENOTFOUND);
    CHECK_INT(index_manifest_ref_insert(ix, repo_id, dg(30).str, dg(10).str, "manifest"), REG_OK);
    CHECK_INT(index_gc_dependents(deps, 4, &n, ix, "r", dg(30).str), REG_OK);
    CHECK_INT(n, 1);
    CHECK_STR(deps[0].digest, dg(10).str);
    CHECK_INT(index_fsck_drop_link(ix, "r", dg(2).str), REG_OK);
    CHECK_INT(index_blob_in_repo_id(NULL, ix, repo_id, dg(2).str), REG_ENOTFOUND);
    CHECK_INT(index_user_put(ix, &u), REG_OK);
    CHECK_INT(index_user_list(ix, collect_name, &users), REG_OK);
    CHECK_STR(users.text, "zed");
    CHECK_INT(index_access_key_put(ix, "K1", "zed", secret, 4), REG_OK);
    CHECK_INT(index_access_key_delete(ix, "K1"), REG_OK);
    CHECK_INT(index_access_key_delete(ix, "K1"), REG_ENOTFOUND);
    CHECK_INT(index_repo_tag_set(ix, "r", "a", "1"), REG_OK);
    CHECK_INT(index_repo_tag_set(ix, "r", "b", "2"), REG_OK);
    CHECK_INT(index_repo_tag_delete(ix, "r", "a"), REG_OK);
    CHECK_INT(index_repo_tags(ix, "r", collect_kv, &kv), REG_OK);
    CHECK_STR(kv.text, "b,2");
    index_close(ix);
}

/* ---- writers across connections ---- */

typedef struct second_writer {
    const char *location;
    volatile int began;
    int err;
} second_writer;

static void *begin_elsewhere(void *arg)
{
    second_writer *w = arg;
    index_db *ix = NULL;
    int64_t id = 0;
    w->err = index_open(&ix, w->location);
    if (w->err == REG_OK && (w->err = index_begin(ix)) == REG_OK) {
        w->began = 1;
        /* the first writer's row is visible once we hold the lock */
        w->err = index_repo_id(&id, ix, "first");
        index_rollback(ix);
    }
    index_close(ix);
    return NULL;
}

/* While ix writes, a writer on another connection of the same index waits for its commit. */
static void check_writers_take_turns(index_db *ix)
{
    second_writer w = {.location = fixture_location};
    pthread_t t;
    int64_t id;
    CHECK_INT(index_begin(ix), REG_OK);
    CHECK_INT(index_repo_ensure(&id, ix, "first"), REG_OK);
    pthread_create(&t, NULL, begin_elsewhere, &w);
    usleep(300000);
    CHECK(!w.began, "the second writer began while the first held the lock");
    CHECK_INT(index_commit(ix), REG_OK);
    pthread_join(t, NULL);
    CHECK_INT(w.began, 1);
    CHECK_INT(w.err, REG_OK);
}

static void test_writers_on_two_connections_take_turns(void)
{
    index_db *ix = fresh_index();
    check_writers_take_turns(ix);
    index_close(ix);
}

/* With a writer (a server's), write transactions of every attached connection run on it: what
 * one writes it reads back inside the transaction, others see it once committed and never
 * after a rollback, the failed statement's message survives the rollback, and writers still
 * take turns. On PostgreSQL the writer is not shared and the same holds. */
static void test_shared_writer_serves_every_connection(void)
{
    index_db *a = fresh_index(), *b = NULL, *c = NULL;
    index_writer *w = NULL;
    int64_t id = 0;
    CHECK_INT(index_writer_open(&w, fixture_location), REG_OK);
    CHECK_INT(index_open(&b, fixture_location), REG_OK);
    CHECK_INT(index_open(&c, fixture_location), REG_OK);
    index_writer_attach(w, a);
    index_writer_attach(w, b);
    index_writer_attach(w, c);
    CHECK_INT(index_begin(b), REG_OK);
    CHECK_INT(index_repo_ensure(&id, b, "kept"), REG_OK);
    CHECK_INT(index_repo_id(&id, b, "kept"), REG_OK);
    CHECK_INT(index_commit(b), REG_OK);
    CHECK_INT(index_repo_id(&id, c, "kept"), REG_OK);
    CHECK_INT(index_repo_id(&id, a, "kept"), REG_OK);
    CHECK_INT(index_begin(c), REG_OK);
    CHECK_INT(index_repo_ensure(&id, c, "dropped"), REG_OK);
    index_rollback(c);
    CHECK_INT(index_repo_id(&id, b, "dropped"), REG_ENOTFOUND);
    CHECK_INT(index_begin(b), REG_OK);
    CHECK_INT(index_repo_ensure(&id, b, NULL), REG_ERROR);
    index_rollback(b);
    CHECK(strstr(index_errmsg(b), "NOT NULL") || strstr(index_errmsg(b), "not-null"),
          "message after the rollback: %s", index_errmsg(b));
    CHECK_INT(index_repo_id(&id, b, "kept"), REG_OK);
    index_close(b);
    index_close(c);
    check_writers_take_turns(a);
    index_close(a);
    index_writer_close(w);
}

/* ---- PostgreSQL only ---- */

#define OPENERS 4

typedef struct opener {
    const char *location;
    pthread_barrier_t *start;
    int err;
    char msg[256];
} opener;

static void *open_at_once(void *arg)
{
    opener *o = arg;
    index_db *ix = NULL;
    pthread_barrier_wait(o->start);
    o->err = index_open(&ix, o->location);
    snprintf(o->msg, sizeof(o->msg), "%s", index_errmsg(ix));
    index_close(ix);
    return NULL;
}

/* Instances starting together on an empty database: one migrates, the others wait for it.
 * (Not for SQLite: connections racing to switch a new file to WAL can meet SQLITE_BUSY
 * without the busy handler; ocireg serve opens the index once before its threads do.) */
static void test_pg_concurrent_first_opens_migrate_once(void)
{
    char msg[256] = "";
    pthread_t threads[OPENERS];
    opener o[OPENERS];
    pthread_barrier_t start;
    index_db *ix = NULL;
    const char *location = fresh_location();
    pthread_barrier_init(&start, NULL, OPENERS);
    for (int i = 0; i < OPENERS; i++) {
        o[i] = (opener){.location = location, .start = &start};
        pthread_create(&threads[i], NULL, open_at_once, &o[i]);
    }
    for (int i = 0; i < OPENERS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(o[i].err == REG_OK, "opener %d: %s", i, o[i].msg);
    }
    pthread_barrier_destroy(&start);
    CHECK_INT(index_open(&ix, location), REG_OK);
    CHECK_INT(index_fsck_integrity(msg, sizeof(msg), ix), REG_OK);
    index_close(ix);
}

static void terminate_backend(const char *app)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '%s'",
             app);
    fixture_sql(sql);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s'", app);
    for (int i = 0; i < 100; i++) {
        PGresult *res = PQexec(fixture_admin, sql);
        int left = PQresultStatus(res) == PGRES_TUPLES_OK ? atoi(PQgetvalue(res, 0, 0)) : -1;
        PQclear(res);
        if (left == 0)
            return;
        usleep(20000);
    }
    fprintf(stderr, "backend %s did not go away\n", app);
}

/* An index whose connection carries application_name `app`, so that it can be terminated. */
static index_db *victim_index(char *app, size_t n)
{
    char location[4200];
    index_db *ix = NULL;
    fresh_location();
    snprintf(app, n, "ocireg_victim_%d_%d", (int)getpid(), fixture_count);
    snprintf(location, sizeof(location), "%s&application_name=%s", fixture_location, app);
    CHECK_INT(index_open(&ix, location), REG_OK);
    return ix;
}

static void test_pg_connection_lost_while_idle_is_reset_before_use(void)
{
    char app[64];
    index_db *ix = victim_index(app, sizeof(app));
    int64_t id = 0, again = 0;
    CHECK_INT(index_repo_ensure(&id, ix, "r"), REG_OK);
    terminate_backend(app);
    int err = index_repo_id(&again, ix, "r");
    CHECK(err == REG_OK, "after the server ended the idle session: %d %s", err, index_errmsg(ix));
    CHECK_INT(again, id);
    terminate_backend(app);
    CHECK_INT(index_begin(ix), REG_OK);
    CHECK_INT(index_repo_ensure(&id, ix, "s"), REG_OK);
    CHECK_INT(index_commit(ix), REG_OK);
    index_close(ix);
}

static void test_pg_connection_lost_in_a_transaction_fails_it_then_reconnects(void)
{
    char app[64];
    index_db *ix = victim_index(app, sizeof(app));
    int64_t id = 0;
    CHECK_INT(index_begin(ix), REG_OK);
    CHECK_INT(index_repo_ensure(&id, ix, "r"), REG_OK);
    terminate_backend(app);
    /* no silent reconnection: what follows would run outside the transaction */
    CHECK_INT(index_repo_ensure(&id, ix, "s"), REG_ERROR);
    CHECK_INT(index_repo_ensure(&id, ix, "s"), REG_ERROR);
    CHECK(index_commit(ix) < 0, "a commit on a lost connection succeeded");
    index_rollback(ix);
    CHECK_INT(index_repo_id(&id, ix, "r"), REG_ENOTFOUND);
    CHECK_INT(index_repo_id(&id, ix, "s"), REG_ENOTFOUND);
    CHECK_INT(index_repo_ensure(&id, ix, "s"), REG_OK);
    index_close(ix);
}

static void test_pg_commit_after_a_failed_statement_fails(void)
{
    index_db *ix = fresh_index();
    unsigned char secret[4] = {0};
    int64_t id;
    CHECK_INT(index_access_key_put(ix, "K", "u", secret, 4), REG_OK);
    CHECK_INT(index_begin(ix), REG_OK);
    CHECK_INT(index_repo_ensure(&id, ix, "kept-out"), REG_OK);
    CHECK_INT(index_access_key_put(ix, "K", "u", secret, 4), REG_ERROR); /* duplicate id */
    CHECK(index_commit(ix) < 0, "COMMIT of an aborted transaction reported success");
    CHECK(strstr(index_errmsg(ix), "rolled back") != NULL, "message: %s", index_errmsg(ix));
    index_rollback(ix);
    CHECK_INT(index_repo_id(&id, ix, "kept-out"), REG_ENOTFOUND);
    index_close(ix);
}

static void test_pg_backup_snapshot_points_to_pg_dump(void)
{
    index_db *ix = fresh_index();
    CHECK_INT(index_snapshot(ix, "/tmp/never-written.db"), REG_EINVALID);
    CHECK(strstr(index_errmsg(ix), "pg_dump") != NULL, "message: %s", index_errmsg(ix));
    index_close(ix);
}

static void test_pg_unreachable_server_explains_itself(void)
{
    index_db *ix = NULL;
    CHECK_INT(index_open(&ix, "postgresql://127.0.0.1:1/none?connect_timeout=2"), REG_ERROR);
    CHECK(strstr(index_errmsg(NULL), "127.0.0.1") != NULL || strstr(index_errmsg(NULL), "connect"),
          "message: %s", index_errmsg(NULL));
}

static void suite(void)
{
    RUN(test_open_twice_keeps_the_migrated_schema);
    RUN(test_blob_and_manifest_round_trip);
    RUN(test_second_insert_of_a_manifest_reports_not_inserted);
    RUN(test_pages_are_in_byte_order);
    RUN(test_referrers_filter_by_artifact_type_or_not);
    RUN(test_deletes_refuse_what_is_still_used);
    RUN(test_rollback_leaves_nothing_behind);
    RUN(test_users_grants_and_keys);
    RUN(test_grants_and_keys_list_with_and_without_a_filter);
    RUN(test_repository_metadata);
    RUN(test_lifecycle_previews_and_tag_counts);
    RUN(test_access_policies);
    RUN(test_repository_ecr_settings);
    RUN(test_gc_queries);
    RUN(test_inline_blobs_round_trip);
    RUN(test_fsck_queries);
    RUN(test_listings);
    RUN(test_writers_on_two_connections_take_turns);
    RUN(test_shared_writer_serves_every_connection);
    if (fixture_on_pg) {
        RUN(test_pg_concurrent_first_opens_migrate_once);
        RUN(test_pg_connection_lost_while_idle_is_reset_before_use);
        RUN(test_pg_connection_lost_in_a_transaction_fails_it_then_reconnects);
        RUN(test_pg_commit_after_a_failed_statement_fails);
        RUN(test_pg_backup_snapshot_points_to_pg_dump);
        RUN(test_pg_unreachable_server_explains_itself);
    }
}
