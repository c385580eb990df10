/* test_lifecycle.c - ECR lifecycle policies: which images each rule expires, how rules shield
 * images from later ones, and one test per validation error with its message. */
#include "storage/lifecycle.h"
#include "storage/base/reg_error.h"
#include "check.h"

#include <stdio.h>
#include <string.h>

#define DAY 86400
#define NOW ((int64_t)1700000000)

/* An image pushed `age` seconds before NOW with the given tags, or with none. */
#define TAGS(...)                                                                                  \
    (const char *const[])                                                                          \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }
#define NTAGS(...) (sizeof(TAGS(__VA_ARGS__)) / sizeof(const char *))
#define IMG(d, age, ...)                                                                           \
    {                                                                                              \
        d, NOW - (age), TAGS(__VA_ARGS__), NTAGS(__VA_ARGS__)                                      \
    }
#define UNTAGGED(d, age)                                                                           \
    {                                                                                              \
        d, NOW - (age), NULL, 0                                                                    \
    }
#define N(a) (sizeof(a) / sizeof((a)[0]))

#define POLICY(rules) "{\"rules\":[" rules "]}"
#define RULE(prio, sel)                                                                            \
    "{\"rulePriority\":" #prio ",\"selection\":{" sel "},\"action\":{\"type\":\"expire\"}}"
#define ANY            "\"tagStatus\":\"any\","
#define UNTAG          "\"tagStatus\":\"untagged\","
#define PREFIXES(list) "\"tagStatus\":\"tagged\",\"tagPrefixList\":[" list "],"
#define PATTERNS(list) "\"tagStatus\":\"tagged\",\"tagPatternList\":[" list "],"
#define KEEP(n)        "\"countType\":\"imageCountMoreThan\",\"countNumber\":" #n
#define OLDER(n)                                                                                   \
    "\"countType\":\"sinceImagePushed\","                                                          \
    "\"countUnit\":\"days\",\"countNumber\":" #n

#define DA "sha256:aa"
#define DB "sha256:bb"
#define DC "sha256:cc"
#define DD "sha256:dd"
#define DE "sha256:ee"

static lifecycle_policy *parse_ok(const char *json)
{
    lifecycle_policy *p = NULL;
    reg_error_clear();
    int rc = lifecycle_parse(&p, json);
    CHECK(rc == REG_OK && p, "policy should parse, got %d: %s", rc, reg_error_last(""));
    return p;
}

/* Evaluate `json` at NOW; out[i] starts at -1 so an unwritten slot shows up. */
static void run(const char *json, const lifecycle_image *images, size_t n, int *out)
{
    lifecycle_policy *p = parse_ok(json);
    for (size_t i = 0; i < n; i++)
        out[i] = -1;
    if (p)
        CHECK_INT(lifecycle_evaluate(p, images, n, NOW, out), REG_OK);
    lifecycle_free(p);
}

/* out, image by image: the priority of the rule that expires it, 0 when it is kept. */
static void expect_rules(const int *out, const int *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        CHECK(out[i] == want[i], "image %zu: expected %d, got %d", i, want[i], out[i]);
}
#define EXPECT_RULES(out, ...)                                                                     \
    expect_rules(out, (const int[]){__VA_ARGS__}, N(((const int[]){__VA_ARGS__})))

static void expect_error(const char *json, const char *needle)
{
    lifecycle_policy *p = NULL;
    reg_error_clear();
    int rc = lifecycle_parse(&p, json);
    const char *err = reg_error_last("");
    CHECK(rc == REG_EINVALID, "expected REG_EINVALID, got %d for %s", rc, json);
    CHECK(strstr(err, needle) != NULL, "message \"%s\" lacks \"%s\"", err, needle);
    CHECK(p == NULL, "no policy is returned on failure");
    lifecycle_free(p);
}

/* ---- evaluation ---- */

static void test_count_more_than_keeps_newest_n(void)
{
    const lifecycle_image imgs[] = {IMG(DA, 4 * DAY, "v1"), IMG(DB, 1 * DAY, "v4"),
                                    IMG(DC, 3 * DAY, "v2"), IMG(DD, 2 * DAY, "v3")};
    int out[N(imgs)];
    run(POLICY(RULE(7, PREFIXES("\"v\"") KEEP(2))), imgs, N(imgs), out);
    EXPECT_RULES(out, 7, 0, 7, 0);
}

