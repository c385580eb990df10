/* reference.c - repository name, tag and manifest reference grammar (see reference.h). */
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"

#include <string.h>

static int is_alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: alnum runs joined by ".", "_", "__" or one or more "-". */
static int check_component(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (!is_alnum_lower(s[i]))
            return REG_EINVALID;
        while (i < n && is_alnum_lower(s[i]))
            i++;
        if (i == n)
            return REG_OK;
        size_t sep = i;
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i++;
            if (i < n && s[i] == '_')
                i++;
        } else if (s[i] == '-') {
            while (i < n && s[i] == '-')
                i++;
        } else {
            return REG_EINVALID;
        }
        if (i == n || i == sep)
            return REG_EINVALID;
    }
    return n ? REG_OK : REG_EINVALID;
}

int reference_check_name(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > REPO_NAME_MAX)
        return REG_EINVALID;
    const char *p = name;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (check_component(p, n) < 0)
            return REG_EINVALID;
        if (!slash)
            return REG_OK;
        p = slash + 1;
    }
}

int reference_check_tag(const char *tag)
{
    size_t len = tag ? strlen(tag) : 0;
    if (len == 0 || len > TAG_MAX)
        return REG_EINVALID;
    for (size_t i = 0; i < len; i++) {
        char c = tag[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || (i > 0 && (c == '.' || c == '-'));
        if (!ok)
            return REG_EINVALID;
    }
    return REG_OK;
}

int reference_parse(reference *out, const char *text)
{
    memset(out, 0, sizeof(*out));
    if (text && strchr(text, ':')) {
        out->is_digest = 1;
        return digest_parse(&out->dg, text);
    }
    if (reference_check_tag(text) < 0)
        return REG_EINVALID;
    out->tag = text;
    return REG_OK;
}
