/* One-line messages on stderr. */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>

void put_text(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02X", *p);
        else
            fputc(*p, f);
    }
}

/* "align: " and the message, kept to one line and harmless to a terminal: a file name's line
 * breaks show as spaces (as the library's messages have them), its other control bytes as \xHH. */
static void put_message(const char *fmt, va_list ap)
{
    char *text;
    fputs("align: ", stderr);
    if (vasprintf(&text, fmt, ap) < 0) {
        fputs("out of memory", stderr);
        return;
    }
    for (char *p = text; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    put_text(stderr, text);
    free(text);
}

void error_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_message(fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_message(fmt, ap);
    va_end(ap);
    if (command)
        fprintf(stderr, " (see 'align %s --help')\n", command);
    else
        fputs(" (see 'align --help')\n", stderr);
    return EXIT_FAILURE;
}
