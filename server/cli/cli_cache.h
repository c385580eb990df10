/* cli_cache.h - `ocireg cache-rule add|list|delete`: the pull-through cache rules of a data
 * folder (the server need not be stopped). */
#ifndef OCIREG_CLI_CACHE_H
#define OCIREG_CLI_CACHE_H

int cli_cache_rule_main(int argc, char **argv);

#endif
