/* serve.h - the `ocireg serve` subcommand: open the store, run the HTTP server until
 * SIGTERM/SIGINT, then finish in-flight requests and stop. */
#ifndef OCIREG_SERVE_H
#define OCIREG_SERVE_H

int serve_main(int argc, char **argv);

#endif
