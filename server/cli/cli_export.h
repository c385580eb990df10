/* cli_export.h - `ocireg export`, `import`, `backup` and `restore`: images and whole data
 * folders to and from .tar.zst files, with progress on a terminal. */
#ifndef OCIREG_CLI_EXPORT_H
#define OCIREG_CLI_EXPORT_H

int cli_export_main(int argc, char **argv);
int cli_import_main(int argc, char **argv);
int cli_backup_main(int argc, char **argv);
int cli_restore_main(int argc, char **argv);

#endif
