/* header_line.h - one line of an HTTP answer's header as curl hands it to a header callback:
 * whether it is a given field, and its value with the surrounding blanks and line end trimmed. */
#ifndef OCIREG_HEADER_LINE_H
#define OCIREG_HEADER_LINE_H

#include <stddef.h>

/* 1 if line (len bytes, not NUL-terminated) is the field `name` (case-insensitive), with
 * *value / *vlen its trimmed value (pointing into line); 0 otherwise. */
int header_line_value(const char *line, size_t len, const char *name, const char **value,
                      size_t *vlen);

#endif
