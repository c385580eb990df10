/* lifecycle.c - ECR lifecycle policies (see lifecycle.h): strict parsing with jansson, then one
 * newest-first walk over the images per rule, in rulePriority order, marking what expires. */
#include "storage/lifecycle.h"
#include "storage/base/namematch.h"
#include "storage/base/reg_error.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULES     50  /* ECR's quota of rules per lifecycle policy */
#define MAX_WILDCARDS 4   /* ECR's limit of '*' per tagPatternList string */
#define MAX_LIST      100 /* ours (ECR documents none): entries per tag list */
#define MAX_ENTRY     256 /* ours: bytes per prefix or pattern; OCI tags are at most 128 */
/* rulePriority must fit expire_out's int; ECR documents no upper bound for either number */
#define MAX_NUMBER      INT_MAX
#define SECONDS_PER_DAY 86400

typedef enum { TAG_TAGGED, TAG_UNTAGGED, TAG_ANY } tag_status;
typedef enum { COUNT_MORE_THAN, COUNT_SINCE_PUSHED } count_type;

static const char *const status_names[] = {"tagged", "untagged", "any"};
static const char *const count_names[] = {"imageCountMoreThan", "sinceImagePushed"};

typedef struct lc_rule {
    size_t index; /* position in "rules", so messages still name it after sorting */
    int priority;
    tag_status status;
    count_type count;
    int number;   /* countNumber: images kept, or days */
    int patterns; /* list holds tagPatternList entries rather than tagPrefixList ones */
    char **list;  /* owned; sorted, without duplicates; NULL unless TAG_TAGGED */
    size_t nlist;
} lc_rule;

struct lifecycle_policy {
    lc_rule *rules; /* owned; sorted by rulePriority, lowest (evaluated first) first */
    size_t nrules;
};

/* One image as the evaluator orders them. */
typedef struct image_ref {
    int64_t pushed_at;
    const char *digest;
    size_t index;
} image_ref;

void lifecycle_free(lifecycle_policy *p)
{
    if (!p)
        return;
    for (size_t r = 0; r < p->nrules; r++) {
        for (size_t k = 0; k < p->rules[r].nlist; k++)
            free(p->rules[r].list[k]);
        free(p->rules[r].list);
    }
    free(p->rules);
    free(p);
}

/* Index of the string value `v` in `names`, or -1 when it is not a string or not listed. */
static int lookup(const char *const *names, int n, json_t *v)
{
    const char *s = json_string_value(v);
    for (int k = 0; s && k < n; k++)
        if (strcmp(s, names[k]) == 0)
            return k;
    return -1;
}

