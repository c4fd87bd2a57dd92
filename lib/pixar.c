/* pixar.c: PIXAR raster files as Pillow 9.4's PixarImagePlugin reads them, then convert("RGB"): only the
 * kind Photoshop wrote, 8-bit RGB ("dumped", pixel by pixel, top row first at byte 1024). The 512-byte
 * header keeps the size as little-endian words (height at 416, width at 418) and the channels and depth
 * at 424 and 426, which must say 14 and 2; Pillow reads nothing else of it. A file it cannot take for
 * such an image no later plugin of Pillow's claims either. */
#include "image_decode.h"

#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"

#define PIXAR_HEADER_USED 428
#define PIXAR_DATA 1024

align_status pixar_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                          align_error *err)
{
    if (n < PIXAR_HEADER_USED) return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated PIXAR header", name);
    if (le16(p + 424) != 14 || le16(p + 426) != 2)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: PIXAR image of other than 8-bit RGB (channels %u, depth %u)",
                          name, le16(p + 424), le16(p + 426));
    int w = (int)le16(p + 418), h = (int)le16(p + 416);
    align_status s = image_check_size(name, "PIXAR", w, h, max_pixels, err);
    if (s) return s;
    size_t bytes = (size_t)w * (size_t)h * 3;
    if (n < PIXAR_DATA || n - PIXAR_DATA < bytes) return align_fail(err, ALIGN_ERR_FORMAT, "%s: PIXAR data cut short", name);
    uint8_t *rgb = big_malloc(bytes);
    if (!rgb) return image_out_of_memory(name, w, h, err);
    memcpy(rgb, p + PIXAR_DATA, bytes);
    out->rgb = rgb, out->width = w, out->height = h;
    return ALIGN_OK;
}
