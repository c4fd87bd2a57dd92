/* xvthumb.c: the thumbnails John Bradley's XV keeps (".xvpics"), as Pillow 9.4's XVThumbImagePlugin reads
 * them, then convert("RGB"). "P7 332", the rest of that line, comment lines starting '#', then a line whose
 * first two words are the width and the height (Python integers); the pixels follow it, a byte each, top
 * row first, indices into XV's fixed 3-3-2 palette (red in the top 3 bits, blue in the low 2). Pillow tries
 * XV thumbnails last, so a file it cannot read as one is no image to it. */
#include "image_decode.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image_limits.h"
#include "memory.h"
#include "pyint.h"

#define XV_MAGIC 6

/* bytes.split()'s whitespace */
/* The line starting at *at (up to and with its '\n', or the end): its end, or 0 at the end of the file. */
static size_t xv_line_end(const uint8_t *p, size_t n, size_t at)
{
    if (at >= n) return 0;
    const uint8_t *nl = memchr(p + at, '\n', n - at);
    return nl ? (size_t)(nl - p) + 1 : n;
}

/* The next word of s[*i..end) */
static int xv_word(const uint8_t *s, size_t end, size_t *i, size_t *start)
{
    while (*i < end && py_space(s[*i])) ++*i;
    *start = *i;
    while (*i < end && !py_space(s[*i])) ++*i;
    return *i > *start;
}

static void xv_to_rgb(const uint8_t *idx, size_t count, uint8_t *rgb)
{
    for (size_t i = 0; i < count; i++, rgb += 3) {
        unsigned v = idx[i];
        rgb[0] = (uint8_t)((v >> 5) * 255 / 7);
        rgb[1] = (uint8_t)((v >> 2 & 7) * 255 / 7);
        rgb[2] = (uint8_t)((v & 3) * 255 / 3);
    }
}

align_status xvthumb_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                            align_error *err)
{
    size_t at = xv_line_end(p, n, XV_MAGIC), end = at;
    while (end && (end = xv_line_end(p, n, at)) && p[at] == '#') at = end;
    if (!end) return align_fail(err, ALIGN_ERR_FORMAT, "%s: XV thumbnail header cut short", name);
    size_t i = at, ws, hs;
    if (!xv_word(p, end, &i, &ws)) return align_fail(err, ALIGN_ERR_FORMAT, "%s: XV thumbnail without a size", name);
    size_t wl = i - ws;
    if (!xv_word(p, end, &i, &hs)) return align_fail(err, ALIGN_ERR_FORMAT, "%s: XV thumbnail without a height", name);
    long long w, h;
    if (!py_int(p + ws, wl, 10, &w, NULL) || !py_int(p + hs, i - hs, 10, &h, NULL))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: XV thumbnail size is not a number", name);
    if (w < 1 || h < 1) return align_fail(err, ALIGN_ERR_FORMAT, "%s: XV thumbnail of no pixels", name);
    if (w > INT_MAX || h > INT_MAX) return image_over_limit(name, (uint64_t)w, (uint64_t)h, max_pixels, err);
    align_status s = image_check_size(name, "XV thumbnail", (int)w, (int)h, max_pixels, err);
    if (s) return s;
    size_t count = (size_t)w * (size_t)h;
    if (n - end < count) return align_fail(err, ALIGN_ERR_FORMAT, "%s: XV thumbnail data cut short", name);
    uint8_t *rgb = big_malloc(count * 3);
    if (!rgb) return image_out_of_memory(name, (int)w, (int)h, err);
    xv_to_rgb(p + end, count, rgb);
    out->rgb = rgb, out->width = (int)w, out->height = (int)h;
    return ALIGN_OK;
}