static void test_count_more_than_keeps_all_when_fewer(void)
{
    const lifecycle_image imgs[] = {IMG(DA, 9 * DAY, "v1"), IMG(DB, 8 * DAY, "v2")};
    int out[N(imgs)];
    run(POLICY(RULE(1, PREFIXES("\"v\"") KEEP(2))), imgs, N(imgs), out);
    EXPECT_RULES(out, 0, 0);
}

static void test_since_pushed_expires_only_older(void)
{
    const lifecycle_image imgs[] = {IMG(DA, 10 * DAY, "v1"), IMG(DB, 5 * DAY, "v2"),
                                    IMG(DC, 3 * DAY, "v3"), IMG(DD, 0, "v4")};
    int out[N(imgs)];
    run(POLICY(RULE(2, PREFIXES("\"v\"") OLDER(4))), imgs, N(imgs), out);
    EXPECT_RULES(out, 2, 2, 0, 0);
}

static void test_since_pushed_keeps_image_exactly_n_days_old(void)
{
    const lifecycle_image imgs[] = {IMG(DA, 4 * DAY, "v1"), IMG(DB, 4 * DAY + 1, "v2"),
                                    IMG(DC, -DAY, "v3")};
    int out[N(imgs)];
    run(POLICY(RULE(1, PREFIXES("\"v\"") OLDER(4))), imgs, N(imgs), out);
    /* v3, pushed after `now`, is not old */
    EXPECT_RULES(out, 0, 1, 0);
}

static void test_higher_priority_rule_shields_image_from_lower(void)
{
    /* Rule 1 keeps every prod image; rule 2 must not expire them even though they are old. */
    const lifecycle_image imgs[] = {IMG(DA, 30 * DAY, "prod-1"), IMG(DB, 20 * DAY, "dev-1"),
                                    UNTAGGED(DC, 20 * DAY)};
    int out[N(imgs)];
    run(POLICY(RULE(1, PREFIXES("\"prod\"") KEEP(9999)) "," RULE(2, ANY OLDER(7))), imgs, N(imgs),
        out);
    EXPECT_RULES(out, 0, 2, 2);
}

static void test_image_expired_by_first_rule_keeps_its_priority(void)
{
    /* Both rules select A; the lower-numbered one decides, and says so in expire_out. */
    const lifecycle_image imgs[] = {IMG(DA, 30 * DAY, "prod-1"), IMG(DB, 1 * DAY, "prod-2")};
    int out[N(imgs)];
    run(POLICY(RULE(3, PREFIXES("\"prod\"") KEEP(1)) "," RULE(9, ANY OLDER(7))), imgs, N(imgs),
        out);
    EXPECT_RULES(out, 3, 0);
}

static void test_rules_run_in_priority_order_not_array_order(void)
{
    /* Listed first but priority 5: the priority-2 rule claims the prod image before it. */
    const lifecycle_image imgs[] = {IMG(DA, 30 * DAY, "prod-1")};
    int out[N(imgs)];
    run(POLICY(RULE(5, PREFIXES("\"prod\"") OLDER(1)) "," RULE(2, PATTERNS("\"prod-*\"") KEEP(5))),
        imgs, N(imgs), out);
    CHECK_INT(out[0], 0);
}

static void test_lower_rule_still_counts_claimed_images(void)
{
    /* ECR's "filtering on all images, example B": rule 3 ranks A..E together, keeps only the
     * newest (E), and may expire only D, the one no earlier rule selected. */
    const lifecycle_image imgs[] = {
        IMG(DA, 4 * DAY, "alpha-1", "beta-1"), UNTAGGED(DB, 3 * DAY), IMG(DC, 2 * DAY, "alpha-2"),
        IMG(DD, DAY + 3600, "git hash"),       UNTAGGED(DE, DAY),
    };
    int out[N(imgs)];
    run(POLICY(RULE(1, PREFIXES("\"alpha\"")
                           KEEP(1)) "," RULE(2, UNTAG OLDER(1)) "," RULE(3, ANY KEEP(1))),
        imgs, N(imgs), out);
    EXPECT_RULES(out, 1, 2, 0, 3, 0);
}

