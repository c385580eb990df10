/* webhook.c - webhook deliveries (see webhook.h). */
#include "storage/webhook.h"
#include "storage/outbox.h"
#include "storage/remote/remote.h"
#include "storage/base/digest.h"
#include "storage/base/reg_error.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPENED_MAX 1024 /* a sealed credentials or secret value, opened */

char *webhook_envelope(const webhook_sender *s, const char *repository, const char *payload)
{
    json_error_t jerr;
    json_t *p = json_loads(payload, 0, &jerr), *detail = NULL;
    const char *id = NULL, *when = NULL, *type = NULL;
    char *text = NULL, arn[512];
    if (!p || json_unpack_ex(p, &jerr, 0, "{s:s, s:s, s:s, s:o}", "id", &id, "time", &when,
                             "detail-type", &type, "detail", &detail) < 0) {
        json_decref(p);
        return NULL;
    }
    snprintf(arn, sizeof(arn), "arn:aws:ecr:%s:%s:repository/%s", s->region, s->registry_id,
             repository);
    json_t *env = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:O}", "version", "0", "id",
                            id, "detail-type", type, "source", "aws.ecr", "account", s->registry_id,
                            "time", when, "region", s->region, "resources", arn, "detail", detail);
    if (env)
        text = json_dumps(env, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(env);
    json_decref(p);
    return text;
}

int webhook_signature(char *out, const unsigned char *secret, size_t secret_len, const char *body,
                      size_t len)
{
    unsigned char mac[32];
    if (hmac_sha256(mac, secret, secret_len, body, len) < 0)
        return reg_error_wrap(REG_ERROR, "cannot compute the signature");
    memcpy(out, "sha256=", 7);
    hex_encode(out + 7, mac, sizeof(mac));
    return REG_OK;
}

/* A sealed value opened into out (OPENED_MAX + 1 bytes); *len_out 0 when there is none. */
static int open_sealed(char *out, size_t *len_out, const webhook_sender *s,
                       const unsigned char *box, size_t len)
{
    *len_out = 0;
    out[0] = '\0';
    if (!box || !len)
        return REG_OK;
    if (s->open(out, OPENED_MAX + 1, s->master_key, box, len) < 0)
        return reg_error_wrap(REG_EDENIED, "cannot open the webhook's sealed credentials");
    *len_out = strlen(out);
    return REG_OK;
}

/* Any response body is read and dropped: only the status counts. */
static int discard(void *ctx, const void *data, size_t n)
{
    return 0;
}

static int send_envelope(long *status_out, const webhook_sender *s, const webhook_row *w,
                         const char *body, const char *event_id)
{
    char creds[OPENED_MAX + 1], secret[OPENED_MAX + 1], sig[7 + 64 + 1] = "";
    char id_header[128], sig_header[sizeof(sig) + 32];
    size_t creds_len = 0, secret_len = 0;
    int timeout = s->timeout_ms > 0 ? s->timeout_ms : WEBHOOK_TIMEOUT_MS_DEFAULT;
    remote *r = NULL;
    remote_response resp = {0};
    int err = open_sealed(creds, &creds_len, s, w->credentials, w->credentials_len);
    if (err == REG_OK)
        err = open_sealed(secret, &secret_len, s, w->secret, w->secret_len);
    if (err == REG_OK && secret_len)
        err = webhook_signature(sig, (unsigned char *)secret, secret_len, body, strlen(body));
    /* Receivers expect the URL's credentials at once, not after a challenge. */
    char auth_header[sizeof("Authorization: Basic ") + 4 * (OPENED_MAX / 3 + 1) + 1];
    memcpy(auth_header, "Authorization: Basic ", 21);
    EVP_EncodeBlock((unsigned char *)auth_header + 21, (unsigned char *)creds, (int)creds_len);
    remote_endpoint ep = {.url = w->url,
                          .connect_timeout_ms = WEBHOOK_CONNECT_TIMEOUT_MS,
                          .stall_timeout_ms = timeout,
                          .total_timeout_ms = timeout};
    snprintf(id_header, sizeof(id_header), WEBHOOK_EVENT_ID_HEADER ": %s", event_id);
    snprintf(sig_header, sizeof(sig_header), WEBHOOK_SIGNATURE_HEADER ": %s", sig);
    const char *headers[8] = {"Content-Type: application/json",
                              "User-Agent: ocireg/" OCIREG_VERSION,
                              "Expect:", /* no 100-continue round trip for a small body */
                              id_header};
    int nheaders = 4;
    if (creds_len)
        headers[nheaders++] = auth_header;
    if (secret_len)
        headers[nheaders++] = sig_header;
    remote_request req = {.method = "POST",
                          .path = w->url,
                          .headers = headers,
                          .body = body,
                          .body_len = strlen(body),
                          .on_data = discard};
    *status_out = 0;
    if (err == REG_OK && (err = remote_open(&r, &ep)) == REG_OK &&
        (err = remote_send(&resp, r, &req)) == REG_OK) {
        *status_out = resp.status;
        if (resp.status < 200 || resp.status > 299)
            err = reg_error_set(REG_ERROR, "the webhook answered HTTP %ld", resp.status);
    }
    remote_response_free(&resp);
    remote_close(r);
    OPENSSL_cleanse(creds, sizeof(creds));
    OPENSSL_cleanse(auth_header, sizeof(auth_header));
    OPENSSL_cleanse(secret, sizeof(secret));
    return err;
}

int webhook_post(long *status_out, const webhook_sender *s, const webhook_row *w,
                 const char *repository, const char *payload)
{
    json_t *p = json_loads(payload, 0, NULL);
    const char *id = p ? json_string_value(json_object_get(p, "id")) : NULL;
    char *body = webhook_envelope(s, repository, payload);
    int err = body && id ? send_envelope(status_out, s, w, body, id)
                         : reg_error_set(REG_EINVALID, "the event's payload is not valid");
    free(body);
    json_decref(p);
    return err;
}

int webhook_deliver(void *ctx, index_db *ix, const outbox_entry *e)
{
    webhook_row w;
    long status = 0;
    int err = index_webhook_get(&w, ix, e->target);
    if (err == REG_ENOTFOUND)
        return reg_error_set(OUTBOX_PARK, "webhook %s is gone", e->target);
    if (err < 0)
        return err;
    err = webhook_post(&status, ctx, &w, e->repository, e->payload);
    index_webhook_row_clear(&w);
    return err;
}
