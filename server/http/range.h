/* range.h - parsing of the HTTP Range request header (blob GET) and of the Content-Range
 * header of an upload PATCH ("<start>-<end>", inclusive). */
#ifndef OCIREG_RANGE_H
#define OCIREG_RANGE_H

#include <stdint.h>

typedef struct byte_range {
    uint64_t start;
    uint64_t length;
} byte_range;

/* A single range "bytes=a-b", "bytes=a-" or "bytes=-n" against a resource of `size` bytes
 * (callers ignore a Range of another unit, as RFC 9110 asks).
 * REG_EINVALID when malformed (including several ranges), REG_ENOTFOUND when it lies outside
 * the resource (the caller answers 416). The result is clamped to the resource. */
int range_parse(byte_range *out, const char *header, uint64_t size);

/* Exactly "a-b" as the spec writes it; REG_EINVALID otherwise or unless a <= b. */
int content_range_parse(byte_range *out, const char *header);

#endif
