/* scope.c - action sets and scope strings (see scope.h). */
#include "auth/scope.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    unsigned bit;
} action_names[] = {
    {"pull", ACTION_PULL},
    {"push", ACTION_PUSH},
    {"delete", ACTION_DELETE},
    {"admin", ACTION_ADMIN},
    {"pull-through", ACTION_PULL_THROUGH},
};
#define ACTION_COUNT (sizeof(action_names) / sizeof(action_names[0]))

static unsigned action_bit(const char *s, size_t n)
{
    if (n == 1 && s[0] == '*')
        return ACTION_ALL;
    for (size_t i = 0; i < ACTION_COUNT; i++)
        if (strlen(action_names[i].name) == n && memcmp(action_names[i].name, s, n) == 0)
            return action_names[i].bit;
    return 0;
}

/* Parse the comma list; *unknown_out counts names that are not actions. */
static unsigned parse_list(const char *text, int *unknown_out)
{
    unsigned bits = 0;
    *unknown_out = 0;
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, ",");
        unsigned bit = action_bit(p, n);
        if (!bit)
            (*unknown_out)++;
        bits |= bit;
        p += n;
        if (*p == ',')
            p++;
    }
    return bits;
}

int actions_parse(unsigned *out, const char *text)
{
    int unknown;
    unsigned bits = parse_list(text, &unknown);
    if (unknown || !bits)
        return REG_EINVALID;
    *out = bits;
    return REG_OK;
}

void actions_format(char *out, size_t n, unsigned actions)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ACTION_COUNT; i++) {
        if (!(actions & action_names[i].bit))
            continue;
        len += (size_t)snprintf(out + len, len < n ? n - len : 0, "%s%s", len ? "," : "",
                                action_names[i].name);
    }
}

int scope_parse(scope *out, const char *text)
{
    const char *first = strchr(text, ':');
    const char *last = strrchr(text, ':');
    int unknown;
    if (!first || first == last)
        return REG_EINVALID;
    size_t type_len = (size_t)(first - text);
    size_t name_len = (size_t)(last - first - 1);
    if (type_len == 0 || type_len >= SCOPE_TYPE_MAX || name_len == 0 || name_len >= SCOPE_NAME_MAX)
        return REG_EINVALID;
    memcpy(out->type, text, type_len);
    out->type[type_len] = '\0';
    memcpy(out->name, first + 1, name_len);
    out->name[name_len] = '\0';
    out->actions = parse_list(last + 1, &unknown);
    if (!strcmp(out->type, "repository"))
        return reference_check_name(out->name) == REG_OK ? REG_OK : REG_EINVALID;
    if (!strcmp(out->type, "registry") &&
        (!strcmp(out->name, "catalog") || !strcmp(out->name, "admin")))
        return REG_OK;
    return REG_EINVALID;
}
