/* err.h - the relay's error codes.
 *
 * Every function that can fail returns 0 (or a non-negative count) on
 * success and one of the negative NS_E* codes below on failure, in the
 * manner of libuv. The codes live in one X-macro table so that the enum and
 * the human-readable text can never drift apart. Functions that need to say
 * more than the code (which field was wrong, and why) also fill a caller
 * supplied reason buffer; that text is ready to be sent to a client after a
 * NIP-01 prefix such as "invalid: ".
 */
#ifndef NS_ERR_H
#define NS_ERR_H

#include <stddef.h>

#define NS_ERRNO_MAP(X)                                                      \
    X(EINVAL, "invalid input")                                               \
    X(ENOMEM, "out of memory")                                               \
    X(EBADID, "event id does not match its content")                         \
    X(EBADSIG, "event signature is not valid")                               \
    X(EUNSUP, "unsupported")                                                 \
    X(ERANGE, "value out of range")                                          \
    X(EIO, "input/output error")                                             \
    X(ECONFIG, "configuration error")

typedef enum {
    NS_OK = 0,
#define NS_ERR_ENUM_(name, text) NS_##name,
    NS__ERR_FIRST = -1000,
    NS_ERRNO_MAP(NS_ERR_ENUM_)
#undef NS_ERR_ENUM_
    NS__ERR_END
} ns_errno;

/* Returns a static, never-NULL description of an NS_E* code (or of 0). */
const char *ns_strerror(int err);

/* Returns the symbolic name ("NS_EINVAL") of a code, or "NS_UNKNOWN". */
const char *ns_err_name(int err);

/* Formats a reason into buf (always NUL terminated when len > 0) and
 * returns err, so that callers can write `return ns_fail(buf, len, NS_EINVAL,
 * "created_at must be an integer");`. buf may be NULL. */
int ns_fail(char *buf, size_t len, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
