/* fuzz_lifecycle.c - ECR lifecycle policies (storage/lifecycle.c): parse arbitrary text and
 * evaluate every accepted policy against a fixed set of images (tagged, untagged, equal push
 * times, pushed in the future, sharing tags). */
#include "fuzz_util.h"
#include "storage/lifecycle.h"
#include "storage/base/reg_error.h"

#include <limits.h>

#define DAY 86400
#define NOW ((int64_t)1700000000)

static const char *const t_latest[] = {"latest", "v1.2.3", "prod"};
static const char *const t_v1[] = {"v1.0.0", "release-1"};
static const char *const t_v1b[] = {"v1.0.1", "release-1", "beta"};
static const char *const t_dev[] = {"dev-abc123"};
static const char *const t_long[] = {
    "a.very.long.tag-with-many-parts_and_underscores-0123456789abcdefghijklmnopqrstuvwxyz"};
static const char *const t_prod[] = {"prod-2023", "prod"};

static const lifecycle_image images[] = {
    {"sha256:01", NOW - 1 * DAY, t_latest, 3}, {"sha256:02", NOW - 10 * DAY, t_v1, 2},
    {"sha256:03", NOW - 10 * DAY, t_v1b, 3},   {"sha256:04", NOW - 30 * DAY, NULL, 0},
    {"sha256:05", NOW - 400 * DAY, t_dev, 1},  {"sha256:06", NOW + 5 * DAY, NULL, 0},
    {"sha256:07", NOW - 2 * DAY, t_long, 1},   {"sha256:08", NOW - 100 * DAY, t_prod, 2},
    {"sha256:09", INT64_MIN, NULL, 0},         {"sha256:10", NOW - 10 * DAY, NULL, 0},
};
#define NIMAGES (sizeof(images) / sizeof(images[0]))

static void evaluate(const lifecycle_policy *p, int64_t now)
{
    int expire[NIMAGES];
    memset(expire, 0xff, sizeof(expire));
    FUZZ_CHECK(lifecycle_evaluate(p, images, NIMAGES, now, expire) == REG_OK);
    for (size_t i = 0; i < NIMAGES; i++)
        FUZZ_CHECK(expire[i] >= 0);
    FUZZ_CHECK(lifecycle_evaluate(p, images, 0, now, NULL) == REG_OK);
    FUZZ_CHECK(lifecycle_evaluate(p, images, 1, now, expire) == REG_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    lifecycle_policy *p = NULL;

    reg_error_clear();
    int err = lifecycle_parse(&p, text);
    FUZZ_CHECK(err == REG_OK || err == REG_EINVALID);
    if (err == REG_OK) {
        evaluate(p, NOW);
        evaluate(p, INT64_MAX);
        evaluate(p, INT64_MIN);
        lifecycle_free(p);
    } else {
        FUZZ_CHECK(reg_error_last(NULL) != NULL);
    }
    free(text);
    return 0;
}
