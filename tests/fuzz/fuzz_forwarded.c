/* fuzz_forwarded.c - X-Forwarded-For as a hostile client sends it (server/http/forwarded.c).
 * Input: "<trusted proxies>\n<header value>\n<header value>...": up to 8 header values after the
 * trusted list. Checks: the answer is the peer's text or a canonical IP address, NUL-terminated
 * within the buffer, with the given trusted list and with none; every hop kept lies inside the
 * input. */
#include "fuzz_util.h"
#include "server/http/forwarded.h"

#include <arpa/inet.h>

#define VALUES_MAX 8
#define PEER       "192.0.2.1"

/* Whether text is an IP address as inet_ntop writes it. */
static int canonical(const char *text)
{
    unsigned char raw[16];
    char again[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET, text, raw) == 1)
        return inet_ntop(AF_INET, raw, again, sizeof(again)) && !strcmp(again, text);
    if (inet_pton(AF_INET6, text, raw) == 1)
        return inet_ntop(AF_INET6, raw, again, sizeof(again)) && !strcmp(again, text);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    char *lines[VALUES_MAX + 1];
    size_t n = fuzz_lines(lines, VALUES_MAX + 1, text);
    forwarded_hops h = {.count = 0};
    char out[INET6_ADDRSTRLEN] = PEER;

    for (size_t i = 1; i < n; i++)
        forwarded_add(&h, lines[i]);
    forwarded_client(out, sizeof(out), &h, lines[0]);
    FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL);
    FUZZ_CHECK(!strcmp(out, PEER) || canonical(out));
    for (size_t i = 0; i < h.count && i < CLIENT_FORWARDED_HOPS_MAX; i++)
        FUZZ_CHECK(h.at[i] >= text && h.len[i] > 0 && h.at[i] + h.len[i] <= text + size);

    /* an empty trusted list trusts nobody: the first (rightmost) hop is the answer at most */
    char alone[INET6_ADDRSTRLEN] = PEER;
    forwarded_client(alone, sizeof(alone), &h, "");
    FUZZ_CHECK(!strcmp(alone, PEER) || canonical(alone));
    free(text);
    return 0;
}
