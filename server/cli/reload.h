/* reload.h - what SIGHUP changes in a running `ocireg serve`: the settings that may change
 * while serving, the TLS certificate and key, and the token signing keys; nothing else. */
#ifndef OCIREG_RELOAD_H
#define OCIREG_RELOAD_H

#include "server/http/http.h"

/* Read the settings again as serve did at start (file, environment, the same flags) and
 * apply what may change; log each setting that needs a restart by name. Reload the TLS files
 * (a certificate that does not load keeps the old one, and the reason is logged) and the
 * keyring (`ocireg key rotate`; on a shared index, the index's keys first, through ix, the
 * main thread's connection). Main thread only. */
void reload_run(server *srv, index_db *ix, int argc, char **argv);

/* Free the keyrings that reloads replaced (after the server has stopped). */
void reload_free(void);

#endif
