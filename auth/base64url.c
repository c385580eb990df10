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

unsigned char *base64_decode(const char *text, size_t text_len, size_t *out_len)
{
    size_t pad = (4 - text_len % 4) % 4;
    if (pad == 3 || text_len > (1u << 24))
        return NULL;
    char *norm = malloc(text_len + pad + 1);
    unsigned char *out = malloc((text_len + pad) / 4 * 3 + 1);
    if (!norm || !out)
        goto fail;
    for (size_t i = 0; i < text_len; i++) {
        char c = text[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '+' || c == '/' || (c == '=' && i >= text_len - 2)))
            goto fail;
        norm[i] = c;
    }
    memset(norm + text_len, '=', pad);
    norm[text_len + pad] = '\0';
    int n = EVP_DecodeBlock(out, (unsigned char *)norm, (int)(text_len + pad));
    if (n < 0)
        goto fail;
    /* EVP_DecodeBlock counts padding as zero bytes. */
    size_t total_pad = pad;
    for (size_t i = text_len; i > 0 && text[i - 1] == '='; i--)
        total_pad++;
    *out_len = (size_t)n - total_pad;
    free(norm);
    return out;
fail:
    free(norm);
    free(out);
    return NULL;
}
