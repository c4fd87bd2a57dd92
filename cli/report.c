/* Exit statuses and one-line messages on stderr. */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>

int exit_status(size_t failed, size_t total)
{
    return !failed ? EXIT_SUCCESS : failed < total ? EXIT_PARTIAL : EXIT_FAILURE;
}

void error_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("align: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void error_line(const char *message)
{
    fputs("align: ", stderr);
    for (const char *p = message; *p; p++) fputc(*p == '\n' || *p == '\r' ? ' ' : *p, stderr);
    fputc('\n', stderr);
}

int usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("align: ", stderr);
    vfprintf(stderr, fmt, ap);
    if (command)
        fprintf(stderr, " (see 'align %s --help')\n", command);
    else
        fputs(" (see 'align --help')\n", stderr);
    va_end(ap);
    return EXIT_FAILURE;
}
