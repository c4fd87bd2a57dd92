/* One-line messages on stderr. */
#include "report.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "strlist.h"

/* Whether the character of n bytes at u is shown as it is: printable ASCII, or a UTF-8 character
 * other than a C1 control (U+0080 to U+009F, C2 80 to C2 9F). */
static int shown_as_is(const unsigned char *u, size_t n)
{
    if (n == 1) return u[0] >= 0x20 && u[0] != 0x7f;
    return n > 1 && !(u[0] == 0xC2 && u[1] < 0xA0);
}

void put_text(FILE *f, const char *s)
{
    for (;;) { /* the bytes up to the next one escaped in one write: classify --all prints millions */
        size_t n = 0, k;
        while (s[n] && shown_as_is((const unsigned char *)s + n, k = utf8_char(s + n, SIZE_MAX))) n += k;
        fwrite(s, 1, n, f);
        if (!s[n]) return;
        k = utf8_char(s + n, SIZE_MAX); /* a C1 control is escaped whole, anything else a byte at a time */
        for (size_t i = 0; i < (k ? k : 1); i++) fprintf(f, "\\x%02X", (unsigned char)s[n + i]);
        s += n + (k ? k : 1);
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
