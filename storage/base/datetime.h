/* datetime.h - the one parser of UTC timestamps that ocireg reads from peers (SigV4's
 * x-amz-date and S3's XML dates), and the deadlines of timed waits. */
#ifndef OCIREG_DATETIME_H
#define OCIREG_DATETIME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Parse `len` bytes of "YYYYMMDDTHHMMSSZ" (ISO 8601 basic, as x-amz-date) or
 * "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (extended, as S3's LastModified) into seconds since the
 * epoch (the fraction is dropped). REG_EINVALID for anything else, including impossible dates
 * such as 2024-02-31 or 25:00. */
int datetime_parse(int64_t *out, const char *text, size_t len);

/* The CLOCK_REALTIME time wait_ms from now: pthread_cond_timedwait's deadline. */
struct timespec datetime_deadline_in(int wait_ms);

#endif
