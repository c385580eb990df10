/* text.c - the S3 client's bytes and text: payload digests, AWS's UriEncode onto a buffer, XML
 * escaping of what we send, and the strict number reader used on what S3 sends. */
#include "storage/s3/s3_internal.h"
#include "storage/base/digest.h"
#include "storage/base/reg_error.h"

#include <openssl/evp.h>
#include <string.h>

int sha256_hex(char out[65], const void *data, size_t len)
{
    digest d;
    if (digest_buffer(&d, DIGEST_SHA256, data, len) < 0)
        return REG_ERROR;
    memcpy(out, digest_hex(&d), 65);
    return REG_OK;
}

int md5_base64(char out[25], const void *data, size_t len)
{
    unsigned char md[16];
    unsigned int n = 0;
    if (EVP_Digest(data, len, md, &n, EVP_md5(), NULL) != 1 || n != 16)
        return REG_ERROR;
    return EVP_EncodeBlock((unsigned char *)out, md, 16) == 24 ? REG_OK : REG_ERROR;
}

/* AWS's UriEncode onto b, which is also S3's canonical form (S3 paths are not encoded twice). */
int put_encoded(buf *b, const char *s, size_t len, int keep_slash)
{
    enum { PIECE = 256 };
    char enc[3 * PIECE];
    for (size_t i = 0; i < len; i += PIECE) {
        size_t n = len - i < PIECE ? len - i : PIECE;
        int err = buf_append(b, enc, sigv4_uri_encode(enc, s + i, n, keep_slash));
        if (err < 0)
            return err;
    }
    return REG_OK;
}

int put_str(buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

/* Text that S3 keeps in an XML 1.0 document and a URL path: no control characters. */
int is_clean_text(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

/* Text content for an XML body we send. */
int put_xml_escaped(buf *b, const char *s)
{
    int err = REG_OK;
    for (; *s && err == REG_OK; s++) {
        switch (*s) {
        case '&':
            err = put_str(b, "&amp;");
            break;
        case '<':
            err = put_str(b, "&lt;");
            break;
        case '>':
            err = put_str(b, "&gt;");
            break;
        case '"':
            err = put_str(b, "&quot;");
            break;
        case '\'':
            err = put_str(b, "&apos;");
            break;
        default:
            err = buf_append(b, s, 1);
        }
    }
    return err;
}

/* Digits only, no sign, no overflow. */
int parse_u64(uint64_t *out, const char *s, size_t len)
{
    uint64_t v = 0;
    if (len == 0 || len > 20)
        return REG_EINVALID;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return REG_EINVALID;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return REG_EINVALID;
        v = v * 10 + d;
    }
    *out = v;
    return REG_OK;
}