static void test_lower_rule_cannot_expire_image_a_higher_rule_kept(void)
{
    /* ECR's "filtering on multiple rules, example A": rule 2 would expire B, but rule 1 kept
     * B, so only A (expired by rule 1) goes. */
    const lifecycle_image imgs[] = {IMG(DA, 10 * DAY, "beta-1", "prod-1"),
                                    IMG(DB, 9 * DAY, "beta-2", "prod-2"),
                                    IMG(DC, 8 * DAY, "beta-3")};
    int out[N(imgs)];
    run(POLICY(RULE(1, PREFIXES("\"prod\"") KEEP(1)) "," RULE(2, PREFIXES("\"beta\"") KEEP(1))),
        imgs, N(imgs), out);
    EXPECT_RULES(out, 1, 0, 0);
}

static void test_untagged_selects_only_untagged(void)
{
    const lifecycle_image imgs[] = {UNTAGGED(DA, 9 * DAY), IMG(DB, 9 * DAY, "v1"),
                                    UNTAGGED(DC, 8 * DAY)};
    int out[N(imgs)];
    run(POLICY(RULE(1, UNTAG OLDER(1))), imgs, N(imgs), out);
    EXPECT_RULES(out, 1, 0, 1);
}

static void test_any_selects_tagged_and_untagged(void)
{
    const lifecycle_image imgs[] = {UNTAGGED(DA, 3 * DAY), IMG(DB, 2 * DAY, "x"),
                                    IMG(DC, 1 * DAY, "y")};
    int out[N(imgs)];
    run(POLICY(RULE(1, ANY KEEP(1))), imgs, N(imgs), out);
    EXPECT_RULES(out, 1, 1, 0);
}

static void test_prefix_list_requires_every_prefix(void)
{
    /* ECR's "multiple tags in a single rule, example A": only C and F carry both prefixes,
     * from different tags; of those only C is older than 5 days. */
    const lifecycle_image imgs[] = {
        IMG(DA, 12 * DAY, "alpha-1"),
        IMG(DB, 11 * DAY, "beta-1"),
        IMG(DC, 10 * DAY, "alpha-2", "beta-2"),
        IMG(DD, 4 * DAY, "alpha-3"),
        IMG(DE, 3 * DAY, "beta-3"),
        IMG("sha256:ff", 2 * DAY, "alpha-4", "beta-4"),
    };
    int out[N(imgs)];
    run(POLICY(RULE(1, PREFIXES("\"alpha\",\"beta\"") OLDER(5))), imgs, N(imgs), out);
    EXPECT_RULES(out, 0, 0, 1, 0, 0, 0);
}

static void test_prefix_must_start_the_tag(void)
{
    const lifecycle_image imgs[] = {IMG(DA, 9 * DAY, "preprod"), IMG(DB, 9 * DAY, "prod")};
    int out[N(imgs)];
    run(POLICY(RULE(1, PREFIXES("\"prod\"") OLDER(1))), imgs, N(imgs), out);
    EXPECT_RULES(out, 0, 1);
}

/* Which of `tags` (one per image, all old) the pattern selects, as a string of 0/1. */
static void pattern_selects(const char *json, const char *const *tags, size_t n, char *got)
{
    lifecycle_image imgs[8];
    int out[8];
    for (size_t i = 0; i < n; i++)
        imgs[i] = (lifecycle_image){DA, NOW - 9 * DAY, &tags[i], 1};
    run(json, imgs, n, out);
    for (size_t i = 0; i < n; i++)
        got[i] = out[i] > 0 ? '1' : '0';
    got[n] = '\0';
}

