/* ecr_unavailable.c - ECR operations ocireg does not offer yet (replication): each answers
 * ValidationException, an error its model lists, saying so, so that a client never takes
 * silence or an empty list for a configuration that exists. */
#include "server/ecr/ecr.h"

static json_t *not_available(ecr_call *c, const char *what)
{
    return ecr_fail(c, "ValidationException", "%s is not available in this registry yet", what);
}

json_t *ecr_put_replication_configuration(ecr_call *c, json_t *in)
{
    return not_available(c, "replication");
}

json_t *ecr_describe_image_replication_status(ecr_call *c, json_t *in)
{
    return not_available(c, "replication");
}
