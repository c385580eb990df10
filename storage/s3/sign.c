/* sign.c - SigV4 signatures the S3 client makes itself rather than through curl: presigned
 * URLs, and header authentication where curl 7.88 signs wrongly (see sign_request). */
#include "storage/s3/s3_internal.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The hex signature of a canonical request made at amz_date ("YYYYMMDDTHHMMSSZ"). */
int sign_canonical(char sig[65], const s3_client *c, const char *creq, const char *amz_date)
{
    sigv4_credential scope = {.service = "s3"};
    snprintf(scope.date, sizeof(scope.date), "%.8s", amz_date);
    snprintf(scope.region, sizeof(scope.region), "%s", c->cfg.region);
    return sigv4_sign_canonical(sig, creq, amz_date, &scope, c->cfg.secret_key);
}

void amz_date_of(char out[17], time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

typedef struct signed_header {
    char name[64]; /* lower case */
    const char *value;
} signed_header;

static int signed_header_cmp(const void *a, const void *b)
{
    return strcmp(((const signed_header *)a)->name, ((const signed_header *)b)->name);
}

/* The Authorization header line of header authentication, for the request with the given
 * extra header lines ("Name: value"), host and x-amz-date (which the caller sends) signed.
 * Used instead of curl's signing where curl 7.88 gets it wrong: it sorts whole "name:value"
 * lines, so x-amz-copy-source-range comes before x-amz-copy-source and every server refuses
 * the signature of an UploadPartCopy. */
int sign_request(buf *auth, const s3_client *c, const char *method, const char *path,
                 const char *query, const char *const *lines, size_t n, const char *payload_sha256,
                 const char *amz_date)
{
    signed_header h[SIGN_MAX_HEADERS + 2];
    char sig[65];
    buf creq, names;
    size_t k = 0;
    int err = REG_OK;
    if (n > SIGN_MAX_HEADERS)
        return REG_ETOOLARGE;
    snprintf(h[k].name, sizeof(h[k].name), "host");
    h[k++].value = c->host;
    snprintf(h[k].name, sizeof(h[k].name), "x-amz-date");
    h[k++].value = amz_date;
    for (size_t i = 0; i < n; i++, k++) {
        const char *colon = strchr(lines[i], ':');
        size_t len = colon ? (size_t)(colon - lines[i]) : 0;
        if (len == 0 || len >= sizeof(h[k].name))
            return REG_EINVALID;
        for (size_t j = 0; j < len; j++)
            h[k].name[j] =
                (char)(lines[i][j] >= 'A' && lines[i][j] <= 'Z' ? lines[i][j] + 32 : lines[i][j]);
        h[k].name[len] = '\0';
        h[k].value = colon + 1 + strspn(colon + 1, " ");
    }
    qsort(h, k, sizeof(h[0]), signed_header_cmp);
    buf_init(&creq, 65536);
    buf_init(&names, 1024);
    if (put_str(&creq, method) < 0 || buf_append(&creq, "\n", 1) < 0 || put_str(&creq, path) < 0 ||
        buf_append(&creq, "\n", 1) < 0 || put_str(&creq, query ? query : "") < 0 ||
        buf_append(&creq, "\n", 1) < 0)
        err = REG_ETOOLARGE;
    for (size_t i = 0; err == REG_OK && i < k; i++) {
        if (put_str(&creq, h[i].name) < 0 || buf_append(&creq, ":", 1) < 0 ||
            put_str(&creq, h[i].value) < 0 || buf_append(&creq, "\n", 1) < 0 ||
            (i > 0 && buf_append(&names, ";", 1) < 0) || put_str(&names, h[i].name) < 0)
            err = REG_ETOOLARGE;
    }
    if (err == REG_OK && (buf_append(&creq, "\n", 1) < 0 || put_str(&creq, names.data) < 0 ||
                          buf_append(&creq, "\n", 1) < 0 || put_str(&creq, payload_sha256) < 0))
        err = REG_ETOOLARGE;
    if (err == REG_OK)
        err = sign_canonical(sig, c, creq.data, amz_date);
    if (err == REG_OK) {
        char line[1024];
        snprintf(line, sizeof(line),
                 "Authorization: AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/s3/aws4_request, "
                 "SignedHeaders=%s, Signature=%s",
                 c->cfg.access_key, amz_date, c->cfg.region, names.data, sig);
        err = put_str(auth, line);
    }
    buf_free(&creq);
    buf_free(&names);
    return err;
}