static void test_pattern_wildcards(void)
{
    static const char *const tags[] = {"prod", "prod-1", "preprod", "1.0-rc2",
                                       "abc",  "axbyc",  "acb",     "ab"};
    char got[9];
    pattern_selects(POLICY(RULE(1, PATTERNS("\"prod*\"") OLDER(1))), tags, N(tags), got);
    CHECK_STR(got, "11000000");
    pattern_selects(POLICY(RULE(1, PATTERNS("\"*rc*\"") OLDER(1))), tags, N(tags), got);
    CHECK_STR(got, "00010000");
    pattern_selects(POLICY(RULE(1, PATTERNS("\"a*b*c\"") OLDER(1))), tags, N(tags), got);
    CHECK_STR(got, "00001100");
    pattern_selects(POLICY(RULE(1, PATTERNS("\"*\"") OLDER(1))), tags, N(tags), got);
    CHECK_STR(got, "11111111");
}

static void test_pattern_without_wildcard_matches_whole_tag(void)
{
    static const char *const tags[] = {"prod", "prod-1", "preprod"};
    char got[4];
    pattern_selects(POLICY(RULE(1, PATTERNS("\"prod\"") OLDER(1))), tags, N(tags), got);
    CHECK_STR(got, "100");
}

static void test_pattern_list_requires_every_pattern(void)
{
    const lifecycle_image imgs[] = {IMG(DA, 9 * DAY, "prod-1"), IMG(DB, 9 * DAY, "prod-2", "v2.0"),
                                    IMG(DC, 9 * DAY, "v3.0")};
    int out[N(imgs)];
    run(POLICY(RULE(1, PATTERNS("\"prod-*\",\"v*.0\"") OLDER(1))), imgs, N(imgs), out);
    EXPECT_RULES(out, 0, 1, 0);
}

static void test_ties_on_push_time_break_by_digest(void)
{
    /* Same push time: the lower digest counts as newer and is the one kept, in either order. */
    const lifecycle_image ab[] = {IMG(DA, DAY, "v1"), IMG(DB, DAY, "v2")};
    const lifecycle_image ba[] = {IMG(DB, DAY, "v2"), IMG(DA, DAY, "v1")};
    int out[2];
    run(POLICY(RULE(1, ANY KEEP(1))), ab, 2, out);
    EXPECT_RULES(out, 0, 1);
    run(POLICY(RULE(1, ANY KEEP(1))), ba, 2, out);
    EXPECT_RULES(out, 1, 0);
}

static void test_evaluate_with_no_images(void)
{
    lifecycle_policy *p = parse_ok(POLICY(RULE(1, ANY KEEP(1))));
    CHECK_INT(lifecycle_evaluate(p, NULL, 0, NOW, NULL), REG_OK);
    lifecycle_free(p);
}

static void test_evaluate_rejects_malformed_images(void)
{
    lifecycle_policy *p = parse_ok(POLICY(RULE(1, ANY KEEP(1))));
    const char *const null_tag[] = {NULL};
    lifecycle_image no_digest[] = {{NULL, NOW, NULL, 0}};
    lifecycle_image no_tag_array[] = {{DA, NOW, NULL, 1}};
    lifecycle_image null_tag_img[] = {{DA, NOW, null_tag, 1}};
    int out[1];
    CHECK_INT(lifecycle_evaluate(p, no_digest, 1, NOW, out), REG_EINVALID);
    CHECK_INT(lifecycle_evaluate(p, no_tag_array, 1, NOW, out), REG_EINVALID);
    CHECK_INT(lifecycle_evaluate(p, null_tag_img, 1, NOW, out), REG_EINVALID);
    CHECK_INT(lifecycle_evaluate(p, no_digest, 1, NOW, NULL), REG_EINVALID);
    CHECK_INT(lifecycle_evaluate(NULL, no_digest, 0, NOW, out), REG_EINVALID);
    lifecycle_free(p);
}

static void test_free_accepts_null(void)
{
    lifecycle_free(NULL);
}

/* ---- parsing: what is accepted ---- */

static void test_full_policy_parses(void)
{
    lifecycle_policy *p = parse_ok(
        "{\"rules\":[{\"rulePriority\":10,\"description\":\"keep 3 releases\",\"selection\":{"
        "\"tagStatus\":\"tagged\",\"tagPatternList\":[\"*test*1*2*3\",\"test*1*2*3*\"],"
        "\"countType\":\"imageCountMoreThan\",\"countNumber\":3},\"action\":{\"type\":"
        "\"expire\"}},{\"rulePriority\":20,\"selection\":{\"tagStatus\":\"untagged\","
        "\"countType\":\"sinceImagePushed\",\"countUnit\":\"days\",\"countNumber\":14},"
        "\"action\":{\"type\":\"expire\"}},{\"rulePriority\":30,\"selection\":{\"tagStatus\":"
        "\"any\",\"countType\":\"imageCountMoreThan\",\"countNumber\":100},\"action\":{\"type\":"
        "\"expire\"}}]}");
    lifecycle_free(p);
}

