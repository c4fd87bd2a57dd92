/* ftex.c: Independence War 2 textures (.ftc, .ftu) as Pillow 9.4's FtexImagePlugin reads them, then
 * convert("RGB").
 *
 * Little-endian int32s: "FTEX", a version, the width and height, a mipmap count and a format
 * count, which must be 1; then the one format's kind (0 DXT1, 1 RGB) and where its data starts:
 * the first mipmap's length, then its bytes (a length of -1: the rest of the file). DXT1 is
 * decoded by bcn.c (Pillow's BCn decoder), RGB is raw, 3 bytes a pixel. Where Pillow's open runs
 * out of header, the file is no FTEX to it and it tries the other formats: of those after FTEX,
 * only the GIMP brush's test can pass on an FTEX header. A side of 0 or less is found later, when
 * the plugin has closed the file, so the next format's test fails on it: refused. */
#include "image_decode.h"

#include <stdlib.h>
#include <string.h>

#include "bcn.h"
#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"

enum { FTEX_DXT1 = 0, FTEX_RGB = 1 };

static align_status ftex_not_ftex(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels,
                                  align_image *out, align_error *err, const char *why)
{
    if (gbr_opens(p, n)) return gbr_decode(p, n, name, max_pixels, out, err);
    return align_fail(err, ALIGN_ERR_FORMAT, "%s: %s", name, why);
}

static void ftex_dxt1(const uint8_t *data, size_t w, size_t h, uint8_t *rgb)
{
    uint8_t px[16][4];
    for (size_t by = 0; by < h; by += 4)
        for (size_t bx = 0; bx < w; bx += 4, data += 8) {
            bcn_decode_block(BCN_BC1, data, px);
            for (size_t y = by; y < by + 4 && y < h; y++)
                for (size_t x = bx; x < bx + 4 && x < w; x++)
                    memcpy(rgb + 3 * (y * w + x), px[4 * (y - by) + x - bx], 3);
        }
}

align_status ftex_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                         align_error *err)
{
    if (n < 24) return ftex_not_ftex(p, n, name, max_pixels, out, err, "FTEX header cut short");
    int32_t w = (int32_t)le32(p + 8), h = (int32_t)le32(p + 12), formats = (int32_t)le32(p + 20);
    if (formats != 1) /* Pillow asserts it */
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: FTEX of %ld formats (Pillow reads files of one)", name,
                          (long)formats);
    if (n < 32) return ftex_not_ftex(p, n, name, max_pixels, out, err, "FTEX format directory cut short");
    int32_t format = (int32_t)le32(p + 24), where = (int32_t)le32(p + 28);
    if (where < 0) return align_fail(err, ALIGN_ERR_FORMAT, "%s: FTEX data at a negative offset", name);
    if ((size_t)where > n || n - (size_t)where < 4)
        return ftex_not_ftex(p, n, name, max_pixels, out, err, "FTEX data starts past the end");
    int32_t length = (int32_t)le32(p + where);
    if (length < -1) /* a file's read takes no other negative length */
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: FTEX data of length %ld", name, (long)length);
    size_t data_at = (size_t)where + 4, got = n - data_at;
    if (length >= 0 && (size_t)length < got) got = (size_t)length;
    if (format != FTEX_DXT1 && format != FTEX_RGB)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: FTEX format %ld, which Pillow 9.4 does not read", name,
                          (long)format);
    align_status s = image_check_size(name, "FTEX", w, h, max_pixels, err);
    if (s) return s;
    size_t uw = (size_t)w, uh = (size_t)h;
    uint64_t need = format == FTEX_RGB ? (uint64_t)uw * uh * 3 : (uint64_t)((uw + 3) / 4) * ((uh + 3) / 4) * 8;
    if (got < need) return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated FTEX (pixel data cut short)", name);
    uint8_t *rgb = big_malloc(uw * uh * 3);
    if (!rgb) return image_out_of_memory(name, w, h, err);
    if (format == FTEX_RGB) memcpy(rgb, p + data_at, uw * uh * 3);
    else ftex_dxt1(p + data_at, uw, uh, rgb);
    out->rgb = rgb, out->width = w, out->height = h;
    return ALIGN_OK;
}
