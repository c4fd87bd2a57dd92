/* The record writer: JSON, JSON Lines and TSV. */
#include "records.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void format_float(char *buf, size_t cap, float v)
{
    if (v != v || v - v != 0) { /* JSON has no NaN or infinity */
        snprintf(buf, cap, "null");
        return;
    }
    /* Binary search for the fewest digits that read back (9 always do): if d digits read back, so
     * do d + 1, whose rounding lies at least as near. Asymmetric rounding intervals, where that
     * argument could fail, surround only powers of two, every one of which was checked to give the
     * linear search's answer (and 20 million other floats). Half the formatting of a record. */
    int lo = 1, hi = 9;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(buf, cap, "%.*g", mid, (double)v);
        if (strtof(buf, NULL) == v)
            hi = mid;
        else
            lo = mid + 1;
    }
    snprintf(buf, cap, "%.*g", lo, (double)v);
}

/* The code point of the valid UTF-8 sequence at s (at most n bytes) and its length, or length 0
 * when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) return *cp = s[0], 1;
    size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
    if (!len || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    uint32_t c = len == 2 ? (s[0] & 0x1fu) : len == 3 ? (s[0] & 0x0fu) : (s[0] & 0x07u);
    for (size_t i = 1; i < len; i++) c = c << 6 | (s[i] & 0x3fu);
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) || (c >= 0xd800 && c < 0xe000))
        return 0;
    *cp = c;
    return len;
}

void put_json_string(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t len = utf8_seq(s + i, n - i, &c);
        if (!len) { /* a file name need not be UTF-8; JSON must be: a byte that is not, as Python's
                       surrogateescape reads it (os.fsencode gives the byte back) */
            fprintf(f, "\\udc%02x", (unsigned)s[i]);
            i++;
            continue;
        }
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", (char)c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c < 0x20 || c == 0x7f || c == 0x85 || c == 0x2028 || c == 0x2029)
            fprintf(f, "\\u%04x", (unsigned)c);
        else
            fwrite(s + i, 1, len, f);
        i += len;
    }
    fputc('"', f);
}

static int is_json(const record_writer *w)
{
    return w->format == FMT_JSON || w->format == FMT_JSONL;
}

void records_start(record_writer *w, FILE *f, out_format format, const char *tsv_header)
{
    *w = (record_writer){.f = f, .format = format};
    if (format == FMT_TSV && tsv_header) fprintf(f, "%s\n", tsv_header);
}

void records_finish(record_writer *w)
{
    if (w->format == FMT_JSON) fputs(w->records ? "\n]\n" : "[]\n", w->f);
}

int records_leave_line_open(FILE *f, out_format format)
{
    return format == FMT_JSON && f && isatty(fileno(f));
}

/* The comma before a value (not before the first of its array or object) and its key. */
static void value_prefix(record_writer *w, const char *key)
{
    if (w->has_items[w->depth - 1]) fputc(',', w->f);
    w->has_items[w->depth - 1] = 1;
    if (key) {
        put_json_string(w->f, key);
        fputc(':', w->f);
    }
}

void record_open(record_writer *w, const char *key, char bracket)
{
    if (w->depth) value_prefix(w, key);
    fputc(bracket, w->f);
    w->closer[w->depth] = bracket == '[' ? ']' : '}';
    w->has_items[w->depth++] = 0;
}

void record_close(record_writer *w)
{
    fputc(w->closer[--w->depth], w->f);
}

void record_begin(record_writer *w)
{
    if (w->format == FMT_JSON) fputs(w->records ? ",\n" : "[\n", w->f);
    w->records++;
    if (is_json(w)) record_open(w, NULL, '{');
}

void record_end(record_writer *w)
{
    if (!is_json(w)) return;
    record_close(w);
    if (w->format == FMT_JSONL) fputc('\n', w->f);
}

void record_string(record_writer *w, const char *key, const char *value)
{
    value_prefix(w, key);
    put_json_string(w->f, value);
}

void record_float(record_writer *w, const char *key, float value)
{
    char num[32];
    format_float(num, sizeof num, value);
    value_prefix(w, key);
    fputs(num, w->f);
}

void record_floats(record_writer *w, const char *key, const float *values, size_t n)
{
    record_open(w, key, '[');
    for (size_t i = 0; i < n; i++) record_float(w, NULL, values[i]);
    record_close(w);
}

void record_ints(record_writer *w, const char *key, const int32_t *values, size_t n)
{
    record_open(w, key, '[');
    for (size_t i = 0; i < n; i++) {
        value_prefix(w, NULL);
        fprintf(w->f, "%d", (int)values[i]);
    }
    record_close(w);
}

static void put_tsv_field(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\t')
            fputs("\\t", f);
        else if (*s == '\n')
            fputs("\\n", f);
        else if (*s == '\\')
            fputs("\\\\", f);
        else
            fputc(*s, f);
    }
}

void record_tsv_row(record_writer *w, const char *const *fields, int n)
{
    for (int i = 0; i < n; i++) {
        if (i) fputc('\t', w->f);
        put_tsv_field(w->f, fields[i]);
    }
    fputc('\n', w->f);
}

char *record_key(const char *s, out_format format)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) return NULL;
    if (format == FMT_TSV) {
        record_writer w = {.f = m, .format = FMT_TSV};
        record_tsv_row(&w, &s, 1); /* the field and a newline */
    } else {
        put_json_string(m, s); /* the literal in quotes */
    }
    if (fclose(m) || len < (format == FMT_TSV ? 1u : 2u)) {
        free(buf);
        return NULL;
    }
    if (format == FMT_TSV) {
        buf[len - 1] = 0;
    } else {
        memmove(buf, buf + 1, len - 2);
        buf[len - 2] = 0;
    }
    return buf;
}
