/* main.c - the `ocireg` command: dispatches to its subcommands. */
#include "server/serve.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "Usage: ocireg COMMAND [OPTIONS]\n\n"
                 "An OCI image registry.\n\n"
                 "Commands:\n"
                 "  serve     serve the OCI Distribution API (ocireg serve --help)\n\n"
                 "Options:\n"
                 "  -h, --help     show this help\n"
                 "  --version      print the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("ocireg %s\n", OCIREG_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "serve"))
        return serve_main(argc - 1, argv + 1);
    fprintf(stderr, "ocireg: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return 2;
}
