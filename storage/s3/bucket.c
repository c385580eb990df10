/* bucket.c - s3_bucket_ensure: the bucket is found, or created in the region it can be. */
#include "storage/s3/s3_internal.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bucket_head(s3_client *c, long *status)
{
    s3_req r = {.method = "HEAD", .timeout = TIMEOUT_SMALL};
    int err = request_run(c, &r);
    if (err < 0)
        return err;
    *status = r.status;
    if (r.status != 200 && r.status != 404)
        err = answer_error(c, &r);
    buf_free(&r.response);
    return err;
}

static int bucket_create(s3_client *c, int with_location, s3_error_doc *e, long *status)
{
    buf body;
    int err = REG_OK;
    buf_init(&body, 4096);
    if (with_location &&
        ((err = put_str(&body, "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/"
                               "2006-03-01/\"><LocationConstraint>")) < 0 ||
         (err = put_xml_escaped(&body, c->cfg.region)) < 0 ||
         (err = put_str(&body, "</LocationConstraint></CreateBucketConfiguration>")) < 0)) {
        buf_free(&body);
        return reg_error_set(REG_ERROR, "CreateBucket: out of memory");
    }
    s3_req r = {.method = "PUT", .body = body.data, .body_len = body.len, .timeout = TIMEOUT_SMALL};
    err = request_run(c, &r);
    buf_free(&body);
    if (err < 0)
        return err;
    *status = r.status;
    parse_error_doc(e, r.response.data, r.response.len);
    if (r.status != 200)
        answer_error(c, &r);
    buf_free(&r.response);
    return REG_OK;
}

int s3_bucket_ensure(s3_client *c)
{
    s3_error_doc e;
    long status = 0;
    int err;
    if ((err = bucket_head(c, &status)) < 0 || status == 200)
        return err;
    /* us-east-1 takes no LocationConstraint; elsewhere AWS needs one. RGW accepts only its
     * zonegroup's name there, which need not be the signing region: then go without. */
    int with_location = strcmp(c->cfg.region, "us-east-1") != 0;
    if ((err = bucket_create(c, with_location, &e, &status)) < 0)
        return err;
    if (status == 400 && with_location && !strcmp(e.code, "InvalidLocationConstraint") &&
        (err = bucket_create(c, 0, &e, &status)) < 0)
        return err;
    if (status == 200 || (status == 409 && !strcmp(e.code, "BucketAlreadyOwnedByYou")))
        return REG_OK;
    if (status == 409 && !strcmp(e.code, "BucketAlreadyExists")) {
        /* Someone else's, or ours created meanwhile by another process. */
        char why[REG_ERROR_MAX];
        snprintf(why, sizeof(why), "%s", reg_error_last(""));
        if (bucket_head(c, &status) == REG_OK && status == 200)
            return REG_OK;
        return reg_error_set(REG_ECONFLICT, "%s", why);
    }
    return REG_ERROR;
}
