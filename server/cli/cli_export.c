/* cli_export.c - the export, import, backup and restore subcommands (see cli_export.h).
 * Their own small argument parser: export takes any number of references and `-o FILE`. */
#include "server/cli/cli_export.h"
#include "server/http/config.h"
#include "storage/archive/backup.h"
#include "storage/archive/export.h"
#include "storage/archive/import.h"
#include "storage/index/index_inline.h"
#include "storage/base/reg_error.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_REFS            256
#define DEFAULT_LEVEL       3
#define MAX_DEFAULT_THREADS 4 /* each zstd worker buffers a few MiB */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = 1;
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed stdout is a write error, reported as such */
}

/* ---- arguments ---- */

typedef struct xfer_args {
    const char *data_dir;
    const char *pos[MAX_REFS];
    int npos;
    const char *output, *level, *threads, *repo, *repo_prefix, *max_blob_size, *inline_max;
    const char *storage, *index; /* refused: these commands work on the embedded store */
    int data_given;
} xfer_args;

static const char **option_slot(xfer_args *a, const char *name)
{
    if (!strcmp(name, "output"))
        return &a->output;
    if (!strcmp(name, "level"))
        return &a->level;
    if (!strcmp(name, "threads"))
        return &a->threads;
    if (!strcmp(name, "repo"))
        return &a->repo;
    if (!strcmp(name, "repo-prefix"))
        return &a->repo_prefix;
    if (!strcmp(name, "max-blob-size"))
        return &a->max_blob_size;
    if (!strcmp(name, "inline-max"))
        return &a->inline_max;
    if (!strcmp(name, "data"))
        return &a->data_dir;
    if (!strcmp(name, "storage"))
        return &a->storage;
    if (!strcmp(name, "index"))
        return &a->index;
    return NULL;
}

static int accepted(const char *const *names, const char *name)
{
    for (; *names; names++)
        if (!strcmp(*names, name))
            return 1;
    return !strcmp(name, "data") || !strcmp(name, "storage") || !strcmp(name, "index");
}

/* `--name VALUE`, `--name=VALUE` (`-o` is `--output`) and positional words. Returns 0, 1
 * after --help, or -1 after printing what is wrong. */
static int parse_args(xfer_args *a, int argc, char **argv, const char *const *names,
                      const char *usage)
{
    memset(a, 0, sizeof(*a));
    a->data_dir = getenv("OCIREG_DATA") ? getenv("OCIREG_DATA") : "./data";
    a->storage = getenv("OCIREG_STORAGE");
    a->index = getenv("OCIREG_INDEX");
    a->inline_max = getenv("OCIREG_INLINE_MAX");
    for (int i = 1; i < argc; i++) {
        char name[32];
        const char *arg = argv[i], *value = NULL;
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            printf("%s", usage);
            return 1;
        }
        if (!strcmp(arg, "-") || strncmp(arg, "-", 1) != 0) {
            if (a->npos == MAX_REFS)
                goto bad;
            a->pos[a->npos++] = arg;
            continue;
        }
        if (!strcmp(arg, "-o")) {
            snprintf(name, sizeof(name), "output");
        } else if (strncmp(arg, "--", 2) == 0 && strlen(arg) < sizeof(name) + 2) {
            const char *eq = strchr(arg, '=');
            snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - arg - 2) : 31, arg + 2);
            value = eq ? eq + 1 : NULL;
        } else {
            goto bad;
        }
        if (!accepted(names, name))
            goto bad;
        if (!value && i + 1 < argc)
            value = argv[++i];
        if (!value)
            goto bad;
        *option_slot(a, name) = value;
        a->data_given |= !strcmp(name, "data");
        continue;
    bad:
        fprintf(stderr, "ocireg: unexpected argument \"%s\"\n\n%s", arg, usage);
        return -1;
    }
    if ((a->storage && a->storage[0]) || (a->index && a->index[0])) {
        fprintf(stderr, "ocireg: export, import, backup and restore work on the embedded store "
                        "(a data folder) only; for S3 + PostgreSQL use pg_dump and the object "
                        "store's replication (docs/OPERATIONS.md)\n");
        return -1;
    }
    return 0;
}

static int usage_error(const char *why, const char *usage)
{
    fprintf(stderr, "ocireg: %s\n\n%s", why, usage);
    return 2;
}

