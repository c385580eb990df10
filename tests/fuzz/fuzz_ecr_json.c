/* fuzz_ecr_json.c - ECR request bodies (server/ecr_*.c) as far as they go without a server:
 * the body is parsed as finish_ecr does, then handed to the input checks every operation
 * shares (ecr_repo_name, ecr_page_args with its nextToken cursor) and to the lifecycle policy
 * check of PutLifecyclePolicy / StartLifecyclePolicyPreview (its input_policy is static, so
 * lifecycle_parse is called on lifecyclePolicyText the same way). The operations themselves
 * need the index and the HTTP connection and are left to the pytest suite. */
#include "fuzz_util.h"
#include "server/ecr/ecr.h"
#include "storage/lifecycle.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    request req;
    ecr_call c;
    int64_t limit = 0;
    const char *cursor = NULL;

    json_t *in = json_loadb(size ? (const char *)data : "{}", size ? size : 2, 0, &jerr);
    if (!json_is_object(in)) {
        json_decref(in);
        return 0;
    }
    memset(&req, 0, sizeof(req));
    arena_init(&req.mem);
    memset(&c, 0, sizeof(c));
    c.req = &req;

    const char *name = ecr_repo_name(&c, in);
    if (name) {
        FUZZ_CHECK(reference_check_name(name) == REG_OK && strlen(name) >= 2);
    } else {
        FUZZ_CHECK(c.error_type && !strcmp(c.error_type, "InvalidParameterException"));
        c.error_type = NULL;
    }

    for (int64_t max = 1; max <= 1000; max *= 10) {
        int err = ecr_page_args(&c, in, max, &limit, &cursor);
        FUZZ_CHECK(err == REG_OK || err == REG_EINVALID);
        if (err < 0) {
            FUZZ_CHECK(c.error_type != NULL);
            c.error_type = NULL;
            continue;
        }
        FUZZ_CHECK(limit >= 1 && limit <= max);
        if (cursor) {
            /* A cursor is what the next page's token carries back. */
            char *token = ecr_next_token(cursor);
            json_t *next = json_pack("{s:s}", "nextToken", token);
            const char *again = NULL;
            FUZZ_CHECK(token && next);
            FUZZ_CHECK(ecr_page_args(&c, next, max, &limit, &again) == REG_OK);
            FUZZ_CHECK(again && !strcmp(again, cursor));
            json_decref(next);
            free(token);
        }
    }

    const char *policy_text = json_string_value(json_object_get(in, "lifecyclePolicyText"));
    if (policy_text) {
        lifecycle_policy *p = NULL;
        if (lifecycle_parse(&p, policy_text) == REG_OK)
            lifecycle_free(p);
    }

    arena_free(&req.mem);
    json_decref(in);
    return 0;
}
