/* cache_rules.c - validation of pull-through cache rules and upstream names (see
 * cache_rules.h). */
#include "storage/cache_rules.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"

#include <stdio.h>
#include <string.h>

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int cache_prefix_check(const char *prefix)
{
    size_t n = strlen(prefix);
    int ok = n >= 2 && n <= CACHE_PREFIX_MAX && is_lower_alnum(prefix[0]) &&
             is_lower_alnum(prefix[n - 1]);
    for (size_t i = 1; ok && i < n; i++)
        ok = is_lower_alnum(prefix[i]) ||
             (strchr("._-", prefix[i]) && is_lower_alnum(prefix[i - 1]));
    if (!ok)
        return reg_error_set(REG_EINVALID,
                             "invalid repository prefix \"%.64s\": 2 to %d characters matching "
                             "[a-z0-9]+(?:[._-][a-z0-9]+)* expected",
                             prefix, CACHE_PREFIX_MAX);
    return REG_OK;
}

/* "host", "host:port", "[v6]" or "[v6]:port" with a port of 1..65535. */
static int host_port_ok(const char *s, size_t n)
{
    size_t i = 0;
    if (n && s[0] == '[') {
        while (i < n && s[i] != ']')
            if (!strchr("[0123456789abcdefABCDEF:.", s[i++]))
                return 0;
        if (i == n || i < 3)
            return 0;
        i++;
    } else {
        while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                         (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-'))
            i++;
        if (i == 0 || i > 253)
            return 0;
    }
    if (i == n)
        return 1;
    if (s[i] != ':' || i + 1 == n || n - i - 1 > 5)
        return 0;
    long port = 0;
    for (i++; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        port = port * 10 + (s[i] - '0');
    }
    return port >= 1 && port <= 65535;
}

int cache_url_normalize(char *out, size_t n, const char *url)
{
    const char *scheme = "https://", *host = url;
    if (!strncmp(url, "https://", 8)) {
        host = url + 8;
    } else if (!strncmp(url, "http://", 7)) {
        scheme = "http://";
        host = url + 7;
    }
    size_t len = strlen(host);
    if (len && host[len - 1] == '/')
        len--;
    if (strstr(url, "://") && host == url)
        return reg_error_set(REG_EINVALID,
                             "upstream URL \"%.128s\": only http:// and https:// "
                             "are supported",
                             url);
    if (!host_port_ok(host, len))
        return reg_error_set(REG_EINVALID,
                             "upstream URL \"%.128s\": expected [https://]host[:port] "
                             "with no path",
                             url);
    if ((size_t)snprintf(out, n, "%s%.*s", scheme, (int)len, host) >= n)
        return reg_error_set(REG_EINVALID, "upstream URL is longer than %zu bytes", n - 1);
    return REG_OK;
}

int cache_upstream_prefix_check(const char *prefix)
{
    if (prefix[0] &&
        (strlen(prefix) > CACHE_UPSTREAM_PREFIX_MAX || reference_check_name(prefix) < 0))
        return reg_error_set(REG_EINVALID,
                             "invalid upstream prefix \"%.64s\": a repository "
                             "name expected",
                             prefix);
    return REG_OK;
}

int cache_upstream_repo(char *out, size_t n, const cache_rule *rule, const char *repo)
{
    size_t plen = strlen(rule->prefix);
    if (strncmp(repo, rule->prefix, plen) != 0 || repo[plen] != '/' || !repo[plen + 1])
        return reg_error_set(REG_EINVALID, "%s is not under prefix %s", repo, rule->prefix);
    const char *rest = repo + plen + 1;
    int len = rule->upstream_prefix[0] ? snprintf(out, n, "%s/%s", rule->upstream_prefix, rest)
                                       : snprintf(out, n, "%s", rest);
    if (len < 0 || (size_t)len >= n || len > REPO_NAME_MAX)
        return reg_error_set(REG_EINVALID, "the upstream name of %s is too long", repo);
    return REG_OK;
}
