/* reg_error.h - the result codes every ocireg module returns, and the one route a failure's
 * message takes: set where the failure happens, read where it is reported.
 * 0 is success; expected failures have their own negative code, anything else is REG_ERROR. */
#ifndef OCIREG_REG_ERROR_H
#define OCIREG_REG_ERROR_H

enum reg_error {
    REG_OK = 0,
    REG_ERROR = -1,     /* unexpected: I/O, SQLite, OpenSSL */
    REG_ENOTFOUND = -2, /* no such blob, manifest, tag, upload or repository */
    REG_EINVALID = -3,  /* malformed input */
    REG_EDENIED = -4,   /* not allowed */
    REG_ECONFLICT = -5, /* state forbids it (e.g. referenced, immutable tag) */
    REG_ETOOLARGE = -6, /* over a configured bound */
    REG_ENOSPACE = -7,  /* disk full */
    REG_EBUSY = -8,     /* in use by another request */
    REG_EMISMATCH = -9, /* content does not match its digest */
};

/* The message is the calling thread's (as libgit2's git_error_set / git_error_last): a failure
 * site formats it and returns its code in one statement,
 *     return reg_error_set(REG_EINVALID, "tag %s is immutable", tag);
 * and whoever reports the failure (an HTTP handler, a subcommand) reads reg_error_last().
 * Messages are for people; callers decide by the code, never by the text. */
#define REG_ERROR_MAX 1024 /* bytes of a message, NUL included; longer ones are cut */

/* Record the message and return `code` (unchanged). */
int reg_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Put context in front of the message already set ("importing app:v1: " + it) and return
 * `code`; with no message set, the context alone becomes the message. */
int reg_error_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The calling thread's last message, or `fallback` when none was set since the last clear. */
const char *reg_error_last(const char *fallback);

/* Forget the message: callers that go on after a failure they handled clear it, so a later
 * report cannot show a stale reason. */
void reg_error_clear(void);

#endif
