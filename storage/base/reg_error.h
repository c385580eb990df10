/* reg_error.h - the result codes every ocireg module returns.
 * 0 is success; expected failures have their own negative code, anything else is REG_ERROR. */
#ifndef OCIREG_REG_ERROR_H
#define OCIREG_REG_ERROR_H

enum reg_error {
    REG_OK = 0,
    REG_ERROR = -1,      /* unexpected: I/O, SQLite, OpenSSL */
    REG_ENOTFOUND = -2,  /* no such blob, manifest, tag, upload or repository */
    REG_EINVALID = -3,   /* malformed input */
    REG_EDENIED = -4,    /* not allowed */
    REG_ECONFLICT = -5,  /* state forbids it (e.g. referenced, immutable tag) */
    REG_ETOOLARGE = -6,  /* over a configured bound */
    REG_ENOSPACE = -7,   /* disk full */
    REG_EBUSY = -8,      /* in use by another request */
    REG_EMISMATCH = -9,  /* content does not match its digest */
};

#endif
