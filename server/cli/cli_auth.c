/* cli_auth.c - `ocireg user add|passwd|del|list`, `ocireg grant|revoke`, `ocireg grants`,
 * `ocireg key rotate` (see cli_auth.h). */
#include "server/cli/cli_auth.h"
#include "server/cli/cli_args.h"
#include "auth/access_keys.h"
#include "auth/keys.h"
#include "auth/password.h"
#include "auth/policy.h"
#include "auth/scope.h"
#include "storage/index/index_auth.h"
#include "storage/base/namematch.h"
#include "storage/base/reg_error.h"
#include "storage/store.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const auth_bools[] = {"password-stdin", "json", NULL};

static int parse_args(cli_args *a, int argc, char **argv, const char *usage)
{
    return cli_parse(a, argc, argv, auth_bools, NULL, usage);
}

static int valid_user_name(const char *name)
{
    size_t n = strlen(name);
    if (n > USER_NAME_MAX || !strcmp(name, ANONYMOUS) || !strcmp(name, "AWS"))
        return 0;
    return namematch_chars(name, n, "._@-");
}

static int set_password(index_db *ix, const char *name)
{
    char pass[PASSWORD_MAX + 2];
    user_record u;
    memset(&u, 0, sizeof(u));
    if (cli_read_secret(pass, sizeof(pass), PASSWORD_MAX, "a password") < 0) {
        fprintf(stderr, "ocireg: %s\n", reg_error_last("expected a password"));
        return 2;
    }
    snprintf(u.name, sizeof(u.name), "%s", name);
    int err = password_hash(&u, pass);
    memset(pass, 0, sizeof(pass));
    if (err < 0 || index_user_put(ix, &u) < 0) {
        fprintf(stderr, "ocireg: could not store user %s: %s\n", name, index_errmsg(ix));
        return 1;
    }
    return 0;
}

static int print_name(void *ctx, const char *name)
{
    int *first = ctx;
    if (first)
        printf("%s\"%s\"", *first ? "" : ",", name), *first = 0;
    else
        printf("%s\n", name);
    return 0;
}

static const char user_usage[] =
    "Usage: ocireg user add NAME --password-stdin [--data DIR]\n"
    "       ocireg user passwd NAME --password-stdin [--data DIR]\n"
    "       ocireg user del NAME [--data DIR]\n"
    "       ocireg user list [--json] [--data DIR]\n"
    "       ocireg user key create|list|delete ... (ocireg user key --help)\n\n"
    "Manage the users of a data folder. Authentication is on as soon as one user exists.\n"
    "User names: letters, digits, '.', '_', '@', '-' (at most 64); not \"anonymous\" or \"AWS\".\n";

static const char key_usage_text[] =
    "Usage: ocireg user key create USER [--json] [--data DIR]\n"
    "       ocireg user key list [USER] [--data DIR]\n"
    "       ocireg user key delete KEY_ID [--data DIR]\n\n"
    "Access keys sign requests to the ECR API (AWS Signature Version 4), e.g. with\n"
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and `aws ecr --endpoint-url URL`. The secret is\n"
    "printed once and stored encrypted.\n";

static int print_key(void *ctx, const char *id, const char *user, int64_t created_at)
{
    printf("%-24s %-24s %lld\n", id, user, (long long)created_at);
    return 0;
}

