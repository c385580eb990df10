/* cli_args.h - argument parsing shared by the admin subcommands: positional words, --data
 * (default $OCIREG_DATA or ./data), --storage and --index, boolean flags and flags with a value,
 * --help. */
#ifndef OCIREG_CLI_ARGS_H
#define OCIREG_CLI_ARGS_H

#include "storage/index/index.h"
#include "storage/store.h"

#define CLI_MAX_POSITIONAL 16
#define CLI_MAX_OPTIONS    8

typedef struct cli_args {
    const char *data_dir;
    const char *storage; /* --storage / $OCIREG_STORAGE, NULL = DATA/blobs */
    const char *index;   /* --index / $OCIREG_INDEX, NULL = DATA/meta.db */
    const char *pos[CLI_MAX_POSITIONAL];
    int npos;
    const char *names[CLI_MAX_OPTIONS];  /* options seen, without "--" */
    const char *values[CLI_MAX_OPTIONS]; /* their values ("" for booleans) */
    int nopts;
} cli_args;

/* `bools` and `valued` list the accepted option names (NULL-terminated, without "--").
 * Returns 0, 1 when --help was printed, or -1 after printing what is wrong and the usage. */
int cli_parse(cli_args *a, int argc, char **argv, const char *const *bools,
              const char *const *valued, const char *usage);

/* Print the usage to standard error for words the command does not take; returns the exit
 * status that says so (2). */
int cli_usage_error(const char *usage);

/* The option's value, or NULL when it was not given. */
const char *cli_opt(const cli_args *a, const char *name);

/* The store named by --data, --storage and --index. */
store_location cli_location(const cli_args *a);

/* Open the store, printing why not; REG_OK or an error. */
int cli_open_store(store **out, const store_location *loc);

/* Open the registry's index (creating the folder layout if it is new); NULL after an
 * error message. */
index_db *cli_open_index(const cli_args *a);

/* One line of standard input (a password, a secret: --password-stdin, --secret-stdin) into
 * out (n bytes, at least max + 2), its line end removed. REG_EINVALID, with "expected `what` (1
 * to max bytes) on standard input" in reg_error_last, when it is empty or longer than max.
 * The caller wipes out after use. */
int cli_read_secret(char *out, size_t n, size_t max, const char *what);

#endif
