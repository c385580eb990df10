/* sealed.h - one way to keep a text credential at rest: sealed (secretbox) under the master key
 * of DATA/keys/master.key, and opened back with every size checked before the cipher runs. */
#ifndef OCIREG_SEALED_H
#define OCIREG_SEALED_H

#include "auth/secretbox.h"

#include <stddef.h>

/* Bytes a box holds for a text of at most `max` bytes. */
#define SEALED_SIZE(max) ((max) + SECRETBOX_OVERHEAD)

/* Seal `text` (0 to `max` bytes) into box (SEALED_SIZE(max) bytes) under the master key of
 * data_dir (made on first use); *box_len its length. REG_EINVALID when text is longer. */
int sealed_text_seal(unsigned char *box, size_t *box_len, const char *data_dir, const char *text,
                     size_t max);

/* Open box under master into out (cap bytes: at most cap - 1 text bytes and a NUL).
 * REG_EDENIED when the box is truncated, longer than cap allows, does not open under master,
 * or holds a NUL byte. Matches webhook_open_fn (storage/webhook.h), which serve hands down. */
int sealed_text_open(char *out, size_t cap, const unsigned char *master, const unsigned char *box,
                     size_t box_len);

#endif