static int parse_int(int *out, const char *text, int min, int max, const char *what)
{
    char *end;
    long v = text ? strtol(text, &end, 10) : 0;
    if (!text)
        return 0;
    if (*text == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "ocireg: %s must be a number from %d to %d\n", what, min, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* ---- progress on a terminal ---- */

typedef struct progress {
    const char *verb;
    struct timespec start, last;
    uint64_t bytes, position, size; /* as last reported */
    int shown;
} progress;

static double seconds_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void human(char *out, size_t n, double bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        u++;
    }
    snprintf(out, n, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

/* "export: 1.2 GiB (45%), 310.5 MiB/s", at most four times a second. */
static void show_progress(void *ctx, uint64_t bytes, uint64_t position, uint64_t size)
{
    progress *p = ctx;
    char done[32], rate[32], pct[16] = "";
    p->bytes = bytes;
    p->position = position;
    p->size = size;
    if (p->shown && seconds_since(&p->last) < 0.25)
        return;
    clock_gettime(CLOCK_MONOTONIC, &p->last);
    double elapsed = seconds_since(&p->start);
    human(done, sizeof(done), (double)bytes);
    human(rate, sizeof(rate), elapsed > 0 ? (double)bytes / elapsed : 0);
    if (size)
        snprintf(pct, sizeof(pct), " (%d%%)", (int)(position * 100 / size));
    fprintf(stderr, "\r%s: %s%s, %s/s   ", p->verb, done, pct, rate);
    p->shown = 1;
}

/* Archive options with progress on stderr when it is a terminal, quiet otherwise. */
static archive_options transfer_options(progress *p, const char *verb)
{
    archive_options opt = {.level = DEFAULT_LEVEL, .cancel = &interrupted};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    opt.threads = cpus < 1 ? 1 : cpus > MAX_DEFAULT_THREADS ? MAX_DEFAULT_THREADS : (int)cpus;
    memset(p, 0, sizeof(*p));
    p->verb = verb;
    clock_gettime(CLOCK_MONOTONIC, &p->start);
    if (isatty(STDERR_FILENO)) {
        opt.progress = show_progress;
        opt.progress_ctx = p;
    }
    return opt;
}

/* --max-blob-size for import and restore: the serve setting's default unless given. */
static int max_blob_size_option(archive_options *opt, const xfer_args *a)
{
    long long v =
        a->max_blob_size ? config_parse_size(a->max_blob_size) : CONFIG_DEFAULT_MAX_BLOB_SIZE;
    if (v < 0) {
        fprintf(stderr, "ocireg: --max-blob-size: expected a size such as 10G, got \"%s\"\n",
                a->max_blob_size);
        return -1;
    }
    opt->max_blob_size = (uint64_t)v;
    return 0;
}

/* The final figures (the last update may have been skipped), then a new line. */
static void end_progress(progress *p)
{
    if (!p->shown)
        return;
    p->shown = 0;
    show_progress(p, p->bytes, p->position, p->size);
    fprintf(stderr, "\n");
}

/* Blobs up to --inline-max bytes (serve's setting, the same default) go into the index. */
static int open_store(store **st, index_db **ix, const xfer_args *a)
{
    const char *data_dir = a->data_dir;
    int inline_max = BLOBSTORE_INLINE_MAX_DEFAULT;
    if (a->inline_max &&
        parse_int(&inline_max, a->inline_max, 0, INDEX_INLINE_LIMIT, "--inline-max") < 0)
        return -1;
    store_location loc = {.data_dir = data_dir, .inline_max = (uint64_t)inline_max};
    if (store_open(st, &loc) == REG_OK && index_open(ix, (*st)->db_path) == REG_OK)
        return 0;
    fprintf(stderr, "ocireg: cannot open the data folder %s: %s\n", data_dir,
            reg_error_last("cannot open it"));
    return -1;
}

/* ---- export ---- */

static const char export_usage[] =
    "Usage: ocireg export REPO[:TAG|@DIGEST]... -o FILE.tar.zst [--level N] [--threads N]\n"
    "                     [--data DIR]\n\n"
    "Write images as an OCI image layout (oci-layout, index.json, blobs/) in a zstd-compressed\n"
    "tar. A repository alone exports all its tags. The children of multi-arch indexes and the\n"
    "referrers of every exported manifest go along. index.json names each image\n"
    "\"REPO:TAG\" (or \"REPO@DIGEST\") in org.opencontainers.image.ref.name, which is what\n"
    "`ocireg import` reads back. Online: the server may keep running.\n"
    "  -o, --output FILE   the archive (\"-\" for stdout); written as FILE.tmp, renamed when done\n"
    "  --level N           zstd level, 1 (fast) to 19 (small); default 3\n"
    "  --threads N         zstd worker threads (0: none); default the CPUs, at most 4\n";

static void print_export(const export_report *r, const char *path)
{
    char bytes[32], packed[32];
    human(bytes, sizeof(bytes), (double)r->bytes);
    human(packed, sizeof(packed), (double)r->compressed);
    fprintf(strcmp(path, "-") ? stdout : stderr,
            "exported %lld images (%lld manifests, %lld blobs, %s) to %s (%s)\n",
            (long long)r->images, (long long)r->manifests, (long long)r->blobs, bytes,
            strcmp(path, "-") ? path : "stdout", packed);
}

int cli_export_main(int argc, char **argv)
{
    static const char *const names[] = {"output", "level", "threads", NULL};
    xfer_args a;
    progress p;
    archive_options opt = transfer_options(&p, "export");
    int rc = parse_args(&a, argc, argv, names, export_usage);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    if (a.npos == 0 || !a.output)
        return usage_error(a.npos ? "-o FILE is required" : "name at least one image",
                           export_usage);
    if (parse_int(&opt.level, a.level, 1, 22, "--level") < 0 ||
        parse_int(&opt.threads, a.threads, 0, 64, "--threads") < 0)
        return 2;
    if (!strcmp(a.output, "-") && isatty(STDOUT_FILENO)) {
        fprintf(stderr, "ocireg export: refusing to write an archive to a terminal\n");
        return 2;
    }
    store *st = NULL;
    index_db *ix = NULL;
    export_report rep;
    rc = 1;
    catch_signals();
    if (open_store(&st, &ix, &a) == 0) {
        int err = export_images(&rep, st, ix, a.pos, (size_t)a.npos, a.output, &opt);
        end_progress(&p);
        if (err == REG_OK)
            print_export(&rep, a.output);
        else
            fprintf(stderr, "ocireg export: %s\n", reg_error_last("export failed"));
        rc = err == REG_OK ? 0 : 1;
    }
    index_close(ix);
    store_close(st);
    return rc;
}

/* ---- import ---- */

static const char import_usage[] =
    "Usage: ocireg import FILE.tar.zst [--repo-prefix P | --repo NAME] [--data DIR]\n"
    "                     [--inline-max BYTES]\n\n"
    "Load an OCI image layout archive (zstd-compressed or a plain tar; \"-\" for stdin).\n"
    "Each index.json entry goes to the repository its org.opencontainers.image.ref.name\n"
    "names: \"REPO:TAG\" or \"REPO@DIGEST\", as `ocireg export` writes them. Layouts whose ref\n"
    "names are plain tags (`skopeo copy ... oci:DIR:TAG`) need --repo NAME.\n"
    "Every blob is verified against its digest and every manifest's references must be in the\n"
    "archive or already in the repository; only then is anything stored, so a damaged archive\n"
    "changes nothing.\n"
    "Blobs larger than --max-blob-size, or than the free space, are refused before a byte of\n"
    "them is written.\n"
    "  --repo-prefix P        put P/ in front of every repository name\n"
    "  --repo NAME            import every image into repository NAME\n"
    "  --max-blob-size SIZE   largest blob accepted (as serve's setting): bytes, or a number\n"
    "                         followed by K, M, G or T; default 52000M\n"
    "  --inline-max N         keep blobs up to N bytes in the index, as serve's setting\n"
    "                         (default 65536; 0: none)\n";

static void print_import(const import_report *r, const char *path)
{
    char bytes[32];
    human(bytes, sizeof(bytes), (double)r->bytes);
    printf("imported %lld images (%lld manifests, %lld blobs, %s) from %s\n", (long long)r->images,
           (long long)r->manifests, (long long)r->blobs, bytes, strcmp(path, "-") ? path : "stdin");
}

int cli_import_main(int argc, char **argv)
{
    static const char *const names[] = {"repo", "repo-prefix", "max-blob-size", "inline-max", NULL};
    xfer_args a;
    progress p;
    archive_options opt = transfer_options(&p, "import");
    int rc = parse_args(&a, argc, argv, names, import_usage);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    if (a.npos != 1 || (a.repo && a.repo_prefix))
        return usage_error(a.npos != 1 ? "name one archive"
                                       : "--repo and --repo-prefix exclude "
                                         "each other",
                           import_usage);
    if (max_blob_size_option(&opt, &a) < 0)
        return 2;
    store *st = NULL;
    index_db *ix = NULL;
    import_options iopt = {.repo = a.repo, .repo_prefix = a.repo_prefix};
    import_report rep;
    rc = 1;
    catch_signals();
    if (open_store(&st, &ix, &a) == 0) {
        int err = import_archive(&rep, st, ix, a.pos[0], &iopt, &opt);
        end_progress(&p);
        if (err == REG_OK)
            print_import(&rep, a.pos[0]);
        else
            fprintf(stderr, "ocireg import: %s\n%s\n", reg_error_last("import failed"),
                    rep.partial ? "some blobs or images were stored before the failure; "
                                  "gc removes blobs nothing references"
                                : "nothing was imported");
        rc = err == REG_OK ? 0 : 1;
    }
    index_close(ix);
    store_close(st);
    return rc;
}

/* ---- backup and restore ---- */

static const char backup_usage[] =
    "Usage: ocireg backup -o FILE.tar.zst [--level N] [--threads N] [--data DIR]\n\n"
    "Back up a whole data folder while the server runs: a consistent snapshot of the index\n"
    "(SQLite's online backup), every blob it lists, and keys/ with their modes, in one\n"
    "zstd-compressed tar. Upload sessions in progress are not included. A blob that gc deletes\n"
    "after the snapshot but before its copy (possible only once nothing needed it any more) is\n"
    "left out together with the manifests of the snapshot that used it, so the backup stays\n"
    "consistent; a warning says so.\n"
    "  -o, --output FILE   the archive (\"-\" for stdout); written as FILE.tmp, renamed when done\n"
    "  --level N           zstd level, 1 (fast) to 19 (small); default 3\n"
    "  --threads N         zstd worker threads (0: none); default the CPUs, at most 4\n";

static const char restore_usage[] =
    "Usage: ocireg restore FILE.tar.zst --data DIR [--max-blob-size SIZE]\n\n"
    "Rebuild a data folder from `ocireg backup`. DIR must be new or empty. Every blob is\n"
    "verified against its digest; the index is put in place last, once every blob it lists is.\n"
    "A blob larger than --max-blob-size (default 52000M) or than the free space is refused\n"
    "before a byte of it is written. keys/ is made 0700 and its files 0600, whatever the\n"
    "archive says. On failure DIR is left empty.\n";

static void print_backup(const backup_report *r, const char *verb, const char *where)
{
    char bytes[32];
    human(bytes, sizeof(bytes), (double)r->bytes);
    fprintf(strcmp(where, "-") ? stdout : stderr,
            "%s %lld blobs (%s), %lld key files and the index %s %s\n", verb, (long long)r->blobs,
            bytes, (long long)r->keys, verb[0] == 'b' ? "to" : "into",
            strcmp(where, "-") ? where : "stdout");
    if (r->warning[0])
        fprintf(stderr, "warning: %s\n", r->warning);
}

int cli_backup_main(int argc, char **argv)
{
    static const char *const names[] = {"output", "level", "threads", NULL};
    xfer_args a;
    progress p;
    archive_options opt = transfer_options(&p, "backup");
    int rc = parse_args(&a, argc, argv, names, backup_usage);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    if (a.npos != 0 || !a.output)
        return usage_error(a.npos ? "backup takes no image names" : "-o FILE is required",
                           backup_usage);
    if (parse_int(&opt.level, a.level, 1, 22, "--level") < 0 ||
        parse_int(&opt.threads, a.threads, 0, 64, "--threads") < 0)
        return 2;
    store *st = NULL;
    index_db *ix = NULL;
    backup_report rep;
    rc = 1;
    catch_signals();
    if (open_store(&st, &ix, &a) == 0) {
        int err = backup_write(&rep, st, ix, a.output, &opt);
        end_progress(&p);
        if (err == REG_OK)
            print_backup(&rep, "backed up", a.output);
        else
            fprintf(stderr, "ocireg backup: %s\n", reg_error_last("backup failed"));
        rc = err == REG_OK ? 0 : 1;
    }
    index_close(ix);
    store_close(st);
    return rc;
}

int cli_restore_main(int argc, char **argv)
{
    static const char *const names[] = {"max-blob-size", NULL};
    xfer_args a;
    progress p;
    backup_report rep;
    archive_options opt = transfer_options(&p, "restore");
    int rc = parse_args(&a, argc, argv, names, restore_usage);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    if (a.npos != 1 || !a.data_given)
        return usage_error(a.npos != 1 ? "name one backup file" : "--data DIR is required",
                           restore_usage);
    if (max_blob_size_option(&opt, &a) < 0)
        return 2;
    catch_signals();
    int err = backup_restore(&rep, a.pos[0], a.data_dir, &opt);
    end_progress(&p);
    if (err == REG_OK)
        print_backup(&rep, "restored", a.data_dir);
    else
        fprintf(stderr, "ocireg restore: %s\n", reg_error_last("restore failed"));
    return err == REG_OK ? 0 : 1;
}
