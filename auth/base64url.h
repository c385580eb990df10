/* base64url.h - base64 (standard and URL-safe, unpadded) encoding and decoding via OpenSSL. */
#ifndef OCIREG_BASE64URL_H
#define OCIREG_BASE64URL_H

#include <stddef.h>

/* Encode into a malloc'd NUL-terminated string (caller frees); NULL on failure. */
char *base64url_encode(const unsigned char *data, size_t len);
char *base64_encode(const unsigned char *data, size_t len);
/* Longest text base64_decode takes: an ECR layer part (20 MiB) in base64 fits. */
#define BASE64_TEXT_MAX (32u << 20)

/* Decode URL-safe or standard base64, padded or not, into a malloc'd buffer (caller frees).
 * NULL when the text is not base64 or longer than BASE64_TEXT_MAX. */
unsigned char *base64_decode(const char *text, size_t text_len, size_t *out_len);

#endif
