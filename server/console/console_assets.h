/* console_assets.h - the web console's files, compiled into the binary from
 * server/console/assets/ by scripts/console_assets.py (the build's console_assets.c). */
#ifndef OCIREG_CONSOLE_ASSETS_H
#define OCIREG_CONSOLE_ASSETS_H

#include <stddef.h>

typedef struct console_asset {
    const char *name; /* served at /console/<name> */
    const char *content_type;
    const unsigned char *data;
    size_t len;
    const unsigned char *gzip; /* NULL when compressing did not make it smaller */
    size_t gzip_len;
    const char *etag; /* hex of the bytes' SHA-256 (a strong validator), unquoted */
} console_asset;

extern const console_asset console_assets[];
extern const size_t console_asset_count;

#endif