static void test_fifty_rules_are_allowed(void)
{
    char json[8192];
    size_t len = (size_t)snprintf(json, sizeof(json), "{\"rules\":[");
    for (int k = 1; k <= 50; k++)
        len += (size_t)snprintf(json + len, sizeof(json) - len,
                                "%s{\"rulePriority\":%d,\"selection\":{\"tagStatus\":\"tagged\","
                                "\"tagPrefixList\":[\"t%d\"],\"countType\":\"imageCountMoreThan\","
                                "\"countNumber\":1},\"action\":{\"type\":\"expire\"}}",
                                k > 1 ? "," : "", k, k);
    snprintf(json + len, sizeof(json) - len, "]}");
    lifecycle_free(parse_ok(json));
}

/* ---- parsing: one test per error ---- */

static void test_rejects_malformed_json(void)
{
    expect_error("{\"rules\": [\n  {\"rulePriority\": 1,}\n]}", "not valid JSON");
    expect_error("{\"rules\": [\n  {\"rulePriority\": 1,}\n]}", "(line 2)");
}

static void test_rejects_duplicate_keys(void)
{
    expect_error("{\"rules\":[],\"rules\":[]}", "duplicate object key");
}

static void test_rejects_non_object_policy(void)
{
    expect_error("[]", "policy must be a JSON object");
}

static void test_rejects_missing_rules(void)
{
    expect_error("{}", "policy: Object item not found: rules");
}

static void test_rejects_unknown_top_level_field(void)
{
    expect_error("{\"rules\":[" RULE(1, ANY KEEP(1)) "],\"extra\":true}", "policy: ");
    expect_error("{\"rules\":[" RULE(1, ANY KEEP(1)) "],\"extra\":true}", "extra");
}

static void test_rejects_rules_not_array(void)
{
    expect_error("{\"rules\":{}}", "rules: must be an array of rules");
}

static void test_rejects_empty_rules(void)
{
    expect_error("{\"rules\":[]}", "rules: must contain at least one rule");
}

static void test_rejects_more_than_50_rules(void)
{
    char json[8192];
    size_t len = (size_t)snprintf(json, sizeof(json), "{\"rules\":[");
    for (int k = 1; k <= 51; k++)
        len += (size_t)snprintf(json + len, sizeof(json) - len, "%s" RULE(1, ANY KEEP(1)),
                                k > 1 ? "," : "");
    snprintf(json + len, sizeof(json) - len, "]}");
    expect_error(json, "rules: at most 50 rules are allowed, got 51");
}

static void test_rejects_rule_not_object(void)
{
    expect_error(POLICY(RULE(1, ANY KEEP(1)) ",[]"), "rules[1]: must be an object");
}

static void test_rejects_unknown_rule_field(void)
{
    expect_error(POLICY("{\"rulePriority\":1,\"priority\":2,\"selection\":{" ANY KEEP(
                     1) "},\"action\":{\"type\":\"expire\"}}"),
                 "rules[0]: 1 object item(s) left unpacked: priority");
}

static void test_rejects_missing_rule_priority(void)
{
    expect_error(POLICY("{\"selection\":{" ANY KEEP(1) "},\"action\":{\"type\":\"expire\"}}"),
                 "rules[0]: Object item not found: rulePriority");
}

static void test_rejects_missing_action(void)
{
    expect_error(POLICY("{\"rulePriority\":1,\"selection\":{" ANY KEEP(1) "}}"),
                 "rules[0]: Object item not found: action");
}

