/* cli_admin.c - `ocireg gc`, `ocireg repo`, `ocireg image`, `ocireg lifecycle`
 * (see cli_admin.h). Tables for people, --json for scripts. */
#include "server/cli/cli_admin.h"
#include "server/cli/cli_args.h"
#include "server/http/config.h"
#include "storage/fsck.h"
#include "storage/gc.h"
#include "storage/index/index_repos.h"
#include "storage/lifecycle.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_GRACE         3600
#define DEFAULT_UPLOAD_EXPIRY (24 * 3600)
#define POLICY_MAX            (64 * 1024)

static void print_json(json_t *j)
{
    char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(j);
}

static void format_time(char *out, size_t n, int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t <= 0) {
        snprintf(out, n, "-");
        return;
    }
    gmtime_r(&tt, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- gc ---- */

static const char gc_usage[] =
    "Usage: ocireg gc [--dry-run] [--untagged] [--grace DURATION] [--upload-expiry DURATION]\n"
    "                 [--json] [--data DIR]\n\n"
    "Collect garbage in a data folder, online (the server may keep running):\n"
    "  1. apply every repository's lifecycle policy (expired images are deleted);\n"
    "  2. with --untagged, delete manifests no tag, index or existing subject keeps;\n"
    "  3. delete blobs no manifest references, created and last pushed before the grace\n"
    "     period (default 1h), and blob files the index does not know;\n"
    "  4. delete upload files idle longer than --upload-expiry (default 24h).\n"
    "--dry-run reports what would go and the space it would free, and changes nothing.\n"
    "DURATION: 90, 90s, 15m, 1h, 7d.\n";

static void show_progress(void *ctx, const char *phase, int64_t count)
{
    fprintf(stderr, "\rgc: %-10s %lld   ", phase, (long long)count);
}

static void show_expired(void *ctx, const char *repo, const char *digest, const char *tags,
                         int rule)
{
    json_t *list = ctx;
    if (list)
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:i}", "repository", repo, "digest",
                                              digest, "tags", tags, "rule", rule));
    else
        printf("expire %s@%s [%s] by rule %d\n", repo, digest, tags, rule);
}

static int parse_durations(int64_t *grace, int64_t *expiry, const cli_args *a)
{
    const char *g = cli_opt(a, "grace"), *u = cli_opt(a, "upload-expiry");
    long long gv = g ? config_parse_duration(g) : DEFAULT_GRACE;
    long long uv = u ? config_parse_duration(u) : DEFAULT_UPLOAD_EXPIRY;
    if (gv < 0 || uv < 0) {
        fprintf(stderr, "ocireg gc: invalid duration \"%s\"\n", gv < 0 ? g : u);
        return -1;
    }
    *grace = gv;
    *expiry = uv;
    return 0;
}

static json_t *report_json(const gc_report *r, json_t *expired)
{
    return json_pack(
        "{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:s?}", "dry_run", r->totals.dry_run,
        "images_expired", (json_int_t)r->images_expired, "manifests_deleted",
        (json_int_t)r->totals.manifests_deleted, "blobs_deleted",
        (json_int_t)r->totals.blobs_deleted, "bytes_freed", (json_int_t)r->totals.bytes_freed,
        "orphans_deleted", (json_int_t)r->orphans_deleted, "orphan_bytes",
        (json_int_t)r->orphan_bytes, "uploads_deleted", (json_int_t)r->totals.uploads_deleted,
        "expired", expired ? expired : json_array(), "warning", r->warning[0] ? r->warning : NULL);
}

