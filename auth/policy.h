/* policy.h - who may do what: a principal's grants (plus those of "anonymous") matched
 * against repository names. Patterns are literal except <star> ('*'), which matches any run of
 * characters, '/' included: the pattern team-a/<star> covers team-a/app and team-a/app/web. "admin" implies
 * every other action. */
#ifndef OCIREG_POLICY_H
#define OCIREG_POLICY_H

#include "storage/index/index.h"

#define ANONYMOUS "anonymous"

typedef struct policy policy;

/* Load the grants of `principal` (NULL or "" for an anonymous caller). */
int policy_load(policy **out, index_db *ix, const char *principal);
void policy_free(policy *p);

/* The actions granted on repository `repo`. */
unsigned policy_actions(const policy *p, const char *repo);

int pattern_match(const char *pattern, const char *name);
/* REG_OK for a pattern of repository-name characters and '*'. */
int pattern_check(const char *pattern);

#endif
