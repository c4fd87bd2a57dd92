/* error.h: filling an align_error. */
#ifndef ALIGN_ERROR_H
#define ALIGN_ERROR_H

#include "align.h"

/* Formats a one-line message into err (which may be NULL) and returns code, so a failing path
 * reads `return align_fail(err, ALIGN_ERR_FORMAT, "%s: bad header", path);`. */
align_status align_fail(align_error *err, align_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* How many bytes of a name read from a file a message shows ("%.*s"): a hostile name should not
 * fill the whole line. */
#define ERR_SHOWN(len) ((len) > 200 ? 200 : (int)(len))

/* Prefixes err's message with "prefix: ", to add context as an error travels up. */
align_status align_error_prefix(align_error *err, const char *prefix);

#endif
