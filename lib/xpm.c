/* xpm.c: X11 pixmaps (XPM: C source of quoted strings, its first 9 bytes the comment " XPM ") as
 * Pillow 9.4's XpmImagePlugin reads them, then convert("RGB"). Pillow reads lines, not C: the
 * first line from byte 9 on that starts with '"' and four numbers each after one space (width,
 * height, colours, characters per pixel) is the header; it takes one character per pixel and at
 * most 256 colours. Each of the next lines is a colour: its second byte the character, its text
 * from the third byte to two before the line's end (its '\n' or "\r\n" dropped) split at
 * whitespace into key and value pairs, the first "c" key's value taken: "None" (the slot keeps its
 * colour, black unless set before), or '#' and a hexadecimal number as Python's int() reads it
 * (sign, "0x" and '_' allowed, any length: its low 24 bits are the colour); a colour name or no
 * "c" key is refused. Each of the next height lines is a row: its bytes from the second on, as
 * many as the width (quote, comma and line end included when the line is short), padded with
 * spaces, each byte an index into the 256 colours (black where none was given); a missing line is
 * a row of spaces. */
#include "image_decode.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image_limits.h"
#include "memory.h"
#include "pyint.h"

/* Python's file position and readline(): a line ends after its '\n' or at the end of the file. */
typedef struct {
    const uint8_t *p;
    size_t n, pos;
} xpm_file;

static size_t xpm_line(xpm_file *f, const uint8_t **line)
{
    const uint8_t *nl = memchr(f->p + f->pos, '\n', f->n - f->pos);
    size_t len = nl ? (size_t)(nl - (f->p + f->pos)) + 1 : f->n - f->pos;
    *line = f->p + f->pos;
    f->pos += len;
    return len;
}

/* One of the header's numbers: digits (perhaps none) saturated far above any size allowed; *i
 * moves past them. 0 if there were none, which Python's int() refuses. */
static int xpm_number(const uint8_t *s, size_t len, size_t *i, uint64_t *v)
{
    size_t from = *i;
    for (*v = 0; *i < len && s[*i] >= '0' && s[*i] <= '9'; ++*i) *v = *v > UINT32_MAX ? *v : *v * 10 + (s[*i] - '0');
    return *i > from;
}

/* The header line, '"' and four numbers each after one space, as Pillow's regular expression
 * matches it: -1 if the line is not it, 0 if it is but a number is empty, else 1. */
static int xpm_header(const uint8_t *s, size_t len, uint64_t v[4])
{
    if (len < 1 || s[0] != '"') return -1;
    size_t i = 1;
    int all = 1;
    for (int k = 0; k < 4; k++) {
        if (k && (i >= len || s[i++] != ' ')) return -1;
        all &= xpm_number(s, len, &i, &v[k]);
    }
    return all;
}

/* The next whitespace-separated token of s[*i..len), as bytes.split() finds it; 0 (and an empty
 * token) at the end. */
static int xpm_token(const uint8_t *s, size_t len, size_t *i, const uint8_t **tok, size_t *tok_len)
{
    while (*i < len && py_space(s[*i])) ++*i;
    size_t start = *i;
    while (*i < len && !py_space(s[*i])) ++*i;
    *tok = s + start, *tok_len = *i - start;
    return *tok_len > 0;
}

/* A "c" key's value into the palette slot. */
static align_status xpm_value(const uint8_t *value, size_t len, uint8_t slot[3], const char *name, align_error *err)
{
    if (len == 4 && memcmp(value, "None", 4) == 0) return ALIGN_OK;
    /* Pillow takes int(value[1:], 16) and keeps its low 24 bits (of the two's complement, when
     * negative) */
    long long number;
    unsigned long long rgb;
    if (value[0] != '#' || !py_int(value + 1, len - 1, 16, &number, &rgb))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: unsupported XPM colour \"%.*s\" (Pillow 9.4 reads only "
                          "#rrggbb and None)", name, len > 40 ? 40 : (int)len, (const char *)value);
    slot[0] = (uint8_t)(rgb >> 16), slot[1] = (uint8_t)(rgb >> 8), slot[2] = (uint8_t)rgb;
    return ALIGN_OK;
}

