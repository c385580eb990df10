/* base64url.c - base64 codecs over OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock (see base64url.h). */
#include "auth/base64url.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

char *base64_encode(const unsigned char *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

char *base64url_encode(const unsigned char *data, size_t len)
{
    char *out = base64_encode(data, len);
    if (!out)
        return NULL;
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '=')
        out[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    return out;
}

static int is_b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '-' || c == '_';
}

unsigned char *base64_decode(const char *text, size_t text_len, size_t *out_len)
{
    size_t data = text_len;
    while (data > 0 && text[data - 1] == '=' && text_len - data < 2)
        data--;
    size_t pad = text_len - data;
    /* '=' only at the very end, only to complete a quantum; 1 leftover char is never valid. */
    if (text_len > BASE64_TEXT_MAX || data % 4 == 1 || (pad && text_len % 4 != 0))
        return NULL;
    size_t quantum_pad = (4 - data % 4) % 4;
    char *norm = malloc(data + quantum_pad + 1);
    unsigned char *out = malloc((data + quantum_pad) / 4 * 3 + 1);
    if (!norm || !out)
        goto fail;
    for (size_t i = 0; i < data; i++) {
        char c = text[i];
        if (!is_b64_char(c))
            goto fail;
        norm[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    memset(norm + data, '=', quantum_pad);
    norm[data + quantum_pad] = '\0';
    if (EVP_DecodeBlock(out, (unsigned char *)norm, (int)(data + quantum_pad)) < 0)
        goto fail;
    *out_len = data * 3 / 4; /* EVP_DecodeBlock counts the padding as zero bytes */
    free(norm);
    return out;
fail:
    free(norm);
    free(out);
    return NULL;
}