static int string_is(json_t *v, const char *want)
{
    return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

static int parse_positive(int *out, json_t *v, size_t i, const char *field)
{
    json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
    if (n < 1 || n > MAX_NUMBER)
        return reg_error_set(REG_EINVALID, "rules[%zu].%s: must be an integer from 1 to %d", i,
                             field, MAX_NUMBER);
    *out = (int)n;
    return REG_OK;
}

static int count_wildcards(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '*';
    return n;
}

static int check_entry(json_t *v, int pattern, size_t i, const char *name, size_t k)
{
    const char *s = json_string_value(v);
    if (!s || !*s)
        return reg_error_set(
            REG_EINVALID, "rules[%zu].selection.%s[%zu]: must be a non-empty string", i, name, k);
    if (strlen(s) > MAX_ENTRY)
        return reg_error_set(REG_EINVALID,
                             "rules[%zu].selection.%s[%zu]: longer than %d characters", i, name, k,
                             MAX_ENTRY);
    if (pattern && count_wildcards(s) > MAX_WILDCARDS)
        return reg_error_set(
            REG_EINVALID,
            "rules[%zu].selection.%s[%zu]: at most %d wildcards (*) are allowed, got %d", i, name,
            k, MAX_WILDCARDS, count_wildcards(s));
    return REG_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry must match, so order and repeats carry no meaning: sorting and dropping repeats
 * lets check_distinct_lists compare two lists as sets. */
static void sort_unique(lc_rule *r)
{
    size_t w = 0;
    qsort(r->list, r->nlist, sizeof(*r->list), cmp_str);
    for (size_t k = 0; k < r->nlist; k++) {
        if (w > 0 && strcmp(r->list[w - 1], r->list[k]) == 0)
            free(r->list[k]);
        else
            r->list[w++] = r->list[k];
    }
    r->nlist = w;
}

static int parse_list(lc_rule *r, json_t *arr, size_t i, const char *name)
{
    size_t k;
    json_t *v;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return reg_error_set(
            REG_EINVALID, "rules[%zu].selection.%s: must be a non-empty array of strings", i, name);
    if (json_array_size(arr) > MAX_LIST)
        return reg_error_set(REG_EINVALID,
                             "rules[%zu].selection.%s: at most %d entries are allowed, got %zu", i,
                             name, MAX_LIST, json_array_size(arr));
    if (!(r->list = calloc(json_array_size(arr), sizeof(*r->list))))
        return reg_error_set(REG_ERROR, "out of memory");
    json_array_foreach(arr, k, v)
    {
        int err = check_entry(v, r->patterns, i, name, k);
        if (err < 0)
            return err;
        if (!(r->list[r->nlist] = strdup(json_string_value(v))))
            return reg_error_set(REG_ERROR, "out of memory");
        r->nlist++;
    }
    sort_unique(r);
    return REG_OK;
}

/* tagged needs exactly one of the two lists; untagged and any take neither. */
static int parse_tag_filter(lc_rule *r, json_t *prefixes, json_t *patterns, size_t i)
{
    if (r->status != TAG_TAGGED) {
        if (prefixes || patterns)
            return reg_error_set(
                REG_EINVALID, "rules[%zu].selection.%s: not allowed with tagStatus \"%s\"", i,
                prefixes ? "tagPrefixList" : "tagPatternList", status_names[r->status]);
        return REG_OK;
    }
    if (prefixes && patterns)
        return reg_error_set(
            REG_EINVALID, "rules[%zu].selection: use tagPrefixList or tagPatternList, not both", i);
    if (!prefixes && !patterns)
        return reg_error_set(
            REG_EINVALID,
            "rules[%zu].selection: tagStatus \"tagged\" requires a tagPrefixList or a "
            "tagPatternList",
            i);
    r->patterns = patterns != NULL;
    return parse_list(r, patterns ? patterns : prefixes, i,
                      patterns ? "tagPatternList" : "tagPrefixList");
}

static int parse_count(lc_rule *r, json_t *type, json_t *unit, json_t *number, size_t i)
{
    int t = lookup(count_names, 2, type);
    if (t < 0)
        return reg_error_set(REG_EINVALID,
                             "rules[%zu].selection.countType: must be \"imageCountMoreThan\" or "
                             "\"sinceImagePushed\"",
                             i);
    r->count = (count_type)t;
    if (r->count == COUNT_MORE_THAN && unit)
        return reg_error_set(
            REG_EINVALID, "rules[%zu].selection.countUnit: not allowed with imageCountMoreThan", i);
    if (r->count == COUNT_SINCE_PUSHED && !string_is(unit, "days"))
        return reg_error_set(
            REG_EINVALID, "rules[%zu].selection.countUnit: must be \"days\" with sinceImagePushed",
            i);
    return parse_positive(&r->number, number, i, "selection.countNumber");
}

static int parse_selection(lc_rule *r, json_t *sel, size_t i)
{
    json_error_t jerr;
    json_t *status = NULL, *prefixes = NULL, *patterns = NULL;
    json_t *type = NULL, *unit = NULL, *number = NULL;
    if (!json_is_object(sel))
        return reg_error_set(REG_EINVALID, "rules[%zu].selection: must be an object", i);
    if (json_unpack_ex(sel, &jerr, JSON_STRICT, "{s:o, s?o, s?o, s:o, s?o, s:o}", "tagStatus",
                       &status, "tagPrefixList", &prefixes, "tagPatternList", &patterns,
                       "countType", &type, "countUnit", &unit, "countNumber", &number) < 0)
        return reg_error_set(REG_EINVALID, "rules[%zu].selection: %s", i, jerr.text);
    int s = lookup(status_names, 3, status);
    if (s < 0)
        return reg_error_set(
            REG_EINVALID,
            "rules[%zu].selection.tagStatus: must be \"tagged\", \"untagged\" or \"any\"", i);
    r->status = (tag_status)s;
    int err = parse_tag_filter(r, prefixes, patterns, i);
    if (err < 0)
        return err;
    return parse_count(r, type, unit, number, i);
}

static int parse_action(json_t *action, size_t i)
{
    json_error_t jerr;
    json_t *type = NULL;
    if (!json_is_object(action))
        return reg_error_set(REG_EINVALID, "rules[%zu].action: must be an object", i);
    if (json_unpack_ex(action, &jerr, JSON_STRICT, "{s:o}", "type", &type) < 0)
        return reg_error_set(REG_EINVALID, "rules[%zu].action: %s", i, jerr.text);
    if (!string_is(type, "expire"))
        return reg_error_set(REG_EINVALID, "rules[%zu].action.type: must be \"expire\"", i);
    return REG_OK;
}

static int parse_rule(lc_rule *r, json_t *rule, size_t i)
{
    json_error_t jerr;
    json_t *priority = NULL, *description = NULL, *selection = NULL, *action = NULL;
    r->index = i;
    if (!json_is_object(rule))
        return reg_error_set(REG_EINVALID, "rules[%zu]: must be an object", i);
    if (json_unpack_ex(rule, &jerr, JSON_STRICT, "{s:o, s?o, s:o, s:o}", "rulePriority", &priority,
                       "description", &description, "selection", &selection, "action", &action) < 0)
        return reg_error_set(REG_EINVALID, "rules[%zu]: %s", i, jerr.text);
    if (description && !json_is_string(description))
        return reg_error_set(REG_EINVALID, "rules[%zu].description: must be a string", i);
    int err = parse_positive(&r->priority, priority, i, "rulePriority");
    if (err == REG_OK)
        err = parse_selection(r, selection, i);
    if (err == REG_OK)
        err = parse_action(action, i);
    return err;
}

static int by_priority(const void *a, const void *b)
{
    const lc_rule *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* On the sorted rules: priorities unique, and "any" only on the last rule (it would otherwise
 * shield every image from the rules after it). */
static int check_order(const lifecycle_policy *p)
{
    const lc_rule *last = &p->rules[p->nrules - 1];
    for (size_t k = 0; k + 1 < p->nrules; k++) {
        const lc_rule *a = &p->rules[k], *b = &p->rules[k + 1];
        if (a->priority == b->priority)
            return reg_error_set(
                REG_EINVALID,
                "rules[%zu].rulePriority: %d is already used by rules[%zu]; priorities "
                "must be unique",
                b->index, b->priority, a->index);
    }
    for (size_t k = 0; k + 1 < p->nrules; k++) {
        const lc_rule *a = &p->rules[k];
        if (a->status == TAG_ANY)
            return reg_error_set(
                REG_EINVALID,
                "rules[%zu].selection.tagStatus: \"any\" is only allowed on the rule with "
                "the highest rulePriority, but rules[%zu] has %d > %d",
                a->index, last->index, last->priority, a->priority);
    }
    return REG_OK;
}

static int same_list(const lc_rule *a, const lc_rule *b)
{
    if (a->patterns != b->patterns || a->nlist != b->nlist)
        return 0;
    for (size_t k = 0; k < a->nlist; k++)
        if (strcmp(a->list[k], b->list[k]) != 0)
            return 0;
    return 1;
}

/* ECR: "only one rule is allowed to select untagged images" and "the set of rules must contain
 * a unique set of tag prefixes". We read the latter as no two tagged rules with the same set;
 * the later one could never expire anything, as the earlier one shields all it selects. */
static int check_distinct(const lifecycle_policy *p)
{
    const lc_rule *untagged = NULL;
    for (size_t k = 0; k < p->nrules; k++) {
        const lc_rule *b = &p->rules[k];
        if (b->status == TAG_UNTAGGED && untagged)
            return reg_error_set(
                REG_EINVALID,
                "rules[%zu].selection.tagStatus: only one rule may select \"untagged\" "
                "images, rules[%zu] already does",
                b->index, untagged->index);
        if (b->status == TAG_UNTAGGED)
            untagged = b;
        for (size_t j = 0; b->status == TAG_TAGGED && j < k; j++)
            if (p->rules[j].status == TAG_TAGGED && same_list(&p->rules[j], b))
                return reg_error_set(
                    REG_EINVALID,
                    "rules[%zu].selection.%s: selects the same tags as rules[%zu]; each "
                    "rule needs a distinct set",
                    b->index, b->patterns ? "tagPatternList" : "tagPrefixList", p->rules[j].index);
    }
    return REG_OK;
}

static int parse_rules(lifecycle_policy *p, json_t *rules)
{
    size_t n = json_is_array(rules) ? json_array_size(rules) : 0;
    if (!json_is_array(rules))
        return reg_error_set(REG_EINVALID, "rules: must be an array of rules");
    if (n == 0)
        return reg_error_set(REG_EINVALID, "rules: must contain at least one rule");
    if (n > MAX_RULES)
        return reg_error_set(REG_EINVALID, "rules: at most %d rules are allowed, got %zu",
                             MAX_RULES, n);
    if (!(p->rules = calloc(n, sizeof(*p->rules))))
        return reg_error_set(REG_ERROR, "out of memory");
    p->nrules = n; /* zeroed rules free cleanly if parsing stops early */
    for (size_t i = 0; i < n; i++) {
        int err = parse_rule(&p->rules[i], json_array_get(rules, i), i);
        if (err < 0)
            return err;
    }
    qsort(p->rules, n, sizeof(*p->rules), by_priority);
    int err = check_order(p);
    return err < 0 ? err : check_distinct(p);
}

int lifecycle_parse(lifecycle_policy **out, const char *json_text)
{
    json_error_t jerr;
    json_t *rules = NULL;
    int err;
    lifecycle_policy *p = calloc(1, sizeof(*p));
    json_t *root = json_text ? json_loads(json_text, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!p) {
        err = reg_error_set(REG_ERROR, "out of memory");
        goto done;
    }
    if (!root) {
        err = json_text ? reg_error_set(REG_EINVALID, "policy is not valid JSON: %s (line %d)",
                                        jerr.text, jerr.line)
                        : reg_error_set(REG_EINVALID, "policy is missing");
        goto done;
    }
    if (!json_is_object(root)) {
        err = reg_error_set(REG_EINVALID, "policy must be a JSON object");
        goto done;
    }
    if (json_unpack_ex(root, &jerr, JSON_STRICT, "{s:o}", "rules", &rules) < 0) {
        err = reg_error_set(REG_EINVALID, "policy: %s", jerr.text);
        goto done;
    }
    err = parse_rules(p, rules);
done:
    json_decref(root);
    if (err < 0) {
        lifecycle_free(p);
        return err;
    }
    *out = p;
    return REG_OK;
}

static int some_tag_matches(const lifecycle_image *img, const char *entry, int pattern)
{
    size_t len = strlen(entry);
    for (size_t t = 0; t < img->ntags; t++) {
        const char *tag = img->tags[t];
        if (pattern ? namematch_wildcard(entry, tag, 0) : strncmp(tag, entry, len) == 0)
            return 1;
    }
    return 0;
}

/* ECR: an image matches a tag list when every entry matches one of its tags (not necessarily
 * the same tag for each entry). */
static int rule_selects(const lc_rule *r, const lifecycle_image *img)
{
    if (r->status == TAG_ANY)
        return 1;
    if (r->status == TAG_UNTAGGED)
        return img->ntags == 0;
    for (size_t k = 0; k < r->nlist; k++)
        if (!some_tag_matches(img, r->list[k], r->patterns))
            return 0;
    return 1;
}

/* "Older than countNumber days": pushed strictly more than N*86400 seconds before now, so an
 * image exactly N days old (or pushed in the future) is kept. */
static int pushed_too_long_ago(const lc_rule *r, int64_t pushed_at, int64_t now)
{
    int64_t age = (int64_t)r->number * SECONDS_PER_DAY;
    if (now < INT64_MIN + age)
        return 0;
    return pushed_at < now - age;
}

/* One rule over the images, newest first. `claimed` marks images selected by an earlier rule:
 * ECR never lets a later rule expire them, but "can still identify them as if they haven't
 * been expired", so they still take up places among the N newest that imageCountMoreThan keeps
 * (its documented example of tagStatus any behind tagged and untagged rules needs this). */
static void apply_rule(const lc_rule *r, const lifecycle_image *images, const image_ref *order,
                       size_t n, int64_t now, unsigned char *claimed, int *expire_out)
{
    size_t rank = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k].index;
        if (!rule_selects(r, &images[i]))
            continue;
        int expire = r->count == COUNT_MORE_THAN ? rank >= (size_t)r->number
                                                 : pushed_too_long_ago(r, images[i].pushed_at, now);
        rank++;
        if (expire && !claimed[i])
            expire_out[i] = r->priority;
        claimed[i] = 1;
    }
}

/* Newest first; equal push times fall back to the digest (lower sorts as newer) and then to
 * the caller's order, so the outcome never depends on qsort. */
static int newest_first(const void *a, const void *b)
{
    const image_ref *x = a, *y = b;
    if (x->pushed_at != y->pushed_at)
        return x->pushed_at > y->pushed_at ? -1 : 1;
    int c = strcmp(x->digest, y->digest);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int check_images(const lifecycle_image *images, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!images[i].digest || (images[i].ntags > 0 && !images[i].tags))
            return REG_EINVALID;
        for (size_t t = 0; t < images[i].ntags; t++)
            if (!images[i].tags[t])
                return REG_EINVALID;
    }
    return REG_OK;
}

int lifecycle_evaluate(const lifecycle_policy *p, const lifecycle_image *images, size_t n,
                       int64_t now, int *expire_out)
{
    image_ref *order = NULL;
    unsigned char *claimed = NULL;
    int err;
    if (!p || (n > 0 && (!images || !expire_out)))
        return REG_EINVALID;
    if ((err = check_images(images, n)) < 0 || n == 0)
        return err;
    order = calloc(n, sizeof(*order));
    claimed = calloc(n, sizeof(*claimed));
    if (!order || !claimed) {
        err = reg_error_set(REG_ERROR, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        order[i] = (image_ref){images[i].pushed_at, images[i].digest, i};
        expire_out[i] = 0;
    }
    qsort(order, n, sizeof(*order), newest_first);
    for (size_t r = 0; r < p->nrules; r++)
        apply_rule(&p->rules[r], images, order, n, now, claimed, expire_out);
done:
    free(order);
    free(claimed);
    return err;
}
