/* Writing results: floats that read back exactly, JSON strings, progress, write errors. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

void format_float(char *buf, size_t cap, float v)
{
    if (v != v || v - v != 0) { /* JSON has no NaN or infinity */
        snprintf(buf, cap, "null");
        return;
    }
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, cap, "%.*g", digits, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80) return 1;
    size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
    if (!len || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    uint32_t cp = len == 2 ? (s[0] & 0x1fu) : len == 3 ? (s[0] & 0x0fu) : (s[0] & 0x07u);
    for (size_t i = 1; i < len; i++) cp = cp << 6 | (s[i] & 0x3fu);
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp < 0xe000))
        return 0;
    return len;
}

void put_json_string(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c == '\t') {
            fputs("\\t", f);
        } else if (c == '\r') {
            fputs("\\r", f);
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
        } else {
            size_t len = utf8_seq(s + i, n - i);
            if (!len) { /* a file name need not be UTF-8; JSON must be */
                fputs("\\ufffd", f);
                i++;
                continue;
            }
            fwrite(s + i, 1, len, f);
            i += len;
            continue;
        }
        i++;
    }
    fputc('"', f);
}

int check_stdout(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout)) return 0;
    error_msg("write error: %s", strerror(errno ? errno : EIO));
    return -1;
}

double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

void progress_init(progress *p, size_t total, int quiet)
{
    p->enabled = !quiet && total > 1 && isatty(STDERR_FILENO);
    p->total = total;
    p->done = 0;
    p->start = now_seconds();
}

void progress_step(progress *p)
{
    p->done++;
    if (!p->enabled) return;
    double elapsed = now_seconds() - p->start, rate = elapsed > 0 ? p->done / elapsed : 0;
    long left = rate > 0 ? (long)((p->total - p->done) / rate + 0.5) : 0;
    fprintf(stderr, "\r\033[K%zu/%zu images, %.1f images/s, %ld:%02ld left", p->done, p->total, rate, left / 60,
            left % 60);
    fflush(stderr);
}

void progress_end(progress *p)
{
    if (p->enabled) fputs("\r\033[K", stderr);
}
