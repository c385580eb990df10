/* hashstate.h - running SHA-256 and SHA-512 of an upload whose state can be saved and resumed
 * by another process: S3 upload sessions move between registry instances mid-upload. */
#ifndef OCIREG_HASHSTATE_H
#define OCIREG_HASHSTATE_H

#include "storage/base/digest.h"

#include <stddef.h>

/* Serialised state: a version byte and both raw contexts (same binary on every instance). */
#define HASHSTATE_BYTES 400

typedef struct hashstate hashstate;

int hashstate_new(hashstate **out);
void hashstate_free(hashstate *h);
void hashstate_update(hashstate *h, const void *data, size_t len);
/* Digest of everything so far (a copy is finished; the state goes on). */
int hashstate_digest(digest *out, const hashstate *h, digest_alg alg);
/* Write the state into buf (HASHSTATE_BYTES); returns the length. */
size_t hashstate_save(const hashstate *h, unsigned char *buf);
/* REG_EINVALID when buf is not a state this build wrote. */
int hashstate_load(hashstate *h, const unsigned char *buf, size_t len);

#endif
