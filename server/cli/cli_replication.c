/* cli_replication.c - `ocireg replication destination|status|sync` (see cli_replication.h). */
#include "server/cli/cli_replication.h"
#include "server/cli/cli_args.h"
#include "auth/destinations.h"
#include "auth/keyshare.h"
#include "storage/base/buf.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"
#include "storage/index/index_replication.h"
#include "storage/index/index_repos.h"
#include "storage/replicate.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: ocireg replication destination add --region R --registry-id ID URL\n"
    "           [--username U --password-stdin] [--ca-file F] [--data DIR]\n"
    "       ocireg replication destination list [--data DIR]\n"
    "       ocireg replication destination delete --region R --registry-id ID [--data DIR]\n"
    "       ocireg replication status REPO[:TAG|@DIGEST] [--data DIR]\n"
    "       ocireg replication sync [REPO] [--data DIR]\n\n"
    "The registry's replication rules are ECR's (aws ecr put-replication-configuration):\n"
    "destinations named by region and registry id, repository prefix filters. A destination\n"
    "says where such a name is: any OCI registry's URL, with a username and a password (read\n"
    "from standard input, stored encrypted) and a CA file for its TLS certificate. `status`\n"
    "shows an image's replication per destination; `sync` replicates the images that exist\n"
    "now (all repositories, or REPO) to every destination the rules give them, and waits.\n";

static const char *const bools[] = {"password-stdin", NULL};
static const char *const valued[] = {"region", "registry-id", "username", "ca-file", NULL};

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "ocireg: %s: %s\n", what, why);
    return 1;
}

static int destination_add(index_db *ix, const cli_args *a, const char *url)
{
    static char password[DESTINATION_PASSWORD_MAX + 2];
    char ca_path[PATH_MAX];
    const char *username = cli_opt(a, "username"), *ca_file = cli_opt(a, "ca-file");
    int with_password = cli_opt(a, "password-stdin") != NULL;
    if (with_password && !username)
        return fail("destination add", "--password-stdin needs --username");
    if (with_password &&
        cli_read_secret(password, sizeof(password), DESTINATION_PASSWORD_MAX, "a password") < 0)
        return fail("destination add", reg_error_last("expected a password"));
    if (ca_file && !realpath(ca_file, ca_path))
        return fail("destination add", "the --ca-file cannot be read");
    int err = destination_put(ix, a->data_dir, cli_opt(a, "region"), cli_opt(a, "registry-id"), url,
                              username, with_password ? password : NULL, ca_file ? ca_path : NULL);
    OPENSSL_cleanse(password, sizeof(password));
    if (err < 0)
        return fail("destination add", reg_error_last(index_errmsg(ix)));
    return 0;
}

static int print_destination(void *ctx, const replication_destination *d)
{
    printf("%-16s %-13s %-40s %-16s %s\n", d->region, d->registry_id, d->url,
           d->username ? d->username : "-", d->ca_file ? d->ca_file : "-");
    return REG_OK;
}

static int destination_main(index_db *ix, const cli_args *a)
{
    const char *verb = a->npos > 1 ? a->pos[1] : "";
    const char *region = cli_opt(a, "region"), *id = cli_opt(a, "registry-id");
    if (!strcmp(verb, "list") && a->npos == 2) {
        printf("%-16s %-13s %-40s %-16s %s\n", "REGION", "REGISTRY_ID", "URL", "USERNAME",
               "CA_FILE");
        return index_replication_destinations(ix, print_destination, NULL) < 0
                   ? fail("destination list", index_errmsg(ix))
                   : 0;
    }
    if (!region || !id)
        return cli_usage_error(usage);
    if (!strcmp(verb, "add") && a->npos == 3)
        return destination_add(ix, a, a->pos[2]);
    if (!strcmp(verb, "delete") && a->npos == 2) {
        int err = index_replication_destination_delete(ix, region, id);
        return err < 0 ? fail("destination delete",
                              err == REG_ENOTFOUND ? "no such destination" : index_errmsg(ix))
                       : 0;
    }
    return cli_usage_error(usage);
}

