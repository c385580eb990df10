/* cli_health.h - `ocireg health`: one GET of the server's /readyz (or a given URL), exit 0 on
 * 200, for container HEALTHCHECKs and scripts that have no curl. */
#ifndef OCIREG_CLI_HEALTH_H
#define OCIREG_CLI_HEALTH_H

int cli_health_main(int argc, char **argv);

#endif
