/* events.c - events queued in the outbox (see events.h). */
#include "storage/events.h"
#include "storage/index/index_outbox.h"
#include "storage/index/index_webhooks.h"
#include "storage/base/random.h"
#include "storage/base/reg_error.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
    unsigned bit;
    const char *word;   /* in --events */
    const char *action; /* the detail's action-type */
} types[] = {
    {EVENT_PUSH, "push", "PUSH"},
    {EVENT_DELETE, "delete", "DELETE"},
    {EVENT_REPLICATION, "replication", "REPLICATE"},
    {EVENT_PULL_THROUGH, "pull-through", "PULL_THROUGH_CACHE"},
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

static const char *action_of(const event *ev)
{
    if (ev->action)
        return ev->action;
    for (size_t i = 0; i < NTYPES; i++)
        if (types[i].bit == ev->type)
            return types[i].action;
    return "PUSH";
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *events_payload(const event *ev)
{
    char id[RANDOM_UUID_LEN + 1], when[32];
    struct tm tm;
    time_t now = time(NULL);
    if (random_uuid(id) < 0)
        return NULL;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *detail = json_pack("{s:s, s:s, s:s}", "result", ev->result ? ev->result : "SUCCESS",
                               "repository-name", ev->repository, "action-type", action_of(ev));
    if (detail && ev->digest)
        json_object_set_new(detail, "image-digest", json_string(ev->digest));
    if (detail && ev->tag)
        json_object_set_new(detail, "image-tag", json_string(ev->tag));
    if (detail && ev->dest_region && ev->dest_account) {
        json_object_set_new(detail, "destination-region", json_string(ev->dest_region));
        json_object_set_new(detail, "destination-account", json_string(ev->dest_account));
    }
    json_t *p =
        detail ? json_pack("{s:s, s:s, s:s, s:o}", "id", id, "time", when, "detail-type",
                           ev->detail_type ? ev->detail_type : "ECR Image Action", "detail", detail)
               : NULL;
    char *text = p ? json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(p);
    return text;
}

int events_queue(int *queued_out, index_db *ix, const event *ev)
{
    int queued = 0, wanted = index_webhook_wanted(ix, ev->type, ev->repository);
    if (wanted <= 0)
        return wanted;
    char *payload = events_payload(ev);
    if (!payload)
        return reg_error_set(REG_ERROR, "out of memory building an event");
    int err = index_outbox_queue_webhooks(&queued, ix, ev->type, ev->repository, payload, now_ms());
    free(payload);
    if (err == REG_OK && queued_out)
        *queued_out += queued;
    return err;
}

int events_parse_types(unsigned *out, const char *list)
{
    *out = 0;
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        size_t i = 0;
        while (i < NTYPES && (strlen(types[i].word) != n || strncmp(types[i].word, p, n)))
            i++;
        if (i == NTYPES)
            return reg_error_set(REG_EINVALID,
                                 "unknown event \"%.*s\" (push, delete, replication, pull-through)",
                                 (int)n, p);
        *out |= types[i].bit;
        p += n + (p[n] == ',');
    }
    return *out ? REG_OK : reg_error_set(REG_EINVALID, "no events named");
}

void events_format_types(char *out, size_t n, unsigned bits)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < NTYPES; i++)
        if ((bits & types[i].bit) && used < n)
            used += (size_t)snprintf(out + used, n - used, "%s%s", used ? "," : "", types[i].word);
}