/* ---- status ---- */

static int print_status(void *ctx, const char *region, const char *registry_id, const char *status,
                        const char *reason, int64_t updated_at)
{
    printf("%-16s %-13s %-12s %lld %s\n", region, registry_id, status, (long long)updated_at,
           reason ? reason : "");
    return REG_OK;
}

/* REPO[:TAG|@DIGEST] to the repository (in repo, n bytes) and manifest. */
static int resolve_image(manifest_row *out, char *repo, size_t n, index_db *ix, const char *arg)
{
    const char *at = strchr(arg, '@'), *slash = strrchr(arg, '/');
    const char *colon = strrchr(slash ? slash : arg, ':');
    const char *end = at ? at : colon ? colon : arg + strlen(arg);
    digest d;
    if ((size_t)(end - arg) >= n)
        return reg_error_set(REG_EINVALID, "the repository name is too long");
    snprintf(repo, n, "%.*s", (int)(end - arg), arg);
    if (reference_check_name(repo) < 0)
        return reg_error_set(REG_EINVALID, "bad repository name %s", repo);
    if (at)
        return digest_parse(&d, at + 1) < 0 ? reg_error_set(REG_EINVALID, "bad digest %s", at + 1)
                                            : index_manifest_by_digest(out, ix, repo, &d);
    return index_manifest_by_tag(out, ix, repo, colon ? colon + 1 : "latest");
}

static int status_main(index_db *ix, const cli_args *a)
{
    char repo[512];
    manifest_row m;
    if (a->npos != 2)
        return cli_usage_error(usage);
    int err = resolve_image(&m, repo, sizeof(repo), ix, a->pos[1]);
    if (err < 0)
        return fail(a->pos[1],
                    err == REG_ENOTFOUND ? "no such image" : reg_error_last("bad image"));
    printf("%s@%s\n%-16s %-13s %-12s %s %s\n", repo, m.dg.str, "REGION", "REGISTRY_ID", "STATUS",
           "UPDATED", "REASON");
    return index_replication_statuses(ix, repo, m.dg.str, print_status, NULL) < 0
               ? fail("status", index_errmsg(ix))
               : 0;
}

/* ---- sync ---- */

typedef struct strings {
    char **items;
    size_t n, cap;
} strings;

#define SYNC_NAMES_MAX 1000000

static int add_string(void *ctx, const char *s)
{
    strings *l = ctx;
    if (buf_grow_array((void **)&l->items, &l->cap, l->n, sizeof(char *), SYNC_NAMES_MAX) < 0 ||
        !(l->items[l->n] = strdup(s ? s : "")))
        return reg_error_set(REG_ERROR, "out of memory");
    l->n++;
    return REG_OK;
}