static void test_rejects_non_positive_rule_priority(void)
{
    expect_error(POLICY(RULE(0, ANY KEEP(1))), "rules[0].rulePriority: must be an integer from 1");
    expect_error(POLICY(RULE(-3, ANY KEEP(1))), "rules[0].rulePriority: must be an integer");
    expect_error(POLICY(RULE(1.5, ANY KEEP(1))), "rules[0].rulePriority: must be an integer");
    expect_error(POLICY(RULE("1", ANY KEEP(1))), "rules[0].rulePriority: must be an integer");
    expect_error(POLICY(RULE(2147483648, ANY KEEP(1))), "rules[0].rulePriority: must be");
}

static void test_rejects_duplicate_rule_priority(void)
{
    expect_error(POLICY(RULE(4, PREFIXES("\"a\"") KEEP(1)) "," RULE(4, PREFIXES("\"b\"") KEEP(1))),
                 "rules[1].rulePriority: 4 is already used by rules[0]");
}

static void test_rejects_non_string_description(void)
{
    expect_error(POLICY("{\"rulePriority\":1,\"description\":7,\"selection\":{" ANY KEEP(
                     1) "},\"action\":{\"type\":\"expire\"}}"),
                 "rules[0].description: must be a string");
}

static void test_rejects_selection_not_object(void)
{
    expect_error(POLICY("{\"rulePriority\":1,\"selection\":[],\"action\":{\"type\":\"expire\"}}"),
                 "rules[0].selection: must be an object");
}

static void test_rejects_unknown_selection_field(void)
{
    expect_error(POLICY(RULE(1, ANY "\"storageClass\":\"standard\"," KEEP(1))),
                 "rules[0].selection: 1 object item(s) left unpacked: storageClass");
}

static void test_rejects_missing_count_type(void)
{
    expect_error(POLICY(RULE(1, "\"tagStatus\":\"any\",\"countNumber\":1")),
                 "rules[0].selection: Object item not found: countType");
}

static void test_rejects_unknown_tag_status(void)
{
    expect_error(POLICY(RULE(1, "\"tagStatus\":\"all\"," KEEP(1))),
                 "rules[0].selection.tagStatus: must be \"tagged\", \"untagged\" or \"any\"");
}

static void test_rejects_tagged_without_tag_list(void)
{
    expect_error(POLICY(RULE(1, "\"tagStatus\":\"tagged\"," KEEP(1))),
                 "rules[0].selection: tagStatus \"tagged\" requires a tagPrefixList or a "
                 "tagPatternList");
}

static void test_rejects_both_tag_lists(void)
{
    expect_error(POLICY(RULE(1, "\"tagStatus\":\"tagged\",\"tagPrefixList\":[\"a\"],"
                                "\"tagPatternList\":[\"a*\"]," KEEP(1))),
                 "rules[0].selection: use tagPrefixList or tagPatternList, not both");
}

static void test_rejects_tag_list_on_untagged(void)
{
    expect_error(POLICY(RULE(1, UNTAG "\"tagPrefixList\":[\"a\"]," KEEP(1))),
                 "rules[0].selection.tagPrefixList: not allowed with tagStatus \"untagged\"");
}

static void test_rejects_tag_list_on_any(void)
{
    expect_error(POLICY(RULE(1, ANY "\"tagPatternList\":[\"a*\"]," KEEP(1))),
                 "rules[0].selection.tagPatternList: not allowed with tagStatus \"any\"");
}

static void test_rejects_empty_tag_list(void)
{
    expect_error(POLICY(RULE(1, PREFIXES("") KEEP(1))),
                 "rules[0].selection.tagPrefixList: must be a non-empty array of strings");
}

static void test_rejects_tag_list_not_array(void)
{
    expect_error(POLICY(RULE(1, "\"tagStatus\":\"tagged\",\"tagPatternList\":\"a*\"," KEEP(1))),
                 "rules[0].selection.tagPatternList: must be a non-empty array of strings");
}

static void test_rejects_non_string_tag_entry(void)
{
    expect_error(POLICY(RULE(1, PREFIXES("\"a\",3") KEEP(1))),
                 "rules[0].selection.tagPrefixList[1]: must be a non-empty string");
}

static void test_rejects_empty_tag_entry(void)
{
    expect_error(POLICY(RULE(1, PATTERNS("\"\"") KEEP(1))),
                 "rules[0].selection.tagPatternList[0]: must be a non-empty string");
}

