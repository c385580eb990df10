/* cli_admin.h - operators' subcommands on a data folder: gc, repo, image, lifecycle, fsck. They
 * work against a live data folder while `ocireg serve` runs. */
#ifndef OCIREG_CLI_ADMIN_H
#define OCIREG_CLI_ADMIN_H

int cli_gc_main(int argc, char **argv);
int cli_repo_main(int argc, char **argv);
int cli_image_main(int argc, char **argv);
int cli_lifecycle_main(int argc, char **argv);
int cli_fsck_main(int argc, char **argv);

#endif