/* Shared by `gc` and `lifecycle preview`. */
static int run_gc(const cli_args *a, gc_options *opt, int json)
{
    store *st = NULL;
    index_db *ix = NULL, *lister = NULL;
    gc_report rep;
    json_t *expired = json ? json_array() : NULL;
    int rc = 1;
    store_location loc = cli_location(a);
    if (cli_open_store(&st, &loc) < 0 || index_open(&ix, st->db_path) < 0) {
        fprintf(stderr, "ocireg: cannot open the index %s\n", st ? st->db_label : a->data_dir);
        goto done;
    }
    /* gc's batches rewrite much of the index: a cache that holds a batch, and the checkpoint
     * left to a running server's checkpointer (or to the close). Not in `serve`, whose
     * connections would keep the larger cache. */
    index_tune_for_batch(ix);
    /* The sweep lists on a second connection while this one deletes (gc_list.h); without
     * one it lists in its transaction, only slower. */
    if (opt->sweep && !opt->dry_run && index_open(&lister, st->db_path) == REG_OK) {
        index_tune_for_scan(lister);
        opt->lister = lister;
    }
    opt->expired = show_expired;
    opt->expired_ctx = expired;
    if (isatty(STDERR_FILENO) && !json)
        opt->progress = show_progress;
    int err = gc_run(&rep, st, ix, opt);
    if (opt->progress)
        fprintf(stderr, "\n");
    if (err < 0) {
        fprintf(stderr, "ocireg gc: failed: %s\n", reg_error_last("unknown error"));
        goto done;
    }
    if (json) {
        print_json(report_json(&rep, expired));
        expired = NULL;
    } else {
        printf("%s%lld images expired by lifecycle rules, %lld manifests deleted, %lld blobs "
               "(%lld bytes) freed, %lld orphan files (%lld bytes), %lld upload files\n",
               opt->dry_run ? "dry run: would delete: " : "", (long long)rep.images_expired,
               (long long)rep.totals.manifests_deleted, (long long)rep.totals.blobs_deleted,
               (long long)rep.totals.bytes_freed, (long long)rep.orphans_deleted,
               (long long)rep.orphan_bytes, (long long)rep.totals.uploads_deleted);
        if (rep.warning[0])
            fprintf(stderr, "warning: %s\n", rep.warning);
    }
    rc = 0;
done:
    json_decref(expired);
    opt->lister = NULL; /* the caller's options outlive the connection */
    index_close(lister);
    index_close(ix);
    store_close(st);
    return rc;
}

int cli_gc_main(int argc, char **argv)
{
    static const char *const bools[] = {"dry-run", "untagged", "json", NULL};
    static const char *const valued[] = {"grace", "upload-expiry", NULL};
    cli_args a;
    gc_options opt = {.lifecycle = 1};
    int rc = cli_parse(&a, argc, argv, bools, valued, gc_usage);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    if (a.npos != 0 || parse_durations(&opt.grace, &opt.upload_expiry, &a) < 0)
        return cli_usage_error(gc_usage);
    opt.dry_run = cli_opt(&a, "dry-run") != NULL;
    opt.untagged = cli_opt(&a, "untagged") != NULL;
    opt.sweep = 1;
    return run_gc(&a, &opt, cli_opt(&a, "json") != NULL);
}

/* ---- repo ---- */

static const char repo_usage[] =
    "Usage: ocireg repo create NAME [--mutability MUTABLE|IMMUTABLE] [--data DIR]\n"
    "       ocireg repo delete NAME [--force] [--data DIR]\n"
    "       ocireg repo list [--json] [--data DIR]\n"
    "       ocireg repo describe NAME [--json] [--data DIR]\n"
    "       ocireg repo set-mutability NAME MUTABLE|IMMUTABLE [--data DIR]\n\n"
    "In an IMMUTABLE repository a pushed tag can never be moved to another manifest.\n"
    "delete --force removes a repository that still has images (gc frees their blobs).\n";

static json_t *repo_json(const repo_info *r)
{
    char created[32];
    format_time(created, sizeof(created), r->created_at);
    return json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:I}", "name", r->name, "created_at", created,
                     "tag_mutability", r->mutability, "lifecycle_policy", r->has_policy, "images",
                     (json_int_t)r->image_count, "tags", (json_int_t)r->tag_count, "size_bytes",
                     (json_int_t)r->size_bytes);
}

static int print_repo(void *ctx, const repo_info *r)
{
    json_t *list = ctx;
    if (list)
        return json_array_append_new(list, repo_json(r)) == 0 ? REG_OK : REG_ERROR;
    printf("%-40s %-10s %7lld %7lld %14lld\n", r->name, r->mutability, (long long)r->image_count,
           (long long)r->tag_count, (long long)r->size_bytes);
    return REG_OK;
}

static int valid_mutability(const char *m)
{
    return m && (!strcmp(m, MUTABLE) || !strcmp(m, IMMUTABLE));
}