static void test_rejects_too_long_tag_entry(void)
{
    char json[1024], entry[300];
    memset(entry, 'a', 257);
    entry[257] = '\0';
    snprintf(json, sizeof(json), POLICY(RULE(1, PREFIXES("\"%s\"") KEEP(1))), entry);
    expect_error(json, "rules[0].selection.tagPrefixList[0]: longer than 256 characters");
}

static void test_rejects_too_many_tag_entries(void)
{
    char json[2048], list[1024];
    size_t len = 0;
    for (int k = 0; k < 101; k++)
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s\"t%d\"", k ? "," : "", k);
    snprintf(json, sizeof(json), POLICY(RULE(1, PREFIXES("%s") KEEP(1))), list);
    expect_error(json,
                 "rules[0].selection.tagPrefixList: at most 100 entries are allowed, got 101");
}

static void test_rejects_too_many_wildcards(void)
{
    expect_error(
        POLICY(RULE(1, PATTERNS("\"ok*\",\"test*1*2*3*4*5*6\"") KEEP(1))),
        "rules[0].selection.tagPatternList[1]: at most 4 wildcards (*) are allowed, got 6");
}

static void test_rejects_unknown_count_type(void)
{
    expect_error(POLICY(RULE(1, ANY "\"countType\":\"sinceImagePulled\",\"countUnit\":\"days\","
                                    "\"countNumber\":1")),
                 "rules[0].selection.countType: must be \"imageCountMoreThan\" or "
                 "\"sinceImagePushed\"");
}

static void test_rejects_count_unit_with_count_more_than(void)
{
    expect_error(POLICY(RULE(1, ANY "\"countUnit\":\"days\"," KEEP(1))),
                 "rules[0].selection.countUnit: not allowed with imageCountMoreThan");
}

static void test_rejects_since_pushed_without_days(void)
{
    expect_error(POLICY(RULE(1, ANY "\"countType\":\"sinceImagePushed\",\"countNumber\":1")),
                 "rules[0].selection.countUnit: must be \"days\" with sinceImagePushed");
    expect_error(POLICY(RULE(1, ANY "\"countType\":\"sinceImagePushed\",\"countUnit\":\"hours\","
                                    "\"countNumber\":1")),
                 "rules[0].selection.countUnit: must be \"days\" with sinceImagePushed");
}

static void test_rejects_count_number_out_of_range(void)
{
    expect_error(POLICY(RULE(1, ANY KEEP(0))),
                 "rules[0].selection.countNumber: must be an integer from 1 to 2147483647");
    expect_error(POLICY(RULE(1, ANY KEEP(-1))), "rules[0].selection.countNumber: must be");
    expect_error(POLICY(RULE(1, ANY KEEP(2147483648))), "rules[0].selection.countNumber: must be");
    expect_error(POLICY(RULE(1, ANY KEEP(2.0))), "rules[0].selection.countNumber: must be");
}

static void test_rejects_action_not_object(void)
{
    expect_error(
        POLICY("{\"rulePriority\":1,\"selection\":{" ANY KEEP(1) "},\"action\":\"expire\"}"),
        "rules[0].action: must be an object");
}

static void test_rejects_unknown_action_field(void)
{
    expect_error(POLICY("{\"rulePriority\":1,\"selection\":{" ANY KEEP(
                     1) "},\"action\":{\"type\":\"expire\",\"targetStorageClass\":\"archive\"}}"),
                 "rules[0].action: 1 object item(s) left unpacked: targetStorageClass");
}

static void test_rejects_action_type_other_than_expire(void)
{
    expect_error(POLICY("{\"rulePriority\":1,\"selection\":{" ANY KEEP(
                     1) "},\"action\":{\"type\":\"transition\"}}"),
                 "rules[0].action.type: must be \"expire\"");
}

static void test_any_rule_must_be_last(void)
{
    expect_error(POLICY(RULE(1, ANY KEEP(5)) "," RULE(2, PREFIXES("\"a\"") KEEP(1))),
                 "rules[0].selection.tagStatus: \"any\" is only allowed on the rule with the "
                 "highest rulePriority, but rules[1] has 2 > 1");
}

