/* main.c - the `ocireg` command: dispatches to its subcommands. */
#include "server/cli/cli_admin.h"
#include "server/cli/cli_auth.h"
#include "server/cli/cli_cache.h"
#include "server/cli/cli_export.h"
#include "server/cli/cli_health.h"
#include "server/cli/cli_replication.h"
#include "server/cli/cli_webhook.h"
#include "server/cli/serve.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ocireg COMMAND [OPTIONS]\n\n"
            "An OCI image registry.\n\n"
            "Commands:\n"
            "  serve     serve the OCI Distribution API (ocireg serve --help)\n"
            "  user      add, change, delete and list users (ocireg user --help)\n"
            "  grant     give a user or anonymous actions on repositories\n"
            "  revoke    take them back\n"
            "  grants    list every grant\n"
            "  key       rotate the token signing key (ocireg key --help)\n"
            "  gc        collect garbage, online (ocireg gc --help)\n"
            "  repo      create, delete, list and describe repositories\n"
            "  image     list a repository's images with sizes and times\n"
            "  lifecycle ECR lifecycle policies: put, get, delete, preview\n"
            "  fsck      verify (and --repair) a data folder\n"
            "  export    write images as an OCI image layout .tar.zst\n"
            "  import    load an OCI image layout archive, verifying every digest\n"
            "  backup    back up a whole data folder online into one .tar.zst\n"
            "  restore   rebuild a data folder from a backup\n"
            "  cache-rule pull-through cache rules: add, list, delete\n"
            "  health    exit 0 when the server answers /readyz (container HEALTHCHECK)\n"
            "  webhook   add, list, test webhooks; their deliveries (ocireg webhook --help)\n"
            "  replication  destinations, image status and sync (ocireg replication --help)\n\n"
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
    if (!strcmp(cmd, "user"))
        return cli_user_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "grant"))
        return cli_grant_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "revoke") || !strcmp(cmd, "grants"))
        return cli_revoke_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "key"))
        return cli_key_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "gc"))
        return cli_gc_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "repo"))
        return cli_repo_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "image"))
        return cli_image_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "lifecycle"))
        return cli_lifecycle_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "fsck"))
        return cli_fsck_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "export"))
        return cli_export_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "import"))
        return cli_import_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "backup"))
        return cli_backup_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "cache-rule"))
        return cli_cache_rule_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "replication"))
        return cli_replication_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "restore"))
        return cli_restore_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "health"))
        return cli_health_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "webhook"))
        return cli_webhook_main(argc - 1, argv + 1);
    fprintf(stderr, "ocireg: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return 2;
}
