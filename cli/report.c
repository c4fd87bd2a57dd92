/* One-line messages on stderr. */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

/* Whether the byte at u, inside valid UTF-8, starts a control character: C0, DEL, or C1 (U+0080
 * to U+009F, C2 80 to C2 9F). */
static int control(const unsigned char *u)
{
    return u[0] < 0x20 || u[0] == 0x7f || (u[0] == 0xC2 && u[1] < 0xA0);
}

void put_text(FILE *f, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s);
    while (len) { /* the bytes up to the next one escaped in one write: classify --all prints millions */
        size_t valid = utf8_valid_prefix(u, len), n = 0;
        while (n < valid && !control(u + n)) n++;
        fwrite(u, 1, n, f);
        if (n == len) return;
        size_t k = n < valid && u[n] == 0xC2 ? 2 : 1; /* a C1 control whole; anything else a byte at a time */
        for (size_t i = 0; i < k; i++) fprintf(f, "\\x%02X", u[n + i]);
        u += n + k;
        len -= n + k;
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
