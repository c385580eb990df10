/* events.h - the registry's events (an image pushed, deleted, replicated, filled through the
 * pull-through cache) queued in the outbox inside the transaction of the change they describe. */
#ifndef OCIREG_EVENTS_H
#define OCIREG_EVENTS_H

#include "storage/index/index.h"

#include <stddef.h>

/* Event types, as bits of a webhook's wanted events. */
enum {
    EVENT_PUSH = 1,
    EVENT_DELETE = 2,
    EVENT_REPLICATION = 4,
    EVENT_PULL_THROUGH = 8,
};
#define EVENT_ALL (EVENT_PUSH | EVENT_DELETE | EVENT_REPLICATION | EVENT_PULL_THROUGH)

typedef struct event {
    unsigned type; /* one EVENT_* */
    const char *repository;
    const char *digest;       /* NULL: none */
    const char *tag;          /* NULL: none */
    const char *result;       /* NULL: "SUCCESS" */
    const char *action;       /* NULL: by type (PUSH, DELETE, REPLICATE, PULL_THROUGH_CACHE) */
    const char *detail_type;  /* NULL: "ECR Image Action" */
    const char *dest_region;  /* a replication's destination: detail "destination-region" */
    const char *dest_account; /* and its registryId: "destination-account" (NULL: neither) */
} event;

/* Inside a write transaction: one outbox entry for every webhook that wants `ev` (nothing,
 * not even the event's text, when none does). *queued_out (may be NULL) grows by the count;
 * call outbox_wake() after the commit when it is not 0. */
int events_queue(int *queued_out, index_db *ix, const event *ev);

/* The payload stored for ev: {"id" (a new UUID, the same on every delivery), "time",
 * "detail-type", "detail"}; malloc'd JSON text, or NULL. */
char *events_payload(const event *ev);

/* "push,delete,replication,pull-through" -> EVENT_* bits; REG_EINVALID for an unknown word. */
int events_parse_types(unsigned *out, const char *list);
/* The bits as that list. */
void events_format_types(char *out, size_t n, unsigned bits);

#endif