static void strings_free(strings *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

/* Images replicated on their own: neither an index's child nor a referrer (they go with the
 * image they belong to). */
static int add_top_image(void *ctx, const image_info *img)
{
    return img->child || img->subject ? REG_OK : add_string(ctx, img->digest);
}

static int add_target(void *ctx, const char *region, const char *registry_id)
{
    char pair[64];
    snprintf(pair, sizeof(pair), "%s %s", region, registry_id);
    return add_string(ctx, pair);
}

typedef struct sync_ctx {
    store *st;
    index_db *ix;
    const char *data_dir;
    int failed, done;
} sync_ctx;

static void sync_to(sync_ctx *c, const char *repo, const strings *images, const char *pair)
{
    char region[32], id[16], why[512] = "";
    remote *client = NULL;
    if (sscanf(pair, "%31s %15s", region, id) != 2)
        return;
    int connected = destination_connect(&client, c->ix, c->data_dir, region, id);
    if (connected < 0)
        snprintf(why, sizeof(why), "%s", reg_error_last("cannot reach the destination"));
    for (size_t i = 0; i < images->n; i++) {
        const char *dg = images->items[i];
        replicate_destination dest = {region, id, client, NULL, 0};
        int err = connected;
        if (err == REG_OK && (err = replicate_image(c->st, c->ix, &dest, repo, dg)) < 0)
            snprintf(why, sizeof(why), "%s", reg_error_last("failed"));
        else if (err < 0)
            index_replication_status_set(c->ix, repo, dg, region, id, REPLICATION_FAILED, why);
        if (err < 0)
            printf("%s@%s %s/%s FAILED %s\n", repo, dg, region, id, why), c->failed++;
        else
            printf("%s@%s %s/%s COMPLETE\n", repo, dg, region, id), c->done++;
        fflush(stdout);
    }
    remote_close(client);
}

static int sync_repo(sync_ctx *c, const char *repo)
{
    strings targets = {0}, images = {0};
    int err = index_replication_targets(c->ix, repo, add_target, &targets);
    if (err == REG_OK && targets.n > 0)
        err = index_images(c->ix, repo, add_top_image, &images);
    for (size_t i = 0; i < targets.n && err == REG_OK; i++)
        sync_to(c, repo, &images, targets.items[i]);
    strings_free(&targets);
    strings_free(&images);
    return err;
}

#define CATALOG_PAGE 1000

static int sync_main(store *st, index_db *ix, const cli_args *a)
{
    sync_ctx c = {.st = st, .ix = ix, .data_dir = a->data_dir};
    strings repos = {0};
    int more = 1, err = REG_OK;
    if (a->npos == 2 && reference_check_name(a->pos[1]) < 0)
        return fail(a->pos[1], "bad repository name");
    if (a->npos == 2)
        err = add_string(&repos, a->pos[1]);
    while (a->npos == 1 && more && err == REG_OK)
        err = index_catalog_page(&more, ix, repos.n ? repos.items[repos.n - 1] : NULL, CATALOG_PAGE,
                                 add_string, &repos);
    for (size_t i = 0; i < repos.n && err == REG_OK; i++)
        err = sync_repo(&c, repos.items[i]);
    strings_free(&repos);
    if (err < 0)
        return fail("sync", err == REG_ENOTFOUND ? "no such repository" : index_errmsg(ix));
    printf("%d replicated, %d failed\n", c.done, c.failed);
    return c.failed > 0;
}

/* The store and its index, with the keys a shared index's instances use. */
static int open_registry(store **st_out, index_db **ix_out, const cli_args *a)
{
    store_location loc = cli_location(a);
    if (cli_open_store(st_out, &loc) < 0)
        return -1;
    if (index_open(ix_out, (*st_out)->db_path) < 0) {
        fprintf(stderr, "ocireg: cannot open the index %s: %s\n", (*st_out)->db_label,
                index_errmsg(NULL));
        return -1;
    }
    if (index_is_shared((*st_out)->db_path) && keys_share(*ix_out, a->data_dir) < 0)
        return fail("keys", reg_error_last("cannot share the keys"));
    return 0;
}

int cli_replication_main(int argc, char **argv)
{
    cli_args a;
    store *st = NULL;
    index_db *ix = NULL;
    int rc = cli_parse(&a, argc, argv, bools, valued, usage);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    const char *cmd = a.npos > 0 ? a.pos[0] : "";
    if (!(!strcmp(cmd, "destination") || !strcmp(cmd, "status") ||
          (!strcmp(cmd, "sync") && a.npos <= 2)))
        return cli_usage_error(usage);
    if (open_registry(&st, &ix, &a) < 0)
        rc = 1;
    else if (!strcmp(cmd, "destination"))
        rc = destination_main(ix, &a);
    else if (!strcmp(cmd, "status"))
        rc = status_main(ix, &a);
    else
        rc = sync_main(st, ix, &a);
    index_close(ix);
    store_close(st);
    return rc;
}