static void test_rejects_second_untagged_rule(void)
{
    expect_error(POLICY(RULE(1, UNTAG KEEP(5)) "," RULE(2, UNTAG OLDER(3))),
                 "rules[1].selection.tagStatus: only one rule may select \"untagged\" images, "
                 "rules[0] already does");
}

static void test_rejects_same_tag_set_twice(void)
{
    /* Same set in another order (and with a repeat): the later rule could never act. */
    expect_error(POLICY(RULE(2, PREFIXES("\"a\",\"b\"")
                                    KEEP(1)) "," RULE(1, PREFIXES("\"b\",\"a\",\"b\"") KEEP(3))),
                 "rules[0].selection.tagPrefixList: selects the same tags as rules[1]");
}

int main(void)
{
    RUN(test_count_more_than_keeps_newest_n);
    RUN(test_count_more_than_keeps_all_when_fewer);
    RUN(test_since_pushed_expires_only_older);
    RUN(test_since_pushed_keeps_image_exactly_n_days_old);
    RUN(test_higher_priority_rule_shields_image_from_lower);
    RUN(test_image_expired_by_first_rule_keeps_its_priority);
    RUN(test_rules_run_in_priority_order_not_array_order);
    RUN(test_lower_rule_still_counts_claimed_images);
    RUN(test_lower_rule_cannot_expire_image_a_higher_rule_kept);
    RUN(test_untagged_selects_only_untagged);
    RUN(test_any_selects_tagged_and_untagged);
    RUN(test_prefix_list_requires_every_prefix);
    RUN(test_prefix_must_start_the_tag);
    RUN(test_pattern_wildcards);
    RUN(test_pattern_without_wildcard_matches_whole_tag);
    RUN(test_pattern_list_requires_every_pattern);
    RUN(test_ties_on_push_time_break_by_digest);
    RUN(test_evaluate_with_no_images);
    RUN(test_evaluate_rejects_malformed_images);
    RUN(test_free_accepts_null);
    RUN(test_full_policy_parses);
    RUN(test_fifty_rules_are_allowed);
    RUN(test_rejects_malformed_json);
    RUN(test_rejects_duplicate_keys);
    RUN(test_rejects_non_object_policy);
    RUN(test_rejects_missing_rules);
    RUN(test_rejects_unknown_top_level_field);
    RUN(test_rejects_rules_not_array);
    RUN(test_rejects_empty_rules);
    RUN(test_rejects_more_than_50_rules);
    RUN(test_rejects_rule_not_object);
    RUN(test_rejects_unknown_rule_field);
    RUN(test_rejects_missing_rule_priority);
    RUN(test_rejects_missing_action);
    RUN(test_rejects_non_positive_rule_priority);
    RUN(test_rejects_duplicate_rule_priority);
    RUN(test_rejects_non_string_description);
    RUN(test_rejects_selection_not_object);
    RUN(test_rejects_unknown_selection_field);
    RUN(test_rejects_missing_count_type);
    RUN(test_rejects_unknown_tag_status);
    RUN(test_rejects_tagged_without_tag_list);
    RUN(test_rejects_both_tag_lists);
    RUN(test_rejects_tag_list_on_untagged);
    RUN(test_rejects_tag_list_on_any);
    RUN(test_rejects_empty_tag_list);
    RUN(test_rejects_tag_list_not_array);
    RUN(test_rejects_non_string_tag_entry);
    RUN(test_rejects_empty_tag_entry);
    RUN(test_rejects_too_long_tag_entry);
    RUN(test_rejects_too_many_tag_entries);
    RUN(test_rejects_too_many_wildcards);
    RUN(test_rejects_unknown_count_type);
    RUN(test_rejects_count_unit_with_count_more_than);
    RUN(test_rejects_since_pushed_without_days);
    RUN(test_rejects_count_number_out_of_range);
    RUN(test_rejects_action_not_object);
    RUN(test_rejects_unknown_action_field);
    RUN(test_rejects_action_type_other_than_expire);
    RUN(test_any_rule_must_be_last);
    RUN(test_rejects_second_untagged_rule);
    RUN(test_rejects_same_tag_set_twice);
    return check_failures != 0;
}
