/* lifecycle.h - AWS ECR lifecycle policies (their own JSON format): parsed, validated and
 * evaluated against a repository's images to decide which ones expire. */
#ifndef OCIREG_LIFECYCLE_H
#define OCIREG_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct lifecycle_image {
    const char *digest;
    int64_t pushed_at;       /* unix seconds */
    const char *const *tags; /* may be NULL when ntags == 0 */
    size_t ntags;
} lifecycle_image;

typedef struct lifecycle_policy lifecycle_policy;

/* Parse and validate a policy. REG_EINVALID with a message for the user in reg_error_last()
 * that says exactly what is wrong (which rule, which field, what was expected). */
int lifecycle_parse(lifecycle_policy **out, const char *json_text);
void lifecycle_free(lifecycle_policy *p);

/* Decide which images expire at time `now`: expire_out[i] is the rulePriority of the rule that
 * expires image i, or 0 when it is kept. */
int lifecycle_evaluate(const lifecycle_policy *p, const lifecycle_image *images, size_t n,
                       int64_t now, int *expire_out);

#endif
