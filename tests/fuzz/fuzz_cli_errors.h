/* fuzz_cli_errors.h: for targets that run cli/ code, the stand-in for cli/report.c's error_msg,
 * which prints: here each line is checked to be one line, counted in fuzz_cli_errors, and dropped.
 * Included by one file of each target, which is its own program. */
#ifndef ALIGN_FUZZ_CLI_ERRORS_H
#define ALIGN_FUZZ_CLI_ERRORS_H

#include <stdarg.h>

#include "fuzz_util.h"

static int fuzz_cli_errors;

void error_msg(const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    FUZZ_ASSERT(n > 0 && !strchr(line, '\n'), "error message is not one line: %s", line);
    fuzz_cli_errors++;
}

#endif
