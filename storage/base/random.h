/* random.h - random bytes from the kernel's CSPRNG (getrandom), for upload ids, temporary
 * file names and secrets. OpenSSL's RAND_bytes would do as well, but its first use loads
 * OpenSSL's provider machinery, about 2 MiB of resident memory a server without auth never
 * needs otherwise. */
#ifndef OCIREG_RANDOM_H
#define OCIREG_RANDOM_H

#include <stddef.h>

/* Fill buf with n random bytes. REG_OK, or REG_ERROR (errno set). */
int random_bytes(void *buf, size_t n);

/* Write 2*n random lowercase hex digits and a NUL into out (2*n + 1 bytes; n <= 32). */
int random_hex(char *out, size_t n);

#define RANDOM_UUID_LEN 36 /* the 8-4-4-4-12 text form */

/* The text of a version-4 UUID made of `bytes` (its version and variant bits are set). */
void random_uuid_text(char out[RANDOM_UUID_LEN + 1], const unsigned char bytes[16]);

/* A new random version-4 UUID as text. */
int random_uuid(char out[RANDOM_UUID_LEN + 1]);

#endif
