/* spider.c: SPIDER images (electron microscopy's 32-bit floats) as Pillow 9.4's SpiderImagePlugin
 * reads them, then convert("RGB") (mode F, clipped: pil_convert.h).
 *
 * A SPIDER file has no signature: its header is 32-bit floats, numbered from 1, read big-endian
 * and, if that is no header, little-endian. Pillow takes it for one when floats 1, 2, 5, 12, 13,
 * 22 and 23 are whole numbers, 5 (the kind) is one of 1, 3, -11, -12, -21, -22, and 22 (the
 * header's length, not 0) is 13 times 23; it opens it as an image when the kind is 1, float 12
 * is the width and 2 the height, and floats 24 and 27 (stack, image number; read as int() reads
 * a float) say a lone image (the pixels after the header) or a stack (the first image's after a
 * second header). The 27 floats must be in the file. Pillow tries the plugin after all its
 * plugins but SUN, TGA, WEBP, WMF, XBM and XPM, and goes on to those when this one gives up. */
#include "image_decode.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"
#include "pil_convert.h"

#define SPIDER_FLOATS 27

typedef struct {
    double f[SPIDER_FLOATS + 1]; /* f[1..27]: numbered as SPIDER numbers them */
    int little;
    double w, h, data_at;
    const char *refused; /* Pillow's plugin raises an error Image.open does not go past */
} spider_header;

static float spider_float(const uint8_t *p, int little)
{
    uint32_t bits = rd32(p, little);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static int whole(double v) { return isfinite(v) && v == trunc(v); }

/* Pillow's header test: the header's length, 0 when it is no header. */
static double spider_length(const uint8_t *p, int little, spider_header *s)
{
    s->little = little;
    for (int i = 1; i <= SPIDER_FLOATS; i++) s->f[i] = spider_float(p + 4 * (i - 1), little);
    static const int whole_floats[] = {1, 2, 5, 12, 13, 22, 23};
    for (size_t i = 0; i < sizeof whole_floats / sizeof whole_floats[0]; i++)
        if (!whole(s->f[whole_floats[i]])) return 0;
    double kind = s->f[5];
    if (kind != 1 && kind != 3 && kind != -11 && kind != -12 && kind != -21 && kind != -22) return 0;
    /* floats' products are exact in double */
    return s->f[22] == s->f[13] * s->f[23] ? s->f[22] : 0;
}

/* 1 when Pillow's plugin opens the file as SPIDER (s says how, or why it refuses it), 0 when it
 * gives up and Image.open tries the next plugins. */
static int spider_header_read(const uint8_t *p, size_t n, spider_header *s)
{
    memset(s, 0, sizeof *s);
    if (n < 4 * SPIDER_FLOATS) return 0;
    double length = spider_length(p, 0, s);
    if (length == 0) length = spider_length(p, 1, s);
    if (length == 0 || s->f[5] != 1) return 0;
    s->w = s->f[12], s->h = s->f[2];
    double stack = trunc(s->f[24]), image = trunc(s->f[27]);
    if (!isfinite(stack) || !isfinite(image)) {
        s->refused = "SPIDER stack or image number is not a number";
        return 1;
    }
    if (stack == 0 && image == 0) {
        s->data_at = length;
    } else if (stack > 0 && image == 0) {
        if (!isfinite(s->f[26])) s->refused = "SPIDER stack's image count is not a number";
        s->data_at = 2 * length; /* the first image's own header comes first */
    } else if (stack == 0 && image > 0) {
        s->refused = "SPIDER image of a stack, which Pillow cannot open alone";
    } else {
        return 0;
    }
    return s->refused || (s->w > 0 && s->h > 0);
}

int spider_opens(const uint8_t *p, size_t n)
{
    spider_header s;
    return spider_header_read(p, n, &s);
}

align_status spider_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                           align_error *err)
{
    spider_header s;
    if (!spider_header_read(p, n, &s)) return align_fail(err, ALIGN_ERR_FORMAT, "%s: not a SPIDER image", name);
    if (s.refused) return align_fail(err, ALIGN_ERR_FORMAT, "%s: %s", name, s.refused);
    if (s.w > (double)max_pixels || s.h > (double)max_pixels || s.w > INT_MAX || s.h > INT_MAX) /* sides of any float's size */
        return align_fail(err, ALIGN_ERR_LIMIT, "%s: %.0f x %.0f pixels is over the limit of %llu", name, s.w, s.h,
                          (unsigned long long)max_pixels);
    align_status st = image_check_size(name, "SPIDER", (int)s.w, (int)s.h, max_pixels, err);
    if (st) return st;
    size_t w = (size_t)s.w, h = (size_t)s.h;
    if (s.data_at < 0) return align_fail(err, ALIGN_ERR_FORMAT, "%s: SPIDER header of a negative length", name);
    if (s.data_at > (double)n || (double)n - s.data_at < 4.0 * (double)(w * h))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: SPIDER data cut short", name);
    uint8_t *rgb = big_malloc(w * h * 3);
    if (!rgb) return image_out_of_memory(name, (int)w, (int)h, err);
    const uint8_t *data = p + (size_t)s.data_at;
    for (size_t i = 0; i < w * h; i++) {
        uint8_t v = pil_float_level(spider_float(data + 4 * i, s.little));
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = v;
    }
    out->rgb = rgb, out->width = (int)w, out->height = (int)h;
    return ALIGN_OK;
}