/* One colour line into the palette. */
static align_status xpm_colour(const uint8_t *s, size_t len, uint8_t palette[256][3], const char *name,
                               align_error *err)
{
    if (len >= 2 && s[len - 2] == '\r' && s[len - 1] == '\n') len -= 2;
    else if (len >= 1 && (s[len - 1] == '\r' || s[len - 1] == '\n')) len -= 1;
    if (len < 2) return align_fail(err, ALIGN_ERR_FORMAT, "%s: broken XPM (a colour line too short)", name);
    size_t end = len >= 4 ? len - 2 : 2, i = 2, key_len, value_len;
    const uint8_t *key, *value;
    while (xpm_token(s, end, &i, &key, &key_len)) {
        int has_value = xpm_token(s, end, &i, &value, &value_len);
        if (key_len != 1 || key[0] != 'c') continue;
        if (!has_value) return align_fail(err, ALIGN_ERR_FORMAT, "%s: broken XPM (a \"c\" key without a colour)", name);
        return xpm_value(value, value_len, palette[s[1]], name, err);
    }
    return align_fail(err, ALIGN_ERR_FORMAT, "%s: unsupported XPM (a colour line without a \"c\" key)", name);
}

/* The header line: the first from byte 9 on that matches. */
static align_status xpm_find_header(xpm_file *f, const char *name, uint64_t v[4], align_error *err)
{
    for (;;) {
        const uint8_t *line;
        size_t len = xpm_line(f, &line);
        if (!len) return align_fail(err, ALIGN_ERR_FORMAT, "%s: broken XPM (no header line)", name);
        int got = xpm_header(line, len, v);
        if (got == 0) return align_fail(err, ALIGN_ERR_FORMAT, "%s: broken XPM (a number missing in its header)", name);
        if (got > 0) return ALIGN_OK;
    }
}

static void xpm_rows(xpm_file *f, int w, int h, const uint8_t palette[256][3], uint8_t *rgb)
{
    for (size_t y = 0; y < (size_t)h; y++) {
        const uint8_t *line;
        size_t len = xpm_line(f, &line);
        uint8_t *out = rgb + y * (size_t)w * 3;
        for (size_t x = 0; x < (size_t)w; x++) memcpy(out + x * 3, palette[x + 1 < len ? line[x + 1] : ' '], 3);
    }
}

align_status xpm_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    xpm_file f = {p, n, 9};
    uint64_t v[4];
    align_status s = xpm_find_header(&f, name, v, err);
    if (s) return s;
    if (v[2] > 256 || v[3] != 1)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: unsupported XPM (%llu colours of %llu characters; Pillow 9.4 "
                          "reads up to 256 of 1)", name, (unsigned long long)v[2], (unsigned long long)v[3]);
    uint8_t palette[256][3] = {{0}};
    for (unsigned i = 0; i < v[2]; i++) {
        const uint8_t *line;
        size_t len = xpm_line(&f, &line);
        if ((s = xpm_colour(line, len, palette, name, err))) return s;
    }
    if (v[0] > INT_MAX || v[1] > INT_MAX) return image_over_limit(name, v[0], v[1], max_pixels, err);
    if ((s = image_check_size(name, "XPM", (int)v[0], (int)v[1], max_pixels, err))) return s;
    uint8_t *rgb = big_malloc((size_t)v[0] * v[1] * 3);
    if (!rgb) return image_out_of_memory(name, (int)v[0], (int)v[1], err);
    xpm_rows(&f, (int)v[0], (int)v[1], (const uint8_t(*)[3])palette, rgb);
    out->rgb = rgb, out->width = (int)v[0], out->height = (int)v[1];
    return ALIGN_OK;
}
