/* ocilayout.c - entry names of an OCI image layout (see ocilayout.h). */
#include "storage/archive/ocilayout.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <string.h>

void layout_blob_name(char *out, size_t n, const digest *d)
{
    snprintf(out, n, "blobs/%s/%s", digest_alg_name(d->alg), digest_hex(d));
}

static void normalize(char *out, size_t n, const char *name)
{
    if (strncmp(name, "./", 2) == 0)
        name += 2;
    snprintf(out, n, "%s", name);
    size_t len = strlen(out);
    if (len > 0 && out[len - 1] == '/')
        out[len - 1] = '\0';
}

layout_kind layout_classify(digest *dg_out, char *norm_out, size_t n, const char *name)
{
    char text[DIGEST_MAX + 8];
    normalize(norm_out, n, name);
    const char *p = norm_out;
    if (!strcmp(p, "") || !strcmp(p, ".") || !strcmp(p, "blobs") || !strcmp(p, "blobs/sha256") ||
        !strcmp(p, "blobs/sha512"))
        return LAYOUT_DIR;
    if (!strcmp(p, LAYOUT_FILE))
        return LAYOUT_MARKER;
    if (!strcmp(p, LAYOUT_INDEX))
        return LAYOUT_INDEX_JSON;
    if (strncmp(p, "blobs/", 6) != 0)
        return LAYOUT_OTHER;
    const char *slash = strchr(p + 6, '/');
    if (!slash || strlen(p + 6) >= sizeof(text))
        return LAYOUT_OTHER;
    snprintf(text, sizeof(text), "%.*s:%s", (int)(slash - (p + 6)), p + 6, slash + 1);
    return digest_parse(dg_out, text) == REG_OK ? LAYOUT_BLOB : LAYOUT_OTHER;
}
