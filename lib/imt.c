/* imt.c: IM Tools images as Pillow 9.4's ImtImagePlugin reads them, then convert("RGB"): a text
 * header of lines "width N", "height N" and "pixel n8" (8-bit grey; no other kind is read),
 * comment lines starting '*', then a form feed and the rows of raw grey bytes, top row first.
 *
 * Pillow's plugin has no signature test, so it is tried on every file its earlier plugins leave
 * (imt_opens says whether it takes one). It needs a line feed in the first 100 bytes, then reads
 * line by line, stopping at a form feed starting a line (the pixels follow it), at a line of one
 * byte or of over 100, or at a line not of a lower-case key, a space and a value; the last width
 * and height given count. A width or height Python's int() cannot parse is an error Pillow does
 * not catch: the file is refused then and there, by no other plugin. Without "pixel n8" or a
 * positive size it is not an IM Tools file; without the form feed it has no pixels to load. */
#include "image_decode.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image_limits.h"
#include "memory.h"
#include "pyint.h"

#define IMT_LINE_MAX 100

typedef struct {
    long long width, height;
    int grey;          /* "pixel n8" seen */
    int bad_number;    /* a width or height int() refuses: Pillow refuses the file */
    size_t data_at;    /* where the pixels start; 0: no form feed */
} imt_header;

/* Python's int() of bytes in base 10: whitespace around it stripped first. */
static int imt_int(const uint8_t *s, size_t len, long long *v)
{
    size_t i = 0;
    while (i < len && py_space(s[i])) i++;
    while (len > i && py_space(s[len - 1])) len--;
    return py_int(s + i, len - i, 10, v, NULL);
}

/* One header line s[0..len): 0 when Pillow stops reading there. */
static int imt_line(const uint8_t *s, size_t len, imt_header *h)
{
    if (len == 1 || len > IMT_LINE_MAX) return 0;
    if (s[0] == '*') return 1;
    size_t k = 0;
    while (k < len && s[k] >= 'a' && s[k] <= 'z') k++;
    if (k == len || s[k] != ' ') return 0;
    const uint8_t *v = s + k + 1;
    size_t vlen = 0;
    while (k + 1 + vlen < len && v[vlen] != ' ' && v[vlen] != '\r' && v[vlen] != '\n') vlen++;
    long long *side = k == 5 && !memcmp(s, "width", 5) ? &h->width : k == 6 && !memcmp(s, "height", 6) ? &h->height : NULL;
    if (side && !imt_int(v, vlen, side)) {
        h->bad_number = 1;
        return 0;
    }
    if (k == 5 && !memcmp(s, "pixel", 5) && vlen == 2 && !memcmp(v, "n8", 2)) h->grey = 1;
    return 1;
}

/* The length of the line at p[at]: from its first byte (a line feed there too) to the next line
 * feed or the end of the file; over IMT_LINE_MAX, Pillow stops there, so it is looked for no
 * further. */
static size_t imt_line_length(const uint8_t *p, size_t n, size_t at)
{
    size_t rest = n - at - 1, window = rest < IMT_LINE_MAX ? rest : IMT_LINE_MAX;
    const uint8_t *end = memchr(p + at + 1, '\n', window);
    if (end) return (size_t)(end - (p + at));
    return rest < IMT_LINE_MAX ? rest + 1 : IMT_LINE_MAX + 1;
}

/* The header as Pillow reads it; 0 when the file has no line feed in its first 100 bytes. */
static int imt_parse(const uint8_t *p, size_t n, imt_header *h)
{
    memset(h, 0, sizeof *h);
    if (!memchr(p, '\n', n < IMT_LINE_MAX ? n : IMT_LINE_MAX)) return 0;
    for (size_t at = 0; at < n;) {
        if (p[at] == '\f') {
            h->data_at = at + 1;
            break;
        }
        size_t len = imt_line_length(p, n, at);
        if (!imt_line(p + at, len, h)) break;
        at += len + 1;
    }
    return 1;
}

int imt_opens(const uint8_t *p, size_t n)
{
    imt_header h;
    if (!imt_parse(p, n, &h)) return 0;
    return h.bad_number || (h.grey && h.width > 0 && h.height > 0);
}

align_status imt_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    imt_header h;
    if (!imt_parse(p, n, &h) || (!h.bad_number && !(h.grey && h.width > 0 && h.height > 0)))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: not an IM Tools image", name);
    if (h.bad_number)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: IM Tools width or height not a number", name);
    if ((uint64_t)h.width > max_pixels / (uint64_t)h.height)
        return image_over_limit(name, (uint64_t)h.width, (uint64_t)h.height, max_pixels, err);
    if (h.width > INT_MAX || h.height > INT_MAX)
        return align_fail(err, ALIGN_ERR_LIMIT, "%s: IM Tools image of %lld x %lld pixels is too large", name,
                          (long long)h.width, (long long)h.height);
    if (!h.data_at)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: IM Tools header without the form feed its pixels follow", name);
    size_t w = (size_t)h.width, rows = (size_t)h.height;
    if ((n - h.data_at) / w < rows)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated IM Tools image (its pixels cut short)", name);
    uint8_t *rgb = big_malloc(w * rows * 3);
    if (!rgb) return image_out_of_memory(name, (int)w, (int)rows, err);
    const uint8_t *grey = p + h.data_at;
    for (size_t i = 0; i < w * rows; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = grey[i];
    out->rgb = rgb;
    out->width = (int)w;
    out->height = (int)rows;
    return ALIGN_OK;
}
