#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

align_status align_fail(align_error *err, align_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->code = code;
        /* one line: a message that quotes a file's bytes must not break a log line */
        for (char *p = err->message; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
    }
    return code;
}

align_status align_error_prefix(align_error *err, const char *prefix)
{
    if (!err) return ALIGN_ERR_ARG;
    size_t cap = sizeof err->message, p = strlen(prefix), m = strlen(err->message);
    if (p + 2 >= cap) p = cap - 3;
    if (p + 2 + m >= cap) m = cap - 1 - p - 2;
    memmove(err->message + p + 2, err->message, m);
    for (size_t i = 0; i < p; i++) err->message[i] = prefix[i] == '\n' || prefix[i] == '\r' ? ' ' : prefix[i];
    memcpy(err->message + p, ": ", 2);
    err->message[p + 2 + m] = 0;
    return err->code;
}

const char *align_status_name(align_status code)
{
    switch (code) {
    case ALIGN_OK: return "ok";
    case ALIGN_ERR_IO: return "i/o error";
    case ALIGN_ERR_FORMAT: return "bad file format";
    case ALIGN_ERR_CONFIG: return "bad config";
    case ALIGN_ERR_WEIGHTS: return "bad weights";
    case ALIGN_ERR_INPUT: return "bad input";
    case ALIGN_ERR_LIMIT: return "over a limit";
    case ALIGN_ERR_NOMEM: return "out of memory";
    case ALIGN_ERR_ARG: return "invalid argument";
    }
    return "unknown error";
}
