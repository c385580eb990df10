/* iam_policy.c - IAM policy documents (see iam_policy.h): strict parsing with jansson into
 * statements that point into the parsed document, and first-Deny-wins evaluation. */
#include "auth/iam_policy.h"
#include "storage/base/namematch.h"
#include "storage/base/reg_error.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IAM_USER_NAME_MAX 64 /* IAM's limit on a user name */
#define IAM_ACCOUNT_LEN   12
#define WHERE_MAX         64

typedef enum {
    PRINCIPAL_NOBODY,  /* a service, or an identity of another account: never a caller here */
    PRINCIPAL_ANYONE,  /* "*", anonymous callers included */
    PRINCIPAL_ACCOUNT, /* the registry's account (root): every signed-in user */
    PRINCIPAL_USER,
} principal_kind;

typedef struct iam_principal {
    principal_kind kind;
    const char *user; /* PRINCIPAL_USER: the name, inside the document */
} iam_principal;

typedef struct iam_statement {
    iam_effect effect;
    iam_principal *principals;
    size_t nprincipals;
    const char **actions; /* "*" or "ecr:<glob>", inside the document */
    size_t nactions;
    const char **repos; /* repository name globs of the Resource ARNs of this registry */
    size_t nrepos;
    int any_repo; /* no Resource, or "*" among them */
} iam_statement;

struct iam_policy {
    json_t *doc; /* owns every string the statements point to */
    iam_statement *statements;
    size_t count;
};

static const char *const ecr_actions[] = {
    "BatchCheckLayerAvailability",
    "BatchDeleteImage",
    "BatchGetImage",
    "BatchGetRepositoryScanningConfiguration",
    "BatchImportUpstreamImage",
    "CompleteLayerUpload",
    "CreatePullThroughCacheRule",
    "CreateRepository",
    "CreateRepositoryCreationTemplate",
    "DeleteLifecyclePolicy",
    "DeletePullThroughCacheRule",
    "DeleteRegistryPolicy",
    "DeleteRepository",
    "DeleteRepositoryCreationTemplate",
    "DeleteRepositoryPolicy",
    "DescribeImageReplicationStatus",
    "DescribeImageScanFindings",
    "DescribeImages",
    "DescribePullThroughCacheRules",
    "DescribeRegistry",
    "DescribeRepositories",
    "DescribeRepositoryCreationTemplates",
    "GetAccountSetting",
    "GetAuthorizationToken",
    "GetDownloadUrlForLayer",
    "GetLifecyclePolicy",
    "GetLifecyclePolicyPreview",
    "GetRegistryPolicy",
    "GetRegistryScanningConfiguration",
    "GetRepositoryPolicy",
    "InitiateLayerUpload",
    "ListImages",
    "ListTagsForResource",
    "PutAccountSetting",
    "PutImage",
    "PutImageScanningConfiguration",
    "PutImageTagMutability",
    "PutLifecyclePolicy",
    "PutRegistryPolicy",
    "PutRegistryScanningConfiguration",
    "PutReplicationConfiguration",
    "ReplicateImage",
    "SetRepositoryPolicy",
    "StartImageScan",
    "StartLifecyclePolicyPreview",
    "TagResource",
    "UntagResource",
    "UpdatePullThroughCacheRule",
    "UpdateRepositoryCreationTemplate",
    "UploadLayerPart",
    "ValidatePullThroughCacheRule",
};

/* '*' matches any run of characters, '?' one; case-insensitive when nocase. */
static int glob_match(const char *pattern, const char *text, int nocase)
{
    return namematch_wildcard(pattern, text, NAMEMATCH_ANY_ONE | (nocase ? NAMEMATCH_NOCASE : 0));
}

int iam_action_known(const char *action)
{
    if (strncasecmp(action, "ecr:", 4) != 0)
        return 0;
    for (size_t i = 0; i < sizeof(ecr_actions) / sizeof(ecr_actions[0]); i++)
        if (!strcasecmp(action + 4, ecr_actions[i]))
            return 1;
    return 0;
}

