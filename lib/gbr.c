/* gbr.c: GIMP brushes as Pillow 9.4's GbrImagePlugin reads them, then convert("RGB"): versions 1
 * and 2, grey (1 byte a pixel) or RGBA (4, the alpha dropped), raw after the header. The header's
 * big-endian words: its length (at least 20), the version, the width, the height and the bytes a
 * pixel; version 2 adds "GIMP" and the spacing. The pixels start where the header's length says;
 * where that leaves a version 2 header no room (under 28), Pillow reads the comment to the end of
 * the file and has no pixels left. A GBR has no signature: gbr_opens is Pillow's test, and
 * image_decode.c's sniff() decides where in the formats' order it comes. */
#include "image_decode.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"

int gbr_opens(const uint8_t *p, size_t n)
{
    if (n < 20) return 0;
    uint32_t header = be32(p), version = be32(p + 4), depth = be32(p + 16);
    if (header < 20 || (version != 1 && version != 2) || !be32(p + 8) || !be32(p + 12)) return 0;
    if (depth != 1 && depth != 4) return 0;
    return version == 1 || (n >= 28 && memcmp(p + 20, "GIMP", 4) == 0); /* and the spacing after it */
}

align_status gbr_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    if (!gbr_opens(p, n)) return align_fail(err, ALIGN_ERR_FORMAT, "%s: not a GIMP brush", name);
    uint32_t header = be32(p), version = be32(p + 4), w = be32(p + 8), h = be32(p + 12), depth = be32(p + 16);
    if (w > INT_MAX || h > INT_MAX) return image_over_limit(name, w, h, max_pixels, err);
    align_status s = image_check_size(name, "GBR", (int)w, (int)h, max_pixels, err);
    if (s) return s;
    size_t pixels = (size_t)w * h;
    int has_data = version == 1 || header >= 28;
    if (!has_data || header > n || (n - header) / depth < pixels)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: GBR pixel data cut short", name);
    uint8_t *rgb = big_malloc(pixels * 3);
    if (!rgb) return image_out_of_memory(name, (int)w, (int)h, err);
    const uint8_t *src = p + header;
    for (size_t i = 0; i < pixels; i++, src += depth) {
        uint8_t *o = rgb + 3 * i;
        if (depth == 1)
            o[0] = o[1] = o[2] = src[0];
        else
            memcpy(o, src, 3);
    }
    out->rgb = rgb, out->width = (int)w, out->height = (int)h;
    return ALIGN_OK;
}
