/* err.c - text for the NS_E* error codes and the reason formatter.
 *
 * See err.h: the table there is the single source of the codes; this file
 * turns it into strings.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *ns_strerror(int err)
{
    switch (err) {
    case NS_OK: return "success";
#define NS_ERR_TEXT_(name, text) case NS_##name: return text;
        NS_ERRNO_MAP(NS_ERR_TEXT_)
#undef NS_ERR_TEXT_
    default: return "unknown error";
    }
}

const char *ns_err_name(int err)
{
    switch (err) {
    case NS_OK: return "NS_OK";
#define NS_ERR_NAME_(name, text) case NS_##name: return "NS_" #name;
        NS_ERRNO_MAP(NS_ERR_NAME_)
#undef NS_ERR_NAME_
    default: return "NS_UNKNOWN";
    }
}

int ns_fail(char *buf, size_t len, int err, const char *fmt, ...)
{
    if (buf != NULL && len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, len, fmt, ap);
        va_end(ap);
    }
    return err;
}
