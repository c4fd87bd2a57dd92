/* xbm.c: X11 bitmaps (XBM: "#define name_width 16" C text, then hex bytes) as Pillow 9.4's
 * XbmImagePlugin and its xbm decoder read them, then convert("RGB"). Pillow matches a regular
 * expression against the file's first 512 bytes: optional whitespace, a "#define ..._width N"
 * line and a "#define ..._height N" line (each a line of its own, the number last on it), an
 * optional hotspot pair (which changes no pixel), then anything up to the last "_bits[]" in those
 * 512 bytes, where the data starts. Its decoder then takes, for each byte, the next 'x' and the two
 * characters after it as hex digits (anything else counting as 0), rows padded to whole bytes,
 * the lowest bit leftmost, a set bit white. Too few 'x's is a truncated file. The regular
 * expression's backtracking is followed where it decides which "_width" or "_height" a line's
 * number belongs to. */
#include "image_decode.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image_limits.h"
#include "memory.h"
#include "pyint.h"

/* Pillow matches its header in the first 512 bytes it reads. */
#define XBM_HEAD 512

/* Python's \s in a bytes pattern. */
static int xbm_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* A decimal number, saturated far above any size that could pass the pixel limit. */
static uint64_t xbm_number(const uint8_t *s, size_t len)
{
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) v = v > UINT32_MAX ? v : v * 10 + (s[i] - '0');
    return v;
}

/* The header text and the last "_bits[]" in it, after which the data starts (SIZE_MAX: none). */
typedef struct {
    const uint8_t *p;
    size_t n, bits_at;
} xbm_head;

/* "_<suffix>[ \t]+[0-9]+[\r\n]+" at k, the number's value and where the match ends; 0 if none. */
static int xbm_value(const xbm_head *h, size_t k, const char *suffix, uint64_t *v, size_t *end)
{
    size_t len = strlen(suffix), i = k + 1 + len;
    if (h->n - k < 1 + len || h->p[k] != '_' || memcmp(h->p + k + 1, suffix, len)) return 0;
    size_t blanks = i;
    while (i < h->n && (h->p[i] == ' ' || h->p[i] == '\t')) i++;
    size_t digits = i;
    while (i < h->n && xbm_digit(h->p[i])) i++;
    size_t stop = i;
    while (i < h->n && (h->p[i] == '\r' || h->p[i] == '\n')) i++;
    if (digits == blanks || stop == digits || i == stop) return 0;
    *v = xbm_number(h->p + digits, stop - digits);
    *end = i;
    return 1;
}

/* The "#define[ \t]+" at `at` and the end of the line that `.*` may span (up to a '\n'): the
 * range of positions k where "_<suffix>" may start. 0 if no "#define" is there. */
static int xbm_define(const xbm_head *h, size_t at, size_t *first, size_t *last)
{
    if (h->n - at < 8 || memcmp(h->p + at, "#define", 7) || (h->p[at + 7] != ' ' && h->p[at + 7] != '\t'))
        return 0;
    *first = at + 8;
    const uint8_t *nl = memchr(h->p + *first, '\n', h->n - *first);
    *last = nl ? (size_t)(nl - h->p) : h->n;
    return 1;
}

/* The height line from `at` on, its candidates tried as the regular expression's greedy `.*`
 * tries them (the last first): the first followed by a "_bits[]" is the one. */
static int xbm_height(const xbm_head *h, size_t at, uint64_t *height)
{
    size_t first, last, end;
    if (!xbm_define(h, at, &first, &last)) return 0;
    for (size_t k = last; k-- > first;)
        if (xbm_value(h, k, "height", height, &end) && h->bits_at != SIZE_MAX && end <= h->bits_at) return 1;
    return 0;
}

/* The whole header: each width candidate (the last first) with the height line after it. */
static int xbm_header(const xbm_head *h, uint64_t *width, uint64_t *height)
{
    size_t at = 0, first, last, end;
    while (at < h->n && py_space(h->p[at])) at++;
    if (!xbm_define(h, at, &first, &last)) return 0;
    for (size_t k = last; k-- > first;)
        if (xbm_value(h, k, "width", width, &end) && xbm_height(h, end, height)) return 1;
    return 0;
}

/* Where the last "_bits[]" in the header text starts, or SIZE_MAX. */
static size_t xbm_last_bits(const uint8_t *p, size_t n)
{
    for (size_t i = n >= 7 ? n - 7 + 1 : 0; i-- > 0;)
        if (memcmp(p + i, "_bits[]", 7) == 0) return i;
    return SIZE_MAX;
}

static unsigned xbm_hex(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 0;
}

/* The bytes of the rows, each after the next 'x', into RGB (the lowest bit leftmost, set white). */
static align_status xbm_pixels(const uint8_t *p, size_t n, size_t at, const char *name, int w, int h,
                               uint8_t *rgb, align_error *err)
{
    size_t row_bytes = ((size_t)w + 7) / 8;
    for (size_t y = 0; y < (size_t)h; y++)
        for (size_t b = 0; b < row_bytes; b++) {
            const uint8_t *x = at < n ? memchr(p + at, 'x', n - at) : NULL;
            if (!x || (size_t)(p + n - x) < 3)
                return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated XBM (%zu of %zu bytes)", name,
                                  y * row_bytes + b, row_bytes * h);
            unsigned byte = xbm_hex(x[1]) << 4 | xbm_hex(x[2]);
            at = (size_t)(x - p) + 3;
            for (size_t i = 0; i < 8 && b * 8 + i < (size_t)w; i++)
                memset(rgb + (y * w + b * 8 + i) * 3, byte >> i & 1 ? 255 : 0, 3);
        }
    return ALIGN_OK;
}

align_status xbm_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    xbm_head head = {p, n < XBM_HEAD ? n : XBM_HEAD, 0};
    head.bits_at = xbm_last_bits(p, head.n);
    uint64_t width, height;
    /* Pillow goes on to the plugins after XBM's, XPM and XVThumb, whose signatures such a file lacks */
    if (!xbm_header(&head, &width, &height))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: not an XBM (no width, height and _bits[] in its first "
                          "512 bytes)", name);
    if (width > INT_MAX || height > INT_MAX) return image_over_limit(name, width, height, max_pixels, err);
    align_status s = image_check_size(name, "XBM", (int)width, (int)height, max_pixels, err);
    if (s) return s;
    size_t at = head.bits_at + 7, row_bytes = (width + 7) / 8;
    if ((n - at) / 3 / row_bytes < height) /* each byte takes 3 characters at least */
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated XBM (its data is too short for %llu x %llu "
                          "pixels)", name, (unsigned long long)width, (unsigned long long)height);
    uint8_t *rgb = big_malloc((size_t)width * height * 3);
    if (!rgb) return image_out_of_memory(name, (int)width, (int)height, err);
    if ((s = xbm_pixels(p, n, at, name, (int)width, (int)height, rgb, err))) {
        free(rgb);
        return s;
    }
    out->rgb = rgb, out->width = (int)width, out->height = (int)height;
    return ALIGN_OK;
}
