/* console_static.c - the console's compiled-in files (see console_static.h). */
#include "server/console/console_static.h"
#include "server/console/console_reply.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

const console_asset *console_asset_find(const char *name)
{
    if (!name[0])
        name = "index.html";
    for (size_t i = 0; i < console_asset_count; i++)
        if (!strcmp(console_assets[i].name, name))
            return &console_assets[i];
    return NULL;
}

/* One coding of an Accept-Encoding list: its name, and q=0 if it says so. */
static int coding_takes_gzip(const char *item, size_t len)
{
    while (len && (*item == ' ' || *item == '\t'))
        item++, len--;
    size_t name_len = strcspn(item, ";, \t");
    if (name_len > len)
        name_len = len;
    int named =
        (name_len == 4 && !strncasecmp(item, "gzip", 4)) || (name_len == 1 && item[0] == '*');
    if (!named)
        return 0;
    const char *q = memchr(item, '=', len);
    if (!q || q < item + name_len)
        return 1;
    return strtod(q + 1, NULL) > 0;
}

int console_accepts_gzip(const char *accept_encoding)
{
    for (const char *p = accept_encoding; p && *p;) {
        size_t len = strcspn(p, ",");
        if (coding_takes_gzip(p, len))
            return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

/* Whether If-None-Match names this representation's ETag (or is "*"). */
static int etag_matches(const char *if_none_match, const char *etag)
{
    if (!if_none_match)
        return 0;
    if (!strcmp(if_none_match, "*"))
        return 1;
    size_t n = strlen(etag);
    for (const char *p = strstr(if_none_match, etag); p; p = strstr(p + 1, etag))
        if (p > if_none_match && p[-1] == '"' && p[n] == '"')
            return 1;
    return 0;
}

void console_serve_asset(request *req, const char *name)
{
    const console_asset *a = strchr(name, '/') ? NULL : console_asset_find(name);
    const char *accept = request_header(req, MHD_HTTP_HEADER_ACCEPT);
    unsigned status = 200;
    if (!a && accept && strstr(accept, "text/html")) {
        a = console_asset_find(CONSOLE_NOT_FOUND_PAGE); /* a page, not JSON, for a browser */
        status = 404;
    }
    if (!a) {
        console_reply_error(req, 404, "no such page: %s", req->url);
        return;
    }
    int gz = a->gzip && console_accepts_gzip(request_header(req, MHD_HTTP_HEADER_ACCEPT_ENCODING));
    /* The gzip bytes are another representation: their own strong ETag. */
    const char *tag = arena_printf(&req->mem, "%s%s", a->etag, gz ? "-gz" : "");
    const char *etag = tag ? arena_printf(&req->mem, "\"%s\"", tag) : NULL;
    struct MHD_Response *r;
    if (status == 200 && etag &&
        etag_matches(request_header(req, MHD_HTTP_HEADER_IF_NONE_MATCH), tag)) {
        r = response_empty();
        status = 304;
    } else {
        r = MHD_create_response_from_buffer(
            gz ? a->gzip_len : a->len, (void *)(gz ? a->gzip : a->data), MHD_RESPMEM_PERSISTENT);
        req->bytes_out = gz ? a->gzip_len : a->len;
        response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
        if (gz)
            response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    }
    response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    console_send(req, status, r);
}