static void free_statement(iam_statement *s)
{
    free(s->principals);
    free(s->actions);
    free(s->repos);
}

void iam_policy_free(iam_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->count; i++)
        free_statement(&p->statements[i]);
    free(p->statements);
    json_decref(p->doc);
    free(p);
}

static int is_account(const char *s, size_t n)
{
    return n == IAM_ACCOUNT_LEN && strspn(s, "0123456789") >= n;
}

/* The values of an element that is a string or a non-empty array of strings: *out (malloc'd,
 * pointing into the document) and *n. `where` names the element for messages. */
static int string_list(const char ***out, size_t *n, json_t *v, const char *where)
{
    size_t count = json_is_array(v) ? json_array_size(v) : 1;
    if (json_is_array(v) && count == 0)
        return reg_error_set(REG_EINVALID, "%s: must not be an empty list", where);
    if (!json_is_array(v) && !json_is_string(v))
        return reg_error_set(REG_EINVALID, "%s: must be a string or a list of strings", where);
    const char **list = calloc(count, sizeof(*list));
    if (!list)
        return reg_error_set(REG_ERROR, "out of memory");
    for (size_t i = 0; i < count; i++) {
        json_t *item = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(item)) {
            free(list);
            return reg_error_set(REG_EINVALID, "%s[%zu]: must be a string", where, i);
        }
        list[i] = json_string_value(item);
    }
    *out = list;
    *n = count;
    return REG_OK;
}

/* An element's name for messages ("Statement[1].Action"), into out (WHERE_MAX bytes). */
static const char *path_name(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *path_name(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, WHERE_MAX, fmt, ap);
    va_end(ap);
    return out;
}

/* "Statement[1].Action" or, for an item of a list, "Statement[1].Action[2]". */
static const char *item_name(char *out, const char *where, json_t *v, size_t i)
{
    return json_is_array(v) ? path_name(out, "%s[%zu]", where, i) : path_name(out, "%s", where);
}

/* One AWS principal: "*", an account id, arn:aws:iam::<account>:root or :user/<path/>name. */
static int parse_aws_principal(iam_principal *out, const char *s, const char *registry_id,
                               const char *where)
{
    static const char arn[] = "arn:aws:iam::";
    size_t n = strlen(arn);
    const char *account = s, *rest = NULL;
    if (!strcmp(s, "*")) {
        out->kind = PRINCIPAL_ANYONE;
        return REG_OK;
    }
    if (!strncmp(s, arn, n) && is_account(s + n, strcspn(s + n, ":")) && s[n + 12] == ':') {
        account = s + n;
        rest = s + n + IAM_ACCOUNT_LEN + 1;
    } else if (!is_account(s, strlen(s))) {
        rest = "";
    }
    const char *name = rest && !strncmp(rest, "user/", 5) ? strrchr(rest, '/') + 1 : NULL;
    if (rest && strcmp(rest, "root") != 0 &&
        !(name && namematch_chars(rest + 5, strlen(rest + 5), "+=,.@_-/") && *name &&
          strlen(name) <= IAM_USER_NAME_MAX))
        return reg_error_set(REG_EINVALID,
                             "%s: '%s' is not \"*\", an account id or an IAM root or user ARN "
                             "(arn:aws:iam::<account>:user/<name>)",
                             where, s);
    if (strncmp(account, registry_id, IAM_ACCOUNT_LEN) != 0)
        out->kind = PRINCIPAL_NOBODY;
    else if (name)
        out->kind = PRINCIPAL_USER, out->user = name;
    else
        out->kind = PRINCIPAL_ACCOUNT;
    return REG_OK;
}

