/* One-line messages on stderr. */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>

void put_text(FILE *f, const char *s)
{
    for (;;) { /* the bytes up to the next control byte in one write: classify --all prints millions */
        size_t n = 0;
        while (s[n] && (unsigned char)s[n] >= 0x20 && s[n] != 0x7f) n++;
        fwrite(s, 1, n, f);
        if (!s[n]) return;
        fprintf(f, "\\x%02X", (unsigned char)s[n]);
        s += n + 1;
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

int report_no_images(const char *command, char **operands, int n)
{
    if (n == 1) error_msg("%s: no images in it", operands[0]);
    else if (n > 1) error_msg("no images in the %d directories given", n);
    else usage_error(command, "no images");
    return -1;
}
