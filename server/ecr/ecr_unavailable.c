/* ecr_unavailable.c - ECR operations ocireg does not offer yet (pull-through cache rules,
 * for now): each answers ValidationException, an error its model lists, saying so, so
 * that a client never takes silence or an empty list for a configuration that exists. */
#include "server/ecr/ecr.h"

static json_t *not_available(ecr_call *c, const char *what)
{
    return ecr_fail(c, "ValidationException", "%s is not available in this registry yet", what);
}

json_t *ecr_create_pull_through_cache_rule(ecr_call *c, json_t *in)
{
    return not_available(c, "pull-through cache");
}

json_t *ecr_describe_pull_through_cache_rules(ecr_call *c, json_t *in)
{
    return not_available(c, "pull-through cache");
}

json_t *ecr_delete_pull_through_cache_rule(ecr_call *c, json_t *in)
{
    return not_available(c, "pull-through cache");
}