static int add_principals(iam_statement *st, json_t *v, int aws, const char *registry_id,
                          const char *where)
{
    const char **list = NULL;
    size_t n = 0;
    char name[WHERE_MAX];
    int err = string_list(&list, &n, v, where);
    if (err < 0)
        return err;
    iam_principal *grown = realloc(st->principals, (st->nprincipals + n) * sizeof(*grown));
    if (!grown) {
        free(list);
        return reg_error_set(REG_ERROR, "out of memory");
    }
    st->principals = grown;
    for (size_t i = 0; i < n && err == REG_OK; i++) {
        iam_principal *p = &st->principals[st->nprincipals++];
        memset(p, 0, sizeof(*p));
        if (aws)
            err = parse_aws_principal(p, list[i], registry_id, item_name(name, where, v, i));
        else if (!namematch_chars(list[i], strlen(list[i]), ".-"))
            err = reg_error_set(REG_EINVALID, "%s: '%s' is not a service name",
                                item_name(name, where, v, i), list[i]);
    }
    free(list);
    return err;
}

/* "*" or {"AWS": ..., "Service": ...}. */
static int parse_principal(iam_statement *st, json_t *v, const char *registry_id, const char *where)
{
    char name[WHERE_MAX];
    const char *key;
    json_t *value;
    if (json_is_string(v) && !strcmp(json_string_value(v), "*"))
        return add_principals(st, v, 1, registry_id, where);
    if (!json_is_object(v) || json_object_size(v) == 0)
        return reg_error_set(REG_EINVALID,
                             "%s: must be \"*\" or an object such as "
                             "{\"AWS\": \"arn:aws:iam::<account>:user/<name>\"}",
                             where);
    json_object_foreach(v, key, value)
    {
        int aws = !strcmp(key, "AWS");
        if (!aws && strcmp(key, "Service") != 0)
            return reg_error_set(REG_EINVALID,
                                 "%s: principal type '%s' is not supported (AWS or Service)", where,
                                 key);
        path_name(name, "%s.%s", where, key);
        int err = add_principals(st, value, aws, registry_id, name);
        if (err < 0)
            return err;
    }
    return REG_OK;
}

static int parse_actions(iam_statement *st, json_t *v, const char *where)
{
    char name[WHERE_MAX];
    int err = string_list(&st->actions, &st->nactions, v, where);
    for (size_t i = 0; i < st->nactions && err == REG_OK; i++) {
        const char *a = st->actions[i];
        size_t n = strlen(a);
        if (!strcmp(a, "*"))
            continue;
        if (strncasecmp(a, "ecr:", 4) != 0 || !namematch_chars(a + 4, n - 4, "*?"))
            err = reg_error_set(REG_EINVALID, "%s: '%s' is not an ECR action (ecr:<Action>)",
                                item_name(name, where, v, i), a);
        else if (!strpbrk(a, "*?") && !iam_action_known(a))
            err = reg_error_set(REG_EINVALID, "%s: unknown ECR action '%s'",
                                item_name(name, where, v, i), a);
    }
    return err;
}

/* "*" or arn:aws:ecr:<region>:<account>:repository/<name glob>. A resource of another
 * account is valid and never matches. */
static int parse_resource(iam_statement *st, const char *s, const char *registry_id,
                          const char *where)
{
    static const char arn[] = "arn:aws:ecr:";
    const char *region = NULL, *account = NULL, *rest = NULL;
    char pattern[IAM_ACCOUNT_LEN * 2 + 1];
    if (!strcmp(s, "*")) {
        st->any_repo = 1;
        return REG_OK;
    }
    if (!strncmp(s, arn, strlen(arn)) && (account = strchr(region = s + strlen(arn), ':')))
        rest = strchr(account + 1, ':');
    size_t len = rest ? (size_t)(rest - account - 1) : 0;
    if (!rest || !namematch_chars(region, (size_t)(account - region), "-*?") || len == 0 ||
        len >= sizeof(pattern) || strspn(account + 1, "0123456789*?") < len ||
        strncmp(rest + 1, "repository/", 11) != 0 ||
        !namematch_chars(rest + 12, strlen(rest + 12), "._-/*?"))
        return reg_error_set(REG_EINVALID,
                             "%s: '%s' is not \"*\" or a repository ARN "
                             "(arn:aws:ecr:<region>:<account>:repository/<name>)",
                             where, s);
    memcpy(pattern, account + 1, len);
    pattern[len] = '\0';
    if (glob_match(pattern, registry_id, 0))
        st->repos[st->nrepos++] = rest + 12;
    return REG_OK;
}

