/* cli_health.c - `ocireg health`: GET /readyz of the server that the serve settings in the
 * environment describe (or --url), exit 0 on 200 and 1 otherwise (see cli_health.h). */
#include "server/cli/cli_health.h"
#include "server/cli/cli_args.h"
#include "server/http/config.h"
#include "storage/base/dynlib_calls.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEALTH_TIMEOUT_DEFAULT 5
#define HEALTH_TIMEOUT_MAX     300

static const char health_usage[] =
    "Usage: ocireg health [--url URL] [--timeout SECONDS] [--insecure]\n\n"
    "GET the server's /readyz; exit 0 on 200, else 1 with the reason on stderr.\n"
    "Without --url the address comes from the serve settings (OCIREG_LISTEN,\n"
    "OCIREG_TLS_CERT, OCIREG_CONFIG...), as `ocireg serve` would read them, with a\n"
    "wildcard listen address (0.0.0.0, [::]) asked on loopback; the certificate of\n"
    "that loopback address is not verified.\n\n"
    "  --url URL           GET this URL instead\n"
    "  --timeout SECONDS   give up after this long (1..300, default: 5)\n"
    "  --insecure          do not verify the certificate of --url\n";

/* http(s)://HOST:PORT/readyz from the listen setting; wildcards are reached on loopback. */
static int url_from_settings(char *out, size_t size)
{
    config cfg;
    char *argv[] = {"health", NULL};
    config_defaults(&cfg);
    if (config_load_serve(&cfg, 1, argv) < 0)
        return REG_EINVALID;
    const char *port = strrchr(cfg.listen, ':');
    size_t host_len = (size_t)(port - cfg.listen);
    const char *host = cfg.listen;
    if (host_len == 0 || !strncmp(host, "0.0.0.0:", 8) || !strncmp(host, "*:", 2))
        host = "127.0.0.1", host_len = strlen(host);
    else if (!strncmp(host, "[::]:", 5))
        host = "[::1]", host_len = strlen(host);
    snprintf(out, size, "%s://%.*s%s/readyz", cfg.tls_cert[0] ? "https" : "http", (int)host_len,
             host, port);
    return REG_OK;
}

static size_t discard_body(char *data, size_t size, size_t n, void *unused)
{
    (void)data, (void)unused;
    return size * n;
}

/* One GET with libcurl loaded; REG_OK on 200, else the reason set. */
static int health_request(CURL *curl, const char *url, long timeout, int verify)
{
    DYNLIB_CURL_LOCAL(curl_easy_setopt);
    DYNLIB_CURL_LOCAL(curl_easy_getinfo);
    long status = 0;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK)
        return reg_error_set(REG_ERROR, "%s: %s", url, curl_easy_strerror(rc));
    if (curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200)
        return reg_error_set(REG_ERROR, "%s: HTTP status %ld", url, status);
    return REG_OK;
}

static int health_get(const char *url, long timeout, int verify)
{
    CURL *curl = NULL;
    int err = REG_OK;
    if ((err = dynlib_load_curl()) < 0)
        return err;
    if (!(curl = curl_easy_init()))
        return reg_error_set(REG_ERROR, "libcurl: cannot create a handle");
    err = health_request(curl, url, timeout, verify);
    curl_easy_cleanup(curl);
    return err;
}

int cli_health_main(int argc, char **argv)
{
    static const char *const bools[] = {"insecure", NULL};
    static const char *const valued[] = {"url", "timeout", NULL};
    cli_args a;
    char url[512];
    int rc = cli_parse(&a, argc, argv, bools, valued, health_usage);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    const char *timeout_text = cli_opt(&a, "timeout");
    char *end = NULL;
    long timeout = timeout_text ? strtol(timeout_text, &end, 10) : HEALTH_TIMEOUT_DEFAULT;
    if (a.npos > 0 || (end && *end) || timeout < 1 || timeout > HEALTH_TIMEOUT_MAX)
        return cli_usage_error(health_usage);
    const char *given = cli_opt(&a, "url");
    if (given)
        snprintf(url, sizeof(url), "%s", given);
    else if (url_from_settings(url, sizeof(url)) < 0) {
        fprintf(stderr, "ocireg health: %s\n", reg_error_last("invalid serve settings"));
        return 2;
    }
    if (health_get(url, timeout, given && !cli_opt(&a, "insecure")) < 0) {
        fprintf(stderr, "ocireg health: %s\n", reg_error_last("failed"));
        return 1;
    }
    return 0;
}
