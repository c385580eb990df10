/* cli_cache.c - `ocireg cache-rule add|list|delete` (see cli_cache.h). */
#include "server/cli/cli_cache.h"
#include "server/cli/cli_args.h"
#include "auth/sealed.h"
#include "server/http/config.h"
#include "storage/base/reg_error.h"
#include "storage/cache_rules.h"

#include <jansson.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: ocireg cache-rule add PREFIX URL [--upstream-prefix P] [--username U "
    "--password-stdin]\n"
    "                             [--ttl 24h] [--ca-file F] [--data DIR]\n"
    "       ocireg cache-rule list [--json] [--data DIR]\n"
    "       ocireg cache-rule delete PREFIX [--data DIR]\n\n"
    "A pull-through cache rule: a pull of PREFIX/<path> that the registry does not hold\n"
    "fetches <path> (under the upstream prefix P) from the registry at URL\n"
    "([https://]host[:port] or http://host[:port]) and keeps it. PREFIX: 2 to 20 characters\n"
    "of [a-z0-9]+(?:[._-][a-z0-9]+)*. The password is read from standard input and stored\n"
    "sealed; it is never shown. --ttl: how long a cached tag is served before the upstream is\n"
    "asked again (default 24h). --ca-file: PEM CAs for the upstream's TLS (default: the\n"
    "system's).\n";

static const char *const bools[] = {"password-stdin", "json", NULL};
static const char *const valued[] = {"upstream-prefix", "username", "ttl", "ca-file", NULL};

static int fail(const char *what)
{
    fprintf(stderr, "ocireg: %s\n", reg_error_last(what));
    return 2;
}

/* The rule the options describe, password sealed; 0 or an exit status. */
static int rule_from_args(cache_rule *r, const cli_args *a)
{
    const char *up = cli_opt(a, "upstream-prefix"), *user = cli_opt(a, "username");
    const char *ttl = cli_opt(a, "ttl"), *ca = cli_opt(a, "ca-file");
    char ca_path[PATH_MAX];
    memset(r, 0, sizeof(*r));
    if (cache_prefix_check(a->pos[1]) < 0)
        return fail("invalid prefix");
    snprintf(r->prefix, sizeof(r->prefix), "%s", a->pos[1]);
    if (cache_url_normalize(r->upstream_url, sizeof(r->upstream_url), a->pos[2]) < 0)
        return fail("invalid URL");
    if (up && cache_upstream_prefix_check(up) < 0)
        return fail("invalid upstream prefix");
    snprintf(r->upstream_prefix, sizeof(r->upstream_prefix), "%s", up ? up : "");
    r->ttl_seconds = ttl ? config_parse_duration(ttl) : CACHE_TTL_DEFAULT;
    if (r->ttl_seconds < 0) {
        fprintf(stderr, "ocireg: --ttl: expected a duration such as 24h, got \"%s\"\n", ttl);
        return 2;
    }
    if (ca && (!realpath(ca, ca_path) || strlen(ca_path) > CACHE_CA_FILE_MAX)) {
        fprintf(stderr, "ocireg: --ca-file: cannot find \"%s\"\n", ca);
        return 2;
    }
    if (ca) /* its length was checked: within CACHE_CA_FILE_MAX */
        memcpy(r->ca_file, ca_path, strlen(ca_path) + 1);
    if (!user != !cli_opt(a, "password-stdin") ||
        (user && (!user[0] || strlen(user) > CACHE_USERNAME_MAX))) {
        fprintf(stderr, "ocireg: --username (1 to %d bytes) and --password-stdin go together\n",
                CACHE_USERNAME_MAX);
        return 2;
    }
    snprintf(r->username, sizeof(r->username), "%s", user ? user : "");
    return 0;
}

static int add_rule(const cli_args *a)
{
    cache_rule r;
    char pass[CACHE_PASSWORD_MAX + 2];
    int rc = rule_from_args(&r, a);
    if (rc)
        return rc;
    if (r.username[0] &&
        cli_read_secret(pass, sizeof(pass), CACHE_PASSWORD_MAX, "a password") < 0) {
        fprintf(stderr, "ocireg: %s\n", reg_error_last("expected a password"));
        return 2;
    }
    index_db *ix = cli_open_index(a);
    int err = ix ? REG_OK : REG_ERROR;
    if (err == REG_OK && r.username[0])
        err = sealed_text_seal(r.password, &r.password_len, a->data_dir, pass, CACHE_PASSWORD_MAX);
    OPENSSL_cleanse(pass, sizeof(pass));
    if (err == REG_OK)
        err = index_cache_rule_add(ix, &r);
    if (err < 0 && ix)
        fprintf(stderr, "ocireg: %s\n", reg_error_last("the rule cannot be stored"));
    index_close(ix);
    return err < 0;
}

static int print_rule(void *ctx, const cache_rule *r)
{
    int *first = ctx;
    if (!first) {
        printf("%-20s %-40s %-20s %-16s %8llds %s\n", r->prefix, r->upstream_url,
               r->upstream_prefix[0] ? r->upstream_prefix : "-", r->username[0] ? r->username : "-",
               (long long)r->ttl_seconds, r->ca_file[0] ? r->ca_file : "-");
        return 0;
    }
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s?, s:I, s:s?, s:I, s:b}", "prefix", r->prefix, "upstreamUrl",
                  r->upstream_url, "upstreamPrefix", r->upstream_prefix, "username",
                  r->username[0] ? r->username : NULL, "ttlSeconds", (json_int_t)r->ttl_seconds,
                  "caFile", r->ca_file[0] ? r->ca_file : NULL, "createdAt",
                  (json_int_t)r->created_at, "hasPassword", r->password_len > 0);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text)
        printf("%s%s", *first ? "" : ",", text);
    *first = 0;
    free(text);
    json_decref(o);
    return text ? 0 : REG_ERROR;
}

static int list_rules(const cli_args *a)
{
    int first = 1, json = cli_opt(a, "json") != NULL;
    index_db *ix = cli_open_index(a);
    if (!ix)
        return 1;
    if (json)
        printf("[");
    else
        printf("%-20s %-40s %-20s %-16s %9s %s\n", "PREFIX", "UPSTREAM", "UPSTREAM PREFIX",
               "USERNAME", "TTL", "CA FILE");
    int err = index_cache_rules(ix, NULL, print_rule, json ? &first : NULL);
    if (json)
        printf("]\n");
    if (err < 0)
        fprintf(stderr, "ocireg: %s\n", reg_error_last("the rules cannot be read"));
    index_close(ix);
    return err < 0;
}

static int delete_rule(const cli_args *a)
{
    index_db *ix = cli_open_index(a);
    if (!ix)
        return 1;
    int err = index_cache_rule_delete(ix, a->pos[1]);
    if (err < 0)
        fprintf(stderr, "ocireg: %s\n",
                err == REG_ENOTFOUND ? "no such rule" : reg_error_last("cannot delete the rule"));
    index_close(ix);
    return err < 0;
}

int cli_cache_rule_main(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(&a, argc, argv, bools, valued, usage);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    const char *verb = a.npos > 0 ? a.pos[0] : "";
    if (!strcmp(verb, "add") && a.npos == 3)
        return add_rule(&a);
    if (!strcmp(verb, "list") && a.npos == 1)
        return list_rules(&a);
    if (!strcmp(verb, "delete") && a.npos == 2)
        return delete_rule(&a);
    return cli_usage_error(usage);
}
