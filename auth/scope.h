/* scope.h - actions (pull, push, delete, admin, pull-through) as a bit set, and the token
 * protocol's scope strings "repository:<name>:pull,push" / "registry:catalog:*". */
#ifndef OCIREG_SCOPE_H
#define OCIREG_SCOPE_H

#include <stddef.h>

enum action {
    ACTION_PULL = 1,
    ACTION_PUSH = 2,
    ACTION_DELETE = 4,
    ACTION_ADMIN = 8,
    /* filling a pull-through cache from its upstream (ECR's BatchImportUpstreamImage); pull
     * alone reads only what is cached */
    ACTION_PULL_THROUGH = 16,
};
#define ACTION_ALL (ACTION_PULL | ACTION_PUSH | ACTION_DELETE | ACTION_ADMIN | ACTION_PULL_THROUGH)

/* "pull,push" -> bits; "*" means all. REG_EINVALID for an unknown action or empty list. */
int actions_parse(unsigned *out, const char *text);
/* Comma-separated names of the bits, into out (at least 48 bytes). */
void actions_format(char *out, size_t n, unsigned actions);

#define SCOPE_TYPE_MAX 16
#define SCOPE_NAME_MAX 256

typedef struct scope {
    char type[SCOPE_TYPE_MAX]; /* "repository" or "registry" */
    char name[SCOPE_NAME_MAX]; /* repository name, or "catalog" */
    unsigned actions;
} scope;

/* One "type:name:actions". REG_EINVALID when malformed or of an unknown type. Unknown actions
 * are dropped (a client may ask for more than we know); none left is still valid. */
int scope_parse(scope *out, const char *text);

#endif