static int repo_verb(index_db *ix, const cli_args *a, const char *verb)
{
    const char *name = a->npos > 1 ? a->pos[1] : NULL;
    int json = cli_opt(a, "json") != NULL;
    int err;
    if (!strcmp(verb, "list") || !strcmp(verb, "describe")) {
        json_t *list = json ? json_array() : NULL;
        if (!json)
            printf("%-40s %-10s %7s %7s %14s\n", "REPOSITORY", "MUTABILITY", "IMAGES", "TAGS",
                   "BYTES");
        err = index_repo_infos(ix, name, NULL, INT64_MAX, print_repo, list);
        if (err == REG_OK && json)
            print_json(name ? json_incref(json_array_get(list, 0)) : json_incref(list));
        json_decref(list);
    } else if (!strcmp(verb, "create")) {
        const char *m = cli_opt(a, "mutability") ? cli_opt(a, "mutability") : MUTABLE;
        if (!valid_mutability(m)) {
            fprintf(stderr, "ocireg: mutability must be MUTABLE or IMMUTABLE\n");
            return 2;
        }
        err = index_repo_create(ix, name, m);
    } else if (!strcmp(verb, "delete")) {
        err = index_repo_delete(ix, name, cli_opt(a, "force") != NULL);
    } else if (!strcmp(verb, "set-mutability") && a->npos == 3 && valid_mutability(a->pos[2])) {
        err = index_repo_set_mutability(ix, name, a->pos[2]);
    } else {
        return cli_usage_error(repo_usage);
    }
    if (err == REG_ENOTFOUND)
        fprintf(stderr, "ocireg: repository %s does not exist\n", name);
    else if (err == REG_ECONFLICT)
        fprintf(stderr, "ocireg: repository %s %s\n", name,
                !strcmp(verb, "create") ? "already exists"
                                        : "still has images (use --force to delete them too)");
    else if (err < 0)
        fprintf(stderr, "ocireg: %s\n", index_errmsg(ix));
    return err < 0 ? 1 : 0;
}

int cli_repo_main(int argc, char **argv)
{
    static const char *const bools[] = {"json", "force", NULL};
    static const char *const valued[] = {"mutability", NULL};
    cli_args a;
    int rc = cli_parse(&a, argc, argv, bools, valued, repo_usage);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    const char *verb = a.npos ? a.pos[0] : "";
    int wants_name = strcmp(verb, "list") != 0;
    if (a.npos < 1 || (wants_name && a.npos < 2) ||
        (wants_name && reference_check_name(a.pos[1]) < 0))
        return cli_usage_error(repo_usage);
    index_db *ix = cli_open_index(&a);
    if (!ix)
        return 1;
    rc = repo_verb(ix, &a, verb);
    index_close(ix);
    return rc;
}

/* ---- image ---- */

static const char image_usage[] = "Usage: ocireg image list REPO [--json] [--data DIR]\n\n"
                                  "The manifests of a repository with their tags, sizes (manifest "
                                  "+ config + layers),\npush and last pull times.\n";

static int print_image(void *ctx, const image_info *img)
{
    json_t *list = ctx;
    char pushed[32], pulled[32];
    format_time(pushed, sizeof(pushed), img->pushed_at);
    format_time(pulled, sizeof(pulled), img->last_pulled_at);
    if (!list) {
        printf("%-71s %-30s %12lld %-20s %-20s\n", img->digest, img->tags ? img->tags : "<none>",
               (long long)img->size, pushed, pulled);
        return REG_OK;
    }
    json_t *tags = json_array();
    char *copy = img->tags ? strdup(img->tags) : NULL;
    for (char *save = NULL, *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
         t = strtok_r(NULL, ",", &save))
        json_array_append_new(tags, json_string(t));
    free(copy);
    return json_array_append_new(
               list, json_pack("{s:s, s:s, s:s?, s:o, s:I, s:s, s:s?, s:s?}", "digest", img->digest,
                               "media_type", img->media_type, "artifact_type", img->artifact_type,
                               "tags", tags, "size_bytes", (json_int_t)img->size, "pushed_at",
                               pushed, "last_pulled_at", img->last_pulled_at ? pulled : NULL,
                               "subject", img->subject)) == 0
               ? REG_OK
               : REG_ERROR;
}

