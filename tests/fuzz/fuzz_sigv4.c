/* fuzz_sigv4.c - AWS SigV4 (auth/sigv4.c): the Authorization header parser, and the canonical
 * request, signature, header checks and verification of a request built from the input.
 * Input lines:
 *   0  the Authorization header value
 *   1  method            2  path            3  query (empty line: none)
 *   4  X-Amz-Date        5  payload SHA-256 (empty line: the hash of an empty body)
 *   6+ headers as "name:value" (no colon: an empty value), at most 70 so the bound is hit */
#include "auth/sigv4_verify.h"
#include "fuzz_util.h"
#include "storage/base/reg_error.h"

#include <time.h>

#define MAX_LINES    (6 + 70)
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SECRET       "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

/* "YYYYMMDDTHHMMSSZ" -> seconds, for a `now` inside the signature's window; -1 when it does
 * not look like one (sigv4 itself decides what is valid). */
static time_t amz_time(const char *s)
{
    struct tm tm = {0};
    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return -1;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (s[i] < '0' || s[i] > '9'))
            return -1;
    tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0') - 1900;
    tm.tm_mon = (s[4] - '0') * 10 + (s[5] - '0') - 1;
    tm.tm_mday = (s[6] - '0') * 10 + (s[7] - '0');
    tm.tm_hour = (s[9] - '0') * 10 + (s[10] - '0');
    tm.tm_min = (s[11] - '0') * 10 + (s[12] - '0');
    tm.tm_sec = (s[13] - '0') * 10 + (s[14] - '0');
    return timegm(&tm);
}

static void check_credential(const sigv4_credential *c)
{
    FUZZ_CHECK(strlen(c->access_key) >= 1);
    FUZZ_CHECK(strlen(c->date) == 8);
    FUZZ_CHECK(strlen(c->region) >= 1 && strlen(c->service) >= 1);
    FUZZ_CHECK(strlen(c->signature) == 64);
    for (size_t i = 0; i < 64; i++)
        FUZZ_CHECK((c->signature[i] >= '0' && c->signature[i] <= '9') ||
                   (c->signature[i] >= 'a' && c->signature[i] <= 'f'));
    FUZZ_CHECK(strstr(c->signed_headers, "host") != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    char *lines[MAX_LINES];
    sigv4_header headers[MAX_LINES];
    sigv4_credential cred;
    char *creq = NULL, expected[65];
    size_t n = fuzz_lines(lines, MAX_LINES, text), nheaders = 0;

    memset(&cred, 0, sizeof(cred));
    int parsed = sigv4_parse_authorization(&cred, lines[0]);
    FUZZ_CHECK(parsed == REG_OK || parsed == REG_EINVALID);
    if (parsed == REG_OK)
        check_credential(&cred);
    if (n < 6)
        goto done;

    for (size_t i = 6; i < n; i++) {
        char *colon = strchr(lines[i], ':');
        if (colon)
            *colon = '\0';
        headers[nheaders].name = lines[i];
        headers[nheaders++].value = colon ? colon + 1 : "";
    }
    sigv4_request req = {.method = lines[1],
                         .path = lines[2],
                         .query = *lines[3] ? lines[3] : NULL,
                         .headers = headers,
                         .nheaders = nheaders,
                         .payload_sha256 = *lines[5] ? lines[5] : EMPTY_SHA256};
    /* Without a parsed credential, line 0 is taken as the SignedHeaders list itself. */
    const char *signed_headers = parsed == REG_OK ? cred.signed_headers : lines[0];
    int err = sigv4_canonical_request(&creq, &req, signed_headers);
    FUZZ_CHECK(err == REG_OK || err == REG_EINVALID || err == REG_ETOOLARGE);
    if (err == REG_OK) {
        FUZZ_CHECK(strlen(creq) <= SIGV4_MAX_CANONICAL);
        FUZZ_CHECK(!strncmp(creq, req.method, strlen(req.method)));
        free(creq);
    }
    if (parsed != REG_OK)
        goto done;

    /* The body-free checks: any verdict is OK or DENIED; one that passes saw every required
     * header and every x-amz-* header of the request named in SignedHeaders. */
    static const char *const required[] = {"host", "x-amz-date", "x-amz-target", NULL};
    time_t now = amz_time(lines[4]);
    err = sigv4_verify_headers(&cred, headers, nheaders, required, lines[4], now, 300);
    FUZZ_CHECK(err == REG_OK || err == REG_EDENIED);
    if (err == REG_OK)
        FUZZ_CHECK(strstr(cred.signed_headers, "x-amz-target") != NULL);

    err = sigv4_sign(expected, &req, &cred, lines[4], SECRET);
    time_t t = amz_time(lines[4]);
    if (err == REG_OK && t != -1 && !strncmp(lines[4], cred.date, 8)) {
        /* What we signed must verify, and any other signature must not. */
        FUZZ_CHECK(strlen(expected) == 64);
        int same = !strcmp(expected, cred.signature);
        FUZZ_CHECK((sigv4_verify(&req, &cred, lines[4], SECRET, t, 300) == REG_OK) == same);
        memcpy(cred.signature, expected, sizeof(expected));
        reg_error_clear();
        FUZZ_CHECK(sigv4_verify(&req, &cred, lines[4], SECRET, t, 300) == REG_OK);
        FUZZ_CHECK(reg_error_last(NULL) == NULL);
        FUZZ_CHECK(sigv4_verify(&req, &cred, lines[4], SECRET, t + 301, 300) == REG_EDENIED);
        FUZZ_CHECK(reg_error_last(NULL) != NULL);
    } else {
        reg_error_clear();
        err = sigv4_verify(&req, &cred, lines[4], SECRET, t == -1 ? 0 : t, 300);
        FUZZ_CHECK(err == REG_EDENIED && reg_error_last(NULL) != NULL);
    }
done:
    free(text);
    return 0;
}
