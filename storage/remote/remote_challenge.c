/* remote_challenge.c - the WWW-Authenticate parser: several challenges, each a scheme with
 * parameters (tokens or quoted strings with escapes) or a token68; hostile input, bounded. */
#include "storage/remote/remote_internal.h"
#include "storage/base/reg_error.h"

#include <string.h>
#include <strings.h>

typedef struct cursor {
    const char *p, *end;
} cursor;

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void skip_space(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

static size_t take_token(cursor *c, const char **start)
{
    *start = c->p;
    while (c->p < c->end && is_tchar((unsigned char)*c->p))
        c->p++;
    return (size_t)(c->p - *start);
}

/* A quoted string after its opening quote, unescaped into out (size REMOTE_PARAM_MAX): 1, 0
 * when too long or holding a control byte (the value is unusable but the parse goes on), -1
 * when unterminated (nothing after it can be trusted). */
static int take_quoted(cursor *c, char *out)
{
    size_t n = 0;
    int ok = 1;
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch == '\\') {
            if (c->p >= c->end)
                return -1;
            ch = (unsigned char)*c->p++;
        }
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            ok = 0;
        if (n + 1 >= REMOTE_PARAM_MAX)
            ok = 0;
        else
            out[n++] = (char)ch;
    }
    if (c->p >= c->end)
        return -1;
    c->p++; /* the closing quote */
    out[n] = '\0';
    return ok;
}

/* One parameter's value into out: 1 usable, 0 not, -1 the input is broken. */
static int take_value(cursor *c, char *out)
{
    const char *v;
    skip_space(c);
    if (c->p < c->end && *c->p == '"') {
        c->p++;
        return take_quoted(c, out);
    }
    size_t n = take_token(c, &v);
    if (n == 0)
        return -1;
    if (n >= REMOTE_PARAM_MAX)
        return 0;
    memcpy(out, v, n);
    out[n] = '\0';
    return 1;
}

static char *param_slot(remote_challenge *ch, const char *name, size_t len)
{
    if (len == 5 && strncasecmp(name, "realm", 5) == 0)
        return ch->realm;
    if (len == 7 && strncasecmp(name, "service", 7) == 0)
        return ch->service;
    if (len == 5 && strncasecmp(name, "scope", 5) == 0)
        return ch->scope;
    return NULL;
}

/* The parameters after a scheme, up to the next scheme or the end: 1 parsed (*bad set when a
 * value was unusable or repeated), -1 broken input. */
static int take_params(cursor *c, remote_challenge *ch, int *bad)
{
    char scratch[REMOTE_PARAM_MAX];
    for (;;) {
        skip_space(c);
        while (c->p < c->end && (*c->p == ',' || *c->p == ' ' || *c->p == '\t'))
            c->p++;
        const char *mark = c->p, *name;
        size_t len = take_token(c, &name);
        if (len == 0)
            return c->p >= c->end ? 1 : -1;
        skip_space(c);
        if (c->p >= c->end || *c->p != '=') {
            c->p = mark; /* a new challenge's scheme */
            return 1;
        }
        c->p++;
        if (c->p >= c->end || *c->p == '=' || *c->p == ',') { /* a token68 ending in '=' */
            while (c->p < c->end && *c->p == '=')
                c->p++;
            continue;
        }
        char *slot = param_slot(ch, name, len);
        int rc = take_value(c, scratch);
        if (rc < 0)
            return -1;
        if (slot) {
            if (rc == 0 || slot[0])
                *bad = 1;
            else
                memcpy(slot, scratch, strlen(scratch) + 1);
        }
        skip_space(c);
        if (c->p < c->end && *c->p != ',')
            return -1;
    }
}

static int scheme_of(const char *name, size_t len)
{
    if (len == 6 && strncasecmp(name, "Bearer", 6) == 0)
        return REMOTE_AUTH_BEARER;
    if (len == 5 && strncasecmp(name, "Basic", 5) == 0)
        return REMOTE_AUTH_BASIC;
    return REMOTE_AUTH_NONE;
}

/* Keep `ch` in out when it is usable and better than what out holds. */
static void consider(remote_challenge *out, const remote_challenge *ch, int bad)
{
    if (bad || ch->scheme <= out->scheme)
        return;
    if (ch->scheme == REMOTE_AUTH_BEARER && !ch->realm[0])
        return;
    memcpy(out, ch, sizeof(*out));
}

int remote_challenge_parse(remote_challenge *out, const char *value, size_t len)
{
    remote_challenge ch;
    memset(out, 0, sizeof(*out));
    if (!value || len > REMOTE_CHALLENGE_MAX)
        return REG_EINVALID;
    cursor c = {value, value + len};
    for (;;) {
        const char *name;
        int bad = 0;
        while (c.p < c.end && (*c.p == ',' || *c.p == ' ' || *c.p == '\t'))
            c.p++;
        size_t n = take_token(&c, &name);
        if (n == 0)
            break;
        memset(&ch, 0, sizeof(ch));
        ch.scheme = scheme_of(name, n);
        if (c.p < c.end && *c.p != ' ' && *c.p != '\t' && *c.p != ',')
            break;
        int rc = take_params(&c, &ch, &bad);
        if (rc < 0)
            break;
        consider(out, &ch, bad);
    }
    return out->scheme != REMOTE_AUTH_NONE ? REG_OK : REG_EINVALID;
}