int cli_image_main(int argc, char **argv)
{
    static const char *const bools[] = {"json", NULL};
    cli_args a;
    int rc = cli_parse(&a, argc, argv, bools, NULL, image_usage);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    if (a.npos != 2 || strcmp(a.pos[0], "list") != 0 || reference_check_name(a.pos[1]) < 0)
        return cli_usage_error(image_usage);
    index_db *ix = cli_open_index(&a);
    if (!ix)
        return 1;
    json_t *list = cli_opt(&a, "json") ? json_array() : NULL;
    if (!list)
        printf("%-71s %-30s %12s %-20s %-20s\n", "DIGEST", "TAGS", "SIZE", "PUSHED", "PULLED");
    int err = index_images(ix, a.pos[1], print_image, list);
    if (err == REG_OK && list)
        print_json(json_incref(list));
    json_decref(list);
    if (err < 0)
        fprintf(stderr, "ocireg: %s\n",
                err == REG_ENOTFOUND ? "no such repository" : index_errmsg(ix));
    index_close(ix);
    return err < 0;
}

/* ---- lifecycle ---- */

static const char lifecycle_usage[] =
    "Usage: ocireg lifecycle put REPO FILE|- [--data DIR]\n"
    "       ocireg lifecycle get REPO [--data DIR]\n"
    "       ocireg lifecycle delete REPO [--data DIR]\n"
    "       ocireg lifecycle preview REPO [--json] [--data DIR]\n\n"
    "Lifecycle policies use AWS ECR's JSON format (rules with rulePriority, selection with\n"
    "tagStatus, tagPrefixList or tagPatternList, countType imageCountMoreThan or\n"
    "sinceImagePushed, action expire). `ocireg gc` applies them; preview shows what it would\n"
    "expire now.\n";

static char *read_policy(const char *path)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    char *text = f ? calloc(1, POLICY_MAX + 1) : NULL;
    size_t n = text ? fread(text, 1, POLICY_MAX + 1, f) : 0;
    if (f && f != stdin)
        fclose(f);
    if (!text || n > POLICY_MAX) {
        fprintf(stderr, "ocireg: cannot read a policy of at most %d bytes from %s\n", POLICY_MAX,
                path);
        free(text);
        return NULL;
    }
    return text;
}

static int lifecycle_put(index_db *ix, const char *repo, const char *path)
{
    lifecycle_policy *p = NULL;
    char *text = read_policy(path);
    int rc = 1;
    if (!text)
        return 1;
    if (lifecycle_parse(&p, text) < 0) {
        fprintf(stderr, "ocireg: invalid lifecycle policy: %s\n", reg_error_last("out of memory"));
    } else {
        int err = index_repo_set_policy(ix, repo, text);
        if (err < 0)
            fprintf(stderr, "ocireg: %s\n",
                    err == REG_ENOTFOUND ? "no such repository" : index_errmsg(ix));
        rc = err < 0;
    }
    lifecycle_free(p);
    free(text);
    return rc;
}

int cli_lifecycle_main(int argc, char **argv)
{
    static const char *const bools[] = {"json", NULL};
    cli_args a;
    int rc = cli_parse(&a, argc, argv, bools, NULL, lifecycle_usage);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    const char *verb = a.npos ? a.pos[0] : "";
    if (a.npos < 2 || reference_check_name(a.pos[1]) < 0 ||
        (a.npos != 3) != (strcmp(verb, "put") != 0))
        return cli_usage_error(lifecycle_usage);
    if (!strcmp(verb, "preview")) {
        gc_options opt = {.dry_run = 1, .lifecycle = 1, .only_repo = a.pos[1]};
        return run_gc(&a, &opt, cli_opt(&a, "json") != NULL);
    }
    index_db *ix = cli_open_index(&a);
    char *text = NULL;
    int err = REG_OK;
    if (!ix)
        return 1;
    if (!strcmp(verb, "put")) {
        rc = lifecycle_put(ix, a.pos[1], a.pos[2]);
    } else if (!strcmp(verb, "get")) {
        err = index_repo_policy(&text, ix, a.pos[1]);
        if (err == REG_OK)
            printf("%s\n", text);
    } else if (!strcmp(verb, "delete")) {
        err = index_repo_set_policy(ix, a.pos[1], NULL);
    } else {
        rc = cli_usage_error(lifecycle_usage);
    }
    if (err == REG_ENOTFOUND)
        fprintf(stderr, "ocireg: no lifecycle policy (or no repository) for %s\n", a.pos[1]);
    else if (err < 0)
        fprintf(stderr, "ocireg: %s\n", index_errmsg(ix));
    free(text);
    index_close(ix);
    return err < 0 ? 1 : rc;
}

/* ---- fsck ---- */

