/* xml.c - the S3 client's reader of S3's XML answers, which are treated as hostile: elements
 * by name, their text unescaped within bounds, error documents and ListObjectsV2 pages. */
#include "storage/s3/s3_internal.h"
#include "storage/base/datetime.h"
#include "storage/base/digest.h"
#include "storage/base/reg_error.h"

#include <string.h>

/* The first element `name` in doc[0, len): <name>, <name attr="...">, or the empty <name/>.
 * Elements of one name do not nest in S3's answers, so the first closing tag ends it. 1 when
 * found, 0 when not (or when it is not closed). */
int xml_element(xml_span *out, const char *doc, size_t len, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = doc, *end = doc + len;
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt)
            return 0;
        p = lt + 1;
        if ((size_t)(end - p) < nlen + 1 || memcmp(p, name, nlen) != 0)
            continue;
        const char *q = p + nlen;
        if (*q != '>' && *q != '/' && *q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')
            continue;
        const char *gt = memchr(q, '>', (size_t)(end - q));
        if (!gt)
            return 0;
        if (gt[-1] == '/') {
            out->text = gt + 1;
            out->len = 0;
            out->end = gt + 1;
            return 1;
        }
        const char *text = gt + 1;
        for (const char *c = text; c < end;) {
            const char *close = memchr(c, '<', (size_t)(end - c));
            if (!close)
                return 0;
            c = close + 1;
            if ((size_t)(end - c) < nlen + 2 || c[0] != '/' || memcmp(c + 1, name, nlen) != 0)
                continue;
            const char *t = c + 1 + nlen;
            while (t < end && (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n'))
                t++;
            if (t == end || *t != '>')
                continue;
            out->text = text;
            out->len = (size_t)(close - text);
            out->end = t + 1;
            return 1;
        }
        return 0;
    }
    return 0;
}

static size_t utf8_encode(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* "&#13;" / "&#xD;" (the text after '&' up to ';'): a code point XML allows, but not NUL. */
static int char_reference(unsigned long *out, const char *s, size_t len)
{
    unsigned long cp = 0;
    int hex = len > 1 && s[1] == 'x';
    size_t i = hex ? 2 : 1;
    if (len <= i || len > i + 6)
        return REG_EINVALID;
    for (; i < len; i++) {
        int d = hex ? hex_value(s[i]) : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
        if (d < 0)
            return REG_EINVALID;
        cp = cp * (hex ? 16 : 10) + (unsigned long)d;
    }
    if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return REG_EINVALID;
    *out = cp;
    return REG_OK;
}

/* Unescape element text into out (NUL-terminated, at most cap - 1 bytes): the five named
 * entities and character references. REG_EINVALID for markup, an unknown or broken entity or
 * a NUL; REG_ETOOLARGE when it does not fit. */
int xml_text(char *out, size_t cap, const char *s, size_t len)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    size_t n = 0;
    if (cap == 0)
        return REG_ETOOLARGE;
    for (size_t i = 0; i < len; i++) {
        char one[4];
        size_t olen = 1;
        one[0] = s[i];
        if (s[i] == '<' || s[i] == '\0')
            return REG_EINVALID;
        if (s[i] == '&') {
            const char *semi = memchr(s + i + 1, ';', len - i - 1 < 12 ? len - i - 1 : 12);
            if (!semi)
                return REG_EINVALID;
            const char *ent = s + i + 1;
            size_t elen = (size_t)(semi - ent);
            size_t k = 0, count = sizeof(named) / sizeof(named[0]);
            while (k < count &&
                   !(strlen(named[k].name) == elen && !memcmp(ent, named[k].name, elen)))
                k++;
            if (k < count) {
                one[0] = named[k].c;
            } else {
                unsigned long cp;
                if (elen == 0 || ent[0] != '#' || char_reference(&cp, ent, elen) < 0)
                    return REG_EINVALID;
                olen = utf8_encode(one, cp);
            }
            i += elen + 1;
        }
        if (olen > cap - 1 - n)
            return REG_ETOOLARGE;
        memcpy(out + n, one, olen);
        n += olen;
    }
    out[n] = '\0';
    return REG_OK;
}

/* Element `name` of doc as unescaped text; "" when absent. */
int xml_field(char *out, size_t cap, const char *doc, size_t len, const char *name)
{
    xml_span sp;
    if (!xml_element(&sp, doc, len, name)) {
        if (cap > 0)
            out[0] = '\0';
        return cap > 0 ? REG_OK : REG_ETOOLARGE;
    }
    return xml_text(out, cap, sp.text, sp.len);
}

void parse_error_doc(s3_error_doc *out, const char *doc, size_t len)
{
    xml_span err;
    out->code[0] = out->message[0] = '\0';
    if (!doc || !xml_element(&err, doc, len, "Error"))
        return;
    if (xml_field(out->code, sizeof(out->code), err.text, err.len, "Code") < 0)
        out->code[0] = '\0';
    if (xml_field(out->message, sizeof(out->message), err.text, err.len, "Message") < 0)
        out->message[0] = '\0';
}

int list_page_parse(list_page *pg, const char *doc, size_t len)
{
    char key[S3_MAX_KEY + 1], num[32], flag[8];
    size_t strip_len = strlen(pg->strip);
    xml_span sp, root;
    pg->keys = 0;
    pg->stopped = 0;
    pg->truncated = 0;
    pg->next_token[0] = '\0';
    if (!xml_element(&root, doc, len, "ListBucketResult"))
        return reg_error_set(REG_ERROR, "ListObjectsV2: answer is not a ListBucketResult");
    for (const char *p = root.text, *end = root.text + root.len;
         xml_element(&sp, p, (size_t)(end - p), "Contents"); p = sp.end) {
        uint64_t size;
        int64_t mtime = -1;
        xml_span f;
        if (!xml_element(&f, sp.text, sp.len, "Key") ||
            xml_text(key, sizeof(key), f.text, f.len) < 0 ||
            strncmp(key, pg->strip, strip_len) != 0)
            return reg_error_set(REG_ERROR, "ListObjectsV2: malformed or foreign <Key>");
        if (!xml_element(&f, sp.text, sp.len, "Size") ||
            xml_text(num, sizeof(num), f.text, f.len) < 0 || parse_u64(&size, num, strlen(num)) < 0)
            return reg_error_set(REG_ERROR, "ListObjectsV2: malformed <Size> of %s", key);
        if (xml_element(&f, sp.text, sp.len, "LastModified") &&
            (xml_text(num, sizeof(num), f.text, f.len) < 0 ||
             datetime_parse(&mtime, num, strlen(num)) < 0))
            mtime = -1;
        if (strcmp(key, pg->last_key) <= 0)
            return reg_error_set(REG_ERROR, "ListObjectsV2: keys out of order at %s", key);
        memcpy(pg->last_key, key, strlen(key) + 1);
        pg->keys++;
        if (key[strip_len] == '\0')
            continue; /* the prefix itself, say a console's "folder" marker: not one of ours */
        int rc = pg->cb(pg->ctx, key + strip_len, size, mtime);
        if (rc != 0) {
            pg->stopped = rc;
            return REG_OK;
        }
    }
    if (xml_field(flag, sizeof(flag), root.text, root.len, "IsTruncated") < 0)
        return reg_error_set(REG_ERROR, "ListObjectsV2: malformed <IsTruncated>");
    pg->truncated = strcmp(flag, "true") == 0;
    if (!pg->truncated)
        return REG_OK;
    if (xml_field(pg->next_token, sizeof(pg->next_token), root.text, root.len,
                  "NextContinuationToken") < 0 ||
        pg->next_token[0] == '\0')
        return reg_error_set(
            REG_ERROR, "ListObjectsV2: truncated page without a usable <NextContinuationToken>");
    return REG_OK;
}
