/* fuzz_base64.c - base64 decoding of client text (auth/base64url.c), and both encoders
 * round-tripping through the decoder. */
#include "auth/base64url.h"
#include "fuzz_util.h"

static void check_roundtrip(const uint8_t *data, size_t size, char *encoded)
{
    size_t n = 0;
    FUZZ_CHECK(encoded != NULL);
    unsigned char *back = base64_decode(encoded, strlen(encoded), &n);
    FUZZ_CHECK(back != NULL);
    FUZZ_CHECK(n == size);
    FUZZ_CHECK(size == 0 || memcmp(back, data, size) == 0);
    free(back);
    free(encoded);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = 0;
    /* Exactly `size` bytes on the heap: base64_decode takes a length, not a C string. */
    char *text = malloc(size ? size : 1);
    if (!text)
        abort();
    memcpy(text, data, size);

    unsigned char *raw = base64_decode(text, size, &n);
    if (raw) {
        /* Accepted text is base64: every 4 symbols (padding aside) carry 3 bytes. */
        size_t symbols = 0;
        for (size_t i = 0; i < size; i++)
            symbols += text[i] != '=';
        FUZZ_CHECK(n <= size / 4 * 3 + 2);
        FUZZ_CHECK(n == symbols * 3 / 4);
        /* Whatever decoded must re-encode to text that decodes to the same bytes. */
        check_roundtrip(raw, n, base64_encode(raw, n));
        free(raw);
    }
    check_roundtrip(data, size, base64_encode(data, size));
    check_roundtrip(data, size, base64url_encode(data, size));
    free(text);
    return 0;
}