static const char fsck_usage[] =
    "Usage: ocireg fsck [--repair] [--json] [--data DIR]\n\n"
    "Verify a data folder: the index's integrity, every blob file against its row (present,\n"
    "size, digest) and rows that point at what is gone (damage), and list garbage with its\n"
    "size: blob files the index does not know (what a crash between write and commit leaves)\n"
    "and upload spools, both of which gc reclaims. --repair moves corrupt files to\n"
    "DATA/quarantine/ (it never deletes one) and removes rows only where that loses nothing\n"
    "(dangling tags and links, rows of missing blobs no manifest uses). Exit status: 0 no\n"
    "damage (garbage or not), 1 damage remains, 2 could not check.\n";

typedef struct fsck_lists {
    json_t *problems, *garbage; /* NULL: print lines instead */
} fsck_lists;

static void fsck_problem(void *ctx, const char *kind, const char *what, const char *action)
{
    fsck_lists *l = ctx;
    if (l->problems)
        json_array_append_new(l->problems, json_pack("{s:s, s:s, s:s}", "kind", kind, "what", what,
                                                     "action", action));
    else
        printf("%-22s %s%s%s\n", kind, what, *action ? "  => " : "", action);
}

static void fsck_garbage(void *ctx, const char *kind, const char *what, int64_t size)
{
    fsck_lists *l = ctx;
    if (l->garbage)
        json_array_append_new(l->garbage, json_pack("{s:s, s:s, s:I}", "kind", kind, "what", what,
                                                    "size", (json_int_t)size));
    else
        printf("garbage %-14s %s  %lld bytes (gc reclaims it)\n", kind, what, (long long)size);
}

static void fsck_progress(void *ctx, int64_t blobs, int64_t bytes)
{
    if (blobs % 64 == 0)
        fprintf(stderr, "\rfsck: %lld blobs, %lld bytes verified   ", (long long)blobs,
                (long long)bytes);
}

int cli_fsck_main(int argc, char **argv)
{
    static const char *const bools[] = {"repair", "json", NULL};
    cli_args a;
    store *st = NULL;
    index_db *ix = NULL;
    fsck_report rep;
    int rc = cli_parse(&a, argc, argv, bools, NULL, fsck_usage);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    if (a.npos != 0)
        return cli_usage_error(fsck_usage);
    int json = cli_opt(&a, "json") != NULL;
    fsck_lists lists = {json ? json_array() : NULL, json ? json_array() : NULL};
    fsck_options opt = {.repair = cli_opt(&a, "repair") != NULL,
                        .problem = fsck_problem,
                        .garbage = fsck_garbage,
                        .ctx = &lists,
                        .progress = !json && isatty(STDERR_FILENO) ? fsck_progress : NULL};
    rc = 2;
    store_location loc = cli_location(&a);
    if (cli_open_store(&st, &loc) < 0 || index_open(&ix, st->db_path) < 0) {
        fprintf(stderr, "ocireg: cannot open the index %s\n", st ? st->db_label : a.data_dir);
    } else if (fsck_run(&rep, st, ix, &opt) < 0) {
        fprintf(stderr, "ocireg fsck: could not finish: %s\n", index_errmsg(ix));
    } else {
        int healthy = rep.problems == rep.repaired;
        if (opt.progress)
            fprintf(stderr, "\n");
        if (json)
            print_json(json_pack("{s:b, s:I, s:I, s:I, s:I, s:O, s:I, s:O}", "healthy", healthy,
                                 "blobs_checked", (json_int_t)rep.blobs_checked, "bytes_checked",
                                 (json_int_t)rep.bytes_checked, "problems",
                                 (json_int_t)rep.problems, "repaired", (json_int_t)rep.repaired,
                                 "details", lists.problems, "garbage_bytes",
                                 (json_int_t)rep.garbage_bytes, "garbage", lists.garbage));
        else
            printf("fsck: %lld blobs (%lld bytes) verified, %lld problems, %lld repaired, "
                   "%lld garbage (%lld bytes): %s\n",
                   (long long)rep.blobs_checked, (long long)rep.bytes_checked,
                   (long long)rep.problems, (long long)rep.repaired, (long long)rep.garbage,
                   (long long)rep.garbage_bytes, healthy ? "healthy" : "NOT healthy");
        rc = healthy ? 0 : 1;
    }
    json_decref(lists.problems);
    json_decref(lists.garbage);
    index_close(ix);
    store_close(st);
    return rc;
}
