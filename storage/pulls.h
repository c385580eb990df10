/* pulls.h - last-pull times of manifests, recorded cheaply: a manifest GET notes (repository,
 * digest) in a small fixed table in memory; a flush writes the whole table in one transaction.
 * When the table is full until the next flush, further pulls are not noted (times are
 * approximate by design, never a write per GET). */
#ifndef OCIREG_PULLS_H
#define OCIREG_PULLS_H

#include "storage/index/index.h"

#include <stdint.h>

typedef struct pull_table pull_table;

int pulls_new(pull_table **out);
void pulls_free(pull_table *t);
void pulls_note(pull_table *t, const char *repo, const char *digest, int64_t when);
/* Write every noted pull; returns how many, or a negative code. */
int pulls_flush(pull_table *t, index_db *ix);

#endif