static int parse_resources(iam_statement *st, json_t *v, const char *registry_id, const char *where)
{
    const char **list = NULL;
    size_t n = 0;
    char name[WHERE_MAX];
    int err = string_list(&list, &n, v, where);
    if (err < 0)
        return err;
    if (!(st->repos = calloc(n ? n : 1, sizeof(*st->repos)))) /* calloc(0) may be NULL */
        err = reg_error_set(REG_ERROR, "out of memory");
    for (size_t i = 0; i < n && err == REG_OK; i++)
        err = parse_resource(st, list[i], registry_id, item_name(name, where, v, i));
    free(list);
    return err;
}

static int parse_effect(iam_statement *st, json_t *v, const char *where)
{
    const char *e = json_string_value(v);
    if (e && !strcmp(e, "Allow"))
        st->effect = IAM_ALLOW;
    else if (e && !strcmp(e, "Deny"))
        st->effect = IAM_DENY;
    else
        return reg_error_set(REG_EINVALID, "%s: must be \"Allow\" or \"Deny\"", where);
    return REG_OK;
}

/* Sid: a string, unique in the document (the earlier statements are sids[0..i-1]). */
static int check_sid(json_t *statements, size_t i, json_t *sid, const char *where)
{
    if (!json_is_string(sid))
        return reg_error_set(REG_EINVALID, "%s: must be a string", where);
    for (size_t k = 0; k < i; k++) {
        json_t *other = json_object_get(json_array_get(statements, k), "Sid");
        if (json_is_string(other) && json_string_length(sid) > 0 && json_equal(other, sid))
            return reg_error_set(REG_EINVALID, "%s: '%s' is also the Sid of Statement[%zu]", where,
                                 json_string_value(sid), k);
    }
    return REG_OK;
}

static int parse_statement(iam_statement *st, json_t *statements, size_t i, const char *registry_id)
{
    json_t *v = json_array_get(statements, i), *value;
    char where[WHERE_MAX], name[WHERE_MAX];
    const char *key;
    int err = REG_OK;
    path_name(where, "Statement[%zu]", i);
    if (!json_is_object(v))
        return reg_error_set(REG_EINVALID, "%s: must be an object", where);
    st->any_repo = json_object_get(v, "Resource") == NULL;
    json_object_foreach(v, key, value)
    {
        path_name(name, "%s.%s", where, key);
        if (!strcmp(key, "Sid"))
            err = check_sid(statements, i, value, name);
        else if (!strcmp(key, "Effect"))
            err = parse_effect(st, value, name);
        else if (!strcmp(key, "Principal"))
            err = parse_principal(st, value, registry_id, name);
        else if (!strcmp(key, "Action"))
            err = parse_actions(st, value, name);
        else if (!strcmp(key, "Resource"))
            err = parse_resources(st, value, registry_id, name);
        else if (!strcmp(key, "Condition") || !strncmp(key, "Not", 3))
            err = reg_error_set(REG_EINVALID, "%s: %s is not supported", where, key);
        else
            err = reg_error_set(REG_EINVALID, "%s: unknown element '%s'", where, key);
        if (err < 0)
            return err;
    }
    static const char *const required[] = {"Effect", "Principal", "Action"};
    for (size_t k = 0; k < sizeof(required) / sizeof(required[0]); k++)
        if (!json_object_get(v, required[k]))
            return reg_error_set(REG_EINVALID, "%s: %s is required", where, required[k]);
    return REG_OK;
}