static int user_key(index_db *ix, const cli_args *a)
{
    const char *verb = a->npos > 1 ? a->pos[1] : "";
    user_record rec;
    if (!strcmp(verb, "create") && a->npos == 3) {
        char id[ACCESS_KEY_ID_LEN + 1], secret[ACCESS_SECRET_LEN + 1];
        if (index_user_get(&rec, ix, a->pos[2]) != REG_OK) {
            fprintf(stderr, "ocireg: no user %s\n", a->pos[2]);
            return 1;
        }
        if (access_key_create(id, secret, ix, a->data_dir, a->pos[2]) < 0) {
            fprintf(stderr, "ocireg: could not create a key: %s\n", index_errmsg(ix));
            return 1;
        }
        if (cli_opt(a, "json"))
            printf("{\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"%s\"}\n", id, secret);
        else
            printf("AccessKeyId:     %s\nSecretAccessKey: %s\n(the secret is not shown again)\n",
                   id, secret);
        OPENSSL_cleanse(secret, sizeof(secret));
        return 0;
    }
    if (!strcmp(verb, "list") && a->npos <= 3)
        return index_access_keys(ix, a->npos == 3 ? a->pos[2] : NULL, print_key, NULL) < 0;
    if (!strcmp(verb, "delete") && a->npos == 3) {
        int err = index_access_key_delete(ix, a->pos[2]);
        if (err < 0)
            fprintf(stderr, "ocireg: %s\n",
                    err == REG_ENOTFOUND ? "no such key" : index_errmsg(ix));
        return err < 0;
    }
    fprintf(stderr, "%s", key_usage_text);
    return 2;
}

/* user add / passwd NAME: a new user, or a new password for one that exists. */
static int user_set_password(index_db *ix, const char *name, int adding)
{
    user_record existing;
    int exists = index_user_get(&existing, ix, name) == REG_OK;
    if (adding && exists) {
        fprintf(stderr, "ocireg: user %s already exists (use user passwd)\n", name);
        return 1;
    }
    if (!adding && !exists) {
        fprintf(stderr, "ocireg: no user %s\n", name);
        return 1;
    }
    return set_password(ix, name);
}

/* user del NAME. */
static int user_delete(index_db *ix, const char *name)
{
    int err = index_user_delete(ix, name);
    if (err < 0)
        fprintf(stderr, "ocireg: %s\n", err == REG_ENOTFOUND ? "no such user" : index_errmsg(ix));
    return err < 0;
}

/* user list [--json]. */
static int user_list(index_db *ix, const cli_args *a)
{
    int first = 1, json = cli_opt(a, "json") != NULL;
    if (json)
        printf("[");
    int rc = index_user_list(ix, print_name, json ? &first : NULL) < 0;
    if (json)
        printf("]\n");
    return rc;
}

/* The words and flags of a user verb other than key: 0 when they do, else the exit status. */
static int check_user_words(const cli_args *a, const char *verb)
{
    int needs_name = strcmp(verb, "list") != 0;
    if ((needs_name && a->npos != 2) || (!needs_name && a->npos != 1))
        return cli_usage_error(user_usage);
    if (needs_name && !valid_user_name(a->pos[1])) {
        fprintf(stderr, "ocireg: invalid user name \"%s\"\n", a->pos[1]);
        return 2;
    }
    if ((!strcmp(verb, "add") || !strcmp(verb, "passwd")) && !cli_opt(a, "password-stdin")) {
        fprintf(stderr, "ocireg: give the password on standard input with --password-stdin\n");
        return 2;
    }
    return 0;
}

int cli_user_main(int argc, char **argv)
{
    cli_args a;
    int rc = parse_args(&a, argc, argv, user_usage);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    const char *verb = a.npos > 0 ? a.pos[0] : "";
    if (strcmp(verb, "key") != 0 && (rc = check_user_words(&a, verb)) != 0)
        return rc;
    index_db *ix = cli_open_index(&a);
    if (!ix)
        return 1;
    if (!strcmp(verb, "key"))
        rc = user_key(ix, &a);
    else if (!strcmp(verb, "add") || !strcmp(verb, "passwd"))
        rc = user_set_password(ix, a.pos[1], !strcmp(verb, "add"));
    else if (!strcmp(verb, "del"))
        rc = user_delete(ix, a.pos[1]);
    else if (!strcmp(verb, "list"))
        rc = user_list(ix, &a);
    else
        rc = cli_usage_error(user_usage);
    index_close(ix);
    return rc;
}

