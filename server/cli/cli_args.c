/* cli_args.c - shared argument parsing of the admin subcommands (see cli_args.h). */
#include "server/cli/cli_args.h"
#include "auth/keyshare.h"
#include "storage/base/reg_error.h"
#include "storage/store.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int listed(const char *const *names, const char *name)
{
    for (; names && *names; names++)
        if (!strcmp(*names, name))
            return 1;
    return 0;
}

static int add_option(cli_args *a, const char *name, const char *value)
{
    if (a->nopts == CLI_MAX_OPTIONS)
        return -1;
    a->names[a->nopts] = name;
    a->values[a->nopts++] = value;
    return 0;
}

int cli_parse(cli_args *a, int argc, char **argv, const char *const *bools,
              const char *const *valued, const char *usage)
{
    memset(a, 0, sizeof(*a));
    a->data_dir = getenv("OCIREG_DATA") ? getenv("OCIREG_DATA") : "./data";
    a->storage = getenv("OCIREG_STORAGE");
    a->index = getenv("OCIREG_INDEX");
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            printf("%s", usage);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            if (a->npos == CLI_MAX_POSITIONAL)
                goto bad;
            a->pos[a->npos++] = arg;
            continue;
        }
        char name[64];
        size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (n >= sizeof(name))
            goto bad;
        memcpy(name, arg + 2, n);
        name[n] = '\0';
        const char *value = eq ? eq + 1 : NULL;
        int where = !strcmp(name, "data") || !strcmp(name, "storage") || !strcmp(name, "index");
        if (where || listed(valued, name)) {
            if (!value && i + 1 < argc)
                value = argv[++i];
            if (!value)
                goto bad;
            if (!strcmp(name, "data"))
                a->data_dir = value;
            else if (!strcmp(name, "storage"))
                a->storage = value;
            else if (!strcmp(name, "index"))
                a->index = value;
            else if (add_option(a, arg + 2, value) < 0)
                goto bad;
        } else if (listed(bools, name) && !value) {
            if (add_option(a, arg + 2, "") < 0)
                goto bad;
        } else {
            goto bad;
        }
        continue;
    bad:
        fprintf(stderr, "ocireg: unexpected argument \"%s\"\n\n%s", arg, usage);
        return -1;
    }
    return 0;
}

int cli_usage_error(const char *usage)
{
    fprintf(stderr, "%s", usage);
    return 2;
}

const char *cli_opt(const cli_args *a, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < a->nopts; i++)
        if (!strncmp(a->names[i], name, n) && (a->names[i][n] == '\0' || a->names[i][n] == '='))
            return a->values[i];
    return NULL;
}

store_location cli_location(const cli_args *a)
{
    store_location loc = {.data_dir = a->data_dir, .storage = a->storage, .index = a->index};
    return loc;
}

int cli_open_store(store **out, const store_location *loc)
{
    int rc = store_open(out, loc);
    if (rc < 0)
        fprintf(stderr, "ocireg: cannot open the data folder %s: %s\n", loc->data_dir,
                reg_error_last("cannot open it"));
    return rc;
}

index_db *cli_open_index(const cli_args *a)
{
    store *st = NULL;
    index_db *ix = NULL;
    store_location loc = cli_location(a);
    if (cli_open_store(&st, &loc) == REG_OK && index_open(&ix, st->db_path) < 0) {
        fprintf(stderr, "ocireg: cannot open the index %s: %s\n", st->db_label, index_errmsg(ix));
        index_close(ix);
        ix = NULL;
    }
    /* Commands that seal secrets or rotate keys need the keys every instance uses. */
    if (ix && index_is_shared(st->db_path) && keys_share(ix, a->data_dir) < 0) {
        fprintf(stderr, "ocireg: %s\n", reg_error_last("cannot share the keys"));
        index_close(ix);
        ix = NULL;
    }
    store_close(st);
    return ix;
}

int cli_read_secret(char *out, size_t n, size_t max, const char *what)
{
    size_t len = 0;
    if (n > 1 && fgets(out, (int)n, stdin)) {
        len = strlen(out);
        while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
            out[--len] = '\0';
    } else if (n > 0) {
        out[0] = '\0';
    }
    if (len == 0 || len > max) {
        OPENSSL_cleanse(out, n); /* a refused secret does not linger in the caller's buffer */
        return reg_error_set(REG_EINVALID, "expected %s (1 to %zu bytes) on standard input", what,
                             max);
    }
    return REG_OK;
}