/* The document's top level: Version, Id, Statement (an object or a non-empty list). */
static int parse_document(iam_policy *p, const char *registry_id)
{
    const char *key;
    json_t *value, *statements = NULL;
    if (!json_is_object(p->doc))
        return reg_error_set(REG_EINVALID, "the policy must be a JSON object");
    json_object_foreach(p->doc, key, value)
    {
        const char *s = json_string_value(value);
        if (!strcmp(key, "Version")) {
            if (!s || (strcmp(s, "2012-10-17") && strcmp(s, "2008-10-17")))
                return reg_error_set(REG_EINVALID,
                                     "Version: must be \"2012-10-17\" or \"2008-10-17\"");
        } else if (!strcmp(key, "Id")) {
            if (!s)
                return reg_error_set(REG_EINVALID, "Id: must be a string");
        } else if (!strcmp(key, "Statement")) {
            statements = value;
        } else {
            return reg_error_set(REG_EINVALID, "unknown element '%s' (Version, Id, Statement)",
                                 key);
        }
    }
    if (!statements || (json_is_array(statements) && json_array_size(statements) == 0))
        return reg_error_set(REG_EINVALID, "Statement: at least one statement is required");
    if (json_is_object(statements)) {
        json_t *list = json_pack("[O]", statements);
        if (!list || json_object_set_new(p->doc, "Statement", list) < 0)
            return reg_error_set(REG_ERROR, "out of memory");
        statements = list;
    } else if (!json_is_array(statements)) {
        return reg_error_set(REG_EINVALID, "Statement: must be an object or a list of objects");
    }
    size_t n = json_array_size(statements);
    if (!(p->statements = calloc(n, sizeof(*p->statements))))
        return reg_error_set(REG_ERROR, "out of memory");
    for (; p->count < n; p->count++) {
        int err = parse_statement(&p->statements[p->count], statements, p->count, registry_id);
        if (err < 0) {
            p->count++; /* so that its allocations are freed */
            return err;
        }
    }
    return REG_OK;
}

int iam_policy_parse(iam_policy **out, const char *text, const char *registry_id)
{
    json_error_t jerr;
    size_t len = strlen(text);
    if (len > IAM_POLICY_TEXT_MAX)
        return reg_error_set(REG_EINVALID, "the policy is %zu bytes, more than the %d allowed", len,
                             IAM_POLICY_TEXT_MAX);
    iam_policy *p = calloc(1, sizeof(*p));
    if (!p)
        return reg_error_set(REG_ERROR, "out of memory");
    if (!(p->doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr))) {
        iam_policy_free(p);
        return reg_error_set(REG_EINVALID, "the policy is not valid JSON: %s (line %d, column %d)",
                             jerr.text, jerr.line, jerr.column);
    }
    int err = parse_document(p, registry_id);
    if (err < 0) {
        iam_policy_free(p);
        return err;
    }
    *out = p;
    return REG_OK;
}

static int principal_matches(const iam_statement *st, const char *user)
{
    for (size_t i = 0; i < st->nprincipals; i++) {
        const iam_principal *p = &st->principals[i];
        if (p->kind == PRINCIPAL_ANYONE || (p->kind == PRINCIPAL_ACCOUNT && user) ||
            (p->kind == PRINCIPAL_USER && user && !strcmp(p->user, user)))
            return 1;
    }
    return 0;
}

static int action_matches(const iam_statement *st, const char *action)
{
    for (size_t i = 0; i < st->nactions; i++)
        if (glob_match(st->actions[i], action, 1))
            return 1;
    return 0;
}

static int repo_matches(const iam_statement *st, const char *repo)
{
    if (st->any_repo)
        return 1;
    for (size_t i = 0; i < st->nrepos; i++)
        if (glob_match(st->repos[i], repo, 0))
            return 1;
    return 0;
}

iam_effect iam_policy_eval(const iam_policy *p, const char *user, const char *action,
                           const char *repo)
{
    iam_effect result = IAM_NONE;
    for (size_t i = 0; p && i < p->count; i++) {
        const iam_statement *st = &p->statements[i];
        if (!principal_matches(st, user) || !action_matches(st, action) || !repo_matches(st, repo))
            continue;
        if (st->effect == IAM_DENY)
            return IAM_DENY;
        result = IAM_ALLOW;
    }
    return result;
}
