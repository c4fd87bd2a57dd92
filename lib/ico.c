/* ico.c: a Windows icon as Pillow 9.4's IcoImagePlugin reads it, then convert("RGB").
 *
 * Pillow opens the directory's largest entry: the most pixels by the directory's width x height
 * (0 meaning 256), then the greatest colour depth (its bit count, else the bits its colour count
 * needs, else 256), then the last of equals. The entry is a PNG (read as any PNG, whatever the
 * directory says of its size) or a DIB: a BMP without its file header, its pixels right after
 * its palette, its height counting the AND mask below the image (halved; bmp.c). The mask, or a
 * 32-bit entry's fourth bytes, becomes an alpha channel that convert("RGB") drops; but Pillow
 * reads it first, so a file cut short of it is refused. An icon keeps no EXIF orientation. */
#include "image_decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"

typedef struct {
    uint64_t square;           /* width x height as the directory gives them */
    uint32_t depth;            /* the colour depth Pillow ranks equal squares by */
    uint32_t bpp, size, offset; /* the directory's bit count, and where the image lies */
} ico_entry;

static ico_entry ico_read_entry(const uint8_t *e)
{
    uint32_t w = e[0] ? e[0] : 256, h = e[1] ? e[1] : 256, colors = e[2];
    ico_entry r = {(uint64_t)w * h, 0, le16(e + 6), le32(e + 8), le32(e + 12)};
    /* the bits a colour count needs, as Pillow computes them: ceil(log(n) / log(2)) in double */
    uint32_t from_colors = colors ? (uint32_t)ceil(log((double)colors) / log(2.0)) : 0;
    r.depth = r.bpp ? r.bpp : from_colors ? from_colors : 256;
    return r;
}

/* Pillow reads the mask that follows the image: 4 bytes a pixel from the pixel data for a 32-bit
 * entry, else 1 bit a pixel, rows of 32-bit words, ending where the directory says the entry
 * ends; its raw decoder stops after the last row's bits, so that row's padding may be missing. */
static int ico_has_mask(const ico_entry *e, uint64_t data_at, size_t n, const align_image *img)
{
    uint64_t w = (uint64_t)img->width, h = (uint64_t)img->height;
    if (e->bpp == 32) return data_at <= n && (n - data_at) / 4 / w >= h;
    uint64_t stride = (w + 31) / 32 * 4, bytes = stride * h, end = (uint64_t)e->offset + e->size;
    return end >= bytes && end - bytes <= n && n - (end - bytes) >= bytes - stride + (w + 7) / 8;
}

/* The entry's DIB, at its offset. */
static align_status ico_dib(const uint8_t *p, size_t n, const ico_entry *e, const char *name, uint64_t max_pixels,
                            align_image *out, align_error *err)
{
    uint64_t data_at;
    align_status s = bmp_decode_dib(p + e->offset, n - e->offset, name, max_pixels, DIB_HALF_HEIGHT | DIB_STREAMED, out,
                                    &data_at, err);
    if (s || ico_has_mask(e, e->offset + data_at, n, out)) return s;
    align_image_free(out);
    return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated ICO (the image's %s cut short)", name,
                      e->bpp == 32 ? "alpha" : "AND mask");
}

align_status ico_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    unsigned count = n >= 6 ? le16(p + 4) : 0;
    if (!count) return tga_or_refuse(p, n, name, max_pixels, out, err, "an ICO without images");
    if ((n - 6) / 16 < count) return tga_or_refuse(p, n, name, max_pixels, out, err, "truncated ICO directory");
    ico_entry best = ico_read_entry(p + 6);
    for (unsigned i = 1; i < count; i++) {
        ico_entry e = ico_read_entry(p + 6 + 16 * (size_t)i);
        if (e.square > best.square || (e.square == best.square && e.depth >= best.depth)) best = e;
    }
    if (best.offset >= n || n - best.offset < 4)
        return tga_or_refuse(p, n, name, max_pixels, out, err, "truncated ICO (its image starts past the end)");
    if (n - best.offset >= 8 && memcmp(p + best.offset, "\x89PNG\r\n\x1a\n", 8) == 0)
        return stb_decode_png(p + best.offset, n - best.offset, name, max_pixels, out, err);
    return ico_dib(p, n, &best, name, max_pixels, out, err);
}
