/* remote_url.c - the URLs the client handles: Location values resolved against the request,
 * origins compared (credentials stay on theirs), query values encoded, URLs shown in errors. */
#include "storage/remote/remote_internal.h"
#include "storage/base/reg_error.h"
#include "storage/base/sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int remote_url_is_http(const char *url)
{
    return url && (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
}

char *remote_url_resolve(const char *base, const char *ref)
{
    char *got = NULL, *out = NULL;
    CURLU *u;
    if (!remote_url_is_http(base) || !ref || !(u = curl_url()))
        return NULL;
    if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &got, 0) == CURLUE_OK && remote_url_is_http(got))
        out = strdup(got);
    curl_free(got);
    curl_url_cleanup(u);
    return out;
}

/* "scheme://host:port" of a URL, the port always written. */
static int origin_of(char *out, size_t size, const char *url)
{
    char *scheme = NULL, *host = NULL, *port = NULL;
    int ok = 0;
    CURLU *u = curl_url();
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        ok = snprintf(out, size, "%s://%s:%s", scheme, host, port) < (int)size;
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    if (u)
        curl_url_cleanup(u);
    return ok;
}

int remote_url_same_origin(const char *a, const char *b)
{
    char oa[512], ob[512];
    return origin_of(oa, sizeof(oa), a) && origin_of(ob, sizeof(ob), b) && strcasecmp(oa, ob) == 0;
}

void remote_url_for_error(char *out, size_t size, const char *url)
{
    size_t n = strcspn(url, "?#");
    snprintf(out, size, "%.*s%s", (int)(n > 200 ? 200 : n), url, n > 200 ? "..." : "");
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
            *p = '?';
}

int remote_url_encode(buf *b, const char *s)
{
    char enc[3 * 64];
    for (size_t len = strlen(s), i = 0; i < len; i += 64) {
        size_t k = len - i < 64 ? len - i : 64;
        int err = buf_append(b, enc, sigv4_uri_encode(enc, s + i, k, 0));
        if (err < 0)
            return err;
    }
    return REG_OK;
}
