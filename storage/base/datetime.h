/* datetime.h - the one parser of UTC timestamps that ocireg reads from peers: SigV4's
 * x-amz-date and S3's XML dates. */
#ifndef OCIREG_DATETIME_H
#define OCIREG_DATETIME_H

#include <stddef.h>
#include <stdint.h>

/* Parse `len` bytes of "YYYYMMDDTHHMMSSZ" (ISO 8601 basic, as x-amz-date) or
 * "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (extended, as S3's LastModified) into seconds since the
 * epoch (the fraction is dropped). REG_EINVALID for anything else, including impossible dates
 * such as 2024-02-31 or 25:00. */
int datetime_parse(int64_t *out, const char *text, size_t len);

#endif
