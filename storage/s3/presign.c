/* presign.c - presigned GET URLs: SigV4 query authentication, made here because curl
 * only signs requests it sends. */
#include "storage/s3/s3_internal.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The presigned URL at time `now` (separate so that tests can pin the clock against AWS's
 * documented example). Only host is signed, and the payload is UNSIGNED-PAYLOAD. */
UNITTEST int presign_at(char **url_out, const s3_client *c, const char *key, int expires,
                        time_t now)
{
    char amz_date[17], sig[65], num[32];
    buf path, query, creq, url, cred;
    int err = REG_ERROR;
    buf_init(&path, S3_MAX_KEY * 3 + 128);
    buf_init(&query, S3_MAX_KEY * 3 + 1024);
    buf_init(&creq, S3_MAX_KEY * 6 + 4096);
    buf_init(&url, S3_MAX_KEY * 6 + 4096);
    buf_init(&cred, 1024);
    amz_date_of(amz_date, now);
    snprintf(num, sizeof(num), "%d", expires);
    /* The query in canonical (sorted) order is also the URL's own. */
    if (build_path(&path, c, key) < 0 || put_str(&cred, c->cfg.access_key) < 0 ||
        buf_append(&cred, "/", 1) < 0 || buf_append(&cred, amz_date, 8) < 0 ||
        buf_append(&cred, "/", 1) < 0 || put_str(&cred, c->cfg.region) < 0 ||
        put_str(&cred, "/s3/aws4_request") < 0 ||
        put_str(&query, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=") < 0 ||
        put_encoded(&query, cred.data, cred.len, 0) < 0 || put_str(&query, "&X-Amz-Date=") < 0 ||
        put_str(&query, amz_date) < 0 || put_str(&query, "&X-Amz-Expires=") < 0 ||
        put_str(&query, num) < 0 || put_str(&query, "&X-Amz-SignedHeaders=host") < 0)
        goto done;
    if (put_str(&creq, "GET\n") < 0 || put_str(&creq, path.data) < 0 ||
        buf_append(&creq, "\n", 1) < 0 || put_str(&creq, query.data) < 0 ||
        put_str(&creq, "\nhost:") < 0 || put_str(&creq, c->host) < 0 ||
        put_str(&creq, "\n\nhost\nUNSIGNED-PAYLOAD") < 0 ||
        sign_canonical(sig, c, creq.data, amz_date) < 0)
        goto done;
    if (build_url(&url, c, path.data, query.data) < 0 || put_str(&url, "&X-Amz-Signature=") < 0 ||
        put_str(&url, sig) < 0)
        goto done;
    *url_out = url.data;
    url.data = NULL;
    err = REG_OK;
done:
    if (err < 0)
        reg_error_set(err, "presign %s: failed", key);
    buf_free(&path);
    buf_free(&query);
    buf_free(&creq);
    free(url.data);
    buf_free(&cred);
    return err;
}

int s3_presign_get(char **url_out, s3_client *c, const char *key, int expires)
{
    int err;
    if ((err = check_key(c, key)) < 0)
        return err;
    if (expires < 1 || expires > S3_PRESIGN_MAX_EXPIRES)
        return reg_error_set(REG_EINVALID, "presign %s: expiry %d s out of 1..%d", key, expires,
                             S3_PRESIGN_MAX_EXPIRES);
    return presign_at(url_out, c, key, expires, time(NULL));
}