static const char grant_usage[] =
    "Usage: ocireg grant PRINCIPAL PATTERN ACTIONS [--data DIR]\n"
    "       ocireg revoke PRINCIPAL PATTERN [ACTIONS] [--data DIR]\n"
    "       ocireg grants [--data DIR]\n\n"
    "PRINCIPAL is a user or \"anonymous\" (everyone, signed in or not).\n"
    "PATTERN is a repository name where '*' matches anything, '/' included (team-a/<*>).\n"
    "ACTIONS is a comma-separated list of pull, push, delete, admin, pull-through (filling a\n"
    "pull-through cache from its upstream), or '*' for all.\n";

/* Shared by grant and revoke: validate the principal, pattern and actions. */
static int grant_target(unsigned *actions, const cli_args *a, int actions_required)
{
    if (a->npos < 2 || a->npos > 3 || (actions_required && a->npos != 3))
        return cli_usage_error(grant_usage);
    if (strcmp(a->pos[0], ANONYMOUS) != 0 && !valid_user_name(a->pos[0])) {
        fprintf(stderr, "ocireg: invalid principal \"%s\"\n", a->pos[0]);
        return 2;
    }
    if (pattern_check(a->pos[1]) < 0) {
        fprintf(stderr, "ocireg: invalid pattern \"%s\"\n", a->pos[1]);
        return 2;
    }
    *actions = ACTION_ALL;
    if (a->npos == 3 && actions_parse(actions, a->pos[2]) < 0) {
        fprintf(stderr,
                "ocireg: invalid actions \"%s\" (pull, push, delete, admin, pull-through, *)\n",
                a->pos[2]);
        return 2;
    }
    return 0;
}

static int run_grant(int argc, char **argv, int revoke)
{
    cli_args a;
    unsigned actions;
    int rc = parse_args(&a, argc, argv, grant_usage);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    if ((rc = grant_target(&actions, &a, !revoke)) != 0)
        return rc;
    index_db *ix = cli_open_index(&a);
    if (!ix)
        return 1;
    int err = revoke ? index_grant_remove(ix, a.pos[0], a.pos[1], actions)
                     : index_grant_add(ix, a.pos[0], a.pos[1], actions);
    if (err < 0)
        fprintf(stderr, "ocireg: %s\n", err == REG_ENOTFOUND ? "no such grant" : index_errmsg(ix));
    index_close(ix);
    return err < 0;
}

int cli_grant_main(int argc, char **argv)
{
    return run_grant(argc, argv, 0);
}

static int print_grant(void *ctx, const char *principal, const char *pattern, unsigned actions)
{
    char names[48];
    actions_format(names, sizeof(names), actions);
    printf("%-20s %-40s %s\n", principal, pattern, names);
    return 0;
}

int cli_revoke_main(int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "grants")) {
        cli_args a;
        int rc = parse_args(&a, argc, argv, grant_usage);
        if (rc != 0 || a.npos != 0)
            return rc < 0 || a.npos ? 2 : 0;
        index_db *ix = cli_open_index(&a);
        if (!ix)
            return 1;
        rc = index_grants(ix, NULL, print_grant, NULL) < 0;
        index_close(ix);
        return rc;
    }
    return run_grant(argc, argv, 1);
}

static const char key_usage[] =
    "Usage: ocireg key rotate [--data DIR] [--index postgres://URI]\n\n"
    "Create a new token signing key (with a shared index, for every instance). A server uses\n"
    "it for new tokens after a restart; tokens\n"
    "signed by older keys stay valid until they expire. Remove an old keys/*.pem file once\n"
    "no token it signed can still be valid.\n";

int cli_key_main(int argc, char **argv)
{
    cli_args a;
    char path[PATH_MAX];
    int rc = parse_args(&a, argc, argv, key_usage);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    if (a.npos != 1 || strcmp(a.pos[0], "rotate") != 0)
        return cli_usage_error(key_usage);
    if (keyring_rotate(a.data_dir, path, sizeof(path)) < 0) {
        fprintf(stderr, "ocireg: could not write a new key under %s/keys\n", a.data_dir);
        return 1;
    }
    if (a.index && index_is_shared(a.index)) {
        index_db *ix = cli_open_index(&a); /* offers the new key to every instance */
        if (!ix)
            return 1;
        index_close(ix);
    }
    printf("%s\n", path);
    return 0;
}
