/* webhook.h - events delivered to webhooks: EventBridge's "ECR Image Action" envelope around
 * an outbox entry's payload, POSTed as JSON through storage/remote with the event id and, when
 * the webhook has a secret, an HMAC-SHA256 signature of the body in headers. */
#ifndef OCIREG_WEBHOOK_H
#define OCIREG_WEBHOOK_H

#include "storage/index/index.h"
#include "storage/index/index_outbox.h"
#include "storage/index/index_webhooks.h"

#include <stddef.h>

#define WEBHOOK_TIMEOUT_MS_DEFAULT 10000 /* serve --webhook-timeout-ms: one POST in all */
#define WEBHOOK_CONNECT_TIMEOUT_MS 5000
#define WEBHOOK_SECRET_MAX         256                  /* bytes of a signing secret */
#define WEBHOOK_SIGNATURE_HEADER   "X-Ocireg-Signature" /* "sha256=" + hex of the HMAC */
#define WEBHOOK_EVENT_ID_HEADER    "X-Ocireg-Event-Id"

/* Opens a sealed text into out (cap bytes, NUL-terminated): auth/sealed's sealed_text_open,
 * handed down by serve and the CLI (the core cannot include auth). */
typedef int (*webhook_open_fn)(char *out, size_t cap, const unsigned char *master,
                               const unsigned char *box, size_t box_len);

/* What deliveries need besides the entry: the envelope's account and region, and the key
 * that opens the webhooks' sealed credentials and secrets. */
typedef struct webhook_sender {
    const char *registry_id;
    const char *region;
    const unsigned char *master_key;
    webhook_open_fn open;
    int timeout_ms; /* one POST (0: WEBHOOK_TIMEOUT_MS_DEFAULT) */
} webhook_sender;

/* The outbox delivery function of kind "webhook" (ctx: a webhook_sender). */
int webhook_deliver(void *ctx, index_db *ix, const outbox_entry *e);

/* POST the envelope of `payload` (events_payload) to webhook w. REG_OK on a 2xx answer (its
 * status in *status_out, 0 when there was no answer); else a negative code and the reason. */
int webhook_post(long *status_out, const webhook_sender *s, const webhook_row *w,
                 const char *repository, const char *payload);

/* The envelope's JSON text (malloc'd), for payload of repository. */
char *webhook_envelope(const webhook_sender *s, const char *repository, const char *payload);
/* "sha256=" + the hex HMAC-SHA256 of body under secret: out gets 7 + 64 + 1 bytes. */
int webhook_signature(char *out, const unsigned char *secret, size_t secret_len, const char *body,
                      size_t len);

#endif
