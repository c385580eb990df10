/* index_webhooks.h - the webhooks events are POSTed to: name, URL (without userinfo), the
 * events and repository prefix they want, credentials and signing secret sealed elsewhere
 * (auth/secretbox) and kept here as opaque bytes. */
#ifndef OCIREG_INDEX_WEBHOOKS_H
#define OCIREG_INDEX_WEBHOOKS_H

#include "storage/index/index.h"

#include <stddef.h>
#include <stdint.h>

typedef struct webhook_row {
    char *name;
    char *url;
    unsigned events;            /* WEBHOOK_EVENT_* bits (storage/webhook.h) */
    char *repo_prefix;          /* "" matches every repository */
    unsigned char *credentials; /* sealed "user:password", or NULL */
    size_t credentials_len;
    unsigned char *secret; /* sealed signing secret, or NULL */
    size_t secret_len;
    int64_t created_at;
} webhook_row;
void index_webhook_row_clear(webhook_row *w);

/* REG_ECONFLICT when a webhook of that name exists. */
int index_webhook_add(index_db *ix, const webhook_row *w);
/* REG_ENOTFOUND when there is none of that name. */
int index_webhook_get(webhook_row *out, index_db *ix, const char *name);
/* Every webhook, by name; the row is the callback's for the call only. */
typedef int (*webhook_row_cb)(void *ctx, const webhook_row *w);
int index_webhook_each(index_db *ix, webhook_row_cb cb, void *ctx);
/* Whether some webhook wants events of `event_bit` from `repo`: 1 or 0, or an error. */
int index_webhook_wanted(index_db *ix, unsigned event_bit, const char *repo);
/* Inside a write transaction: the webhook and its outbox entries go. REG_ENOTFOUND if none. */
int index_webhook_delete(index_db *ix, const char *name);

#endif
