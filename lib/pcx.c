/* pcx.c: ZSoft Paintbrush (PCX) images as Pillow 9.4's PcxImagePlugin reads them, and Intel DCX
 * containers as its DcxImagePlugin does (the first page, read as a PCX), then convert("RGB").
 *
 * Pillow reads 1 bit in 1 plane (black and white), 1 bit in 2 or 4 planes (indices into the
 * header's 16-colour palette), version 5's 8 bits in 1 plane (indices into the 769-byte palette
 * that ends the file when it starts with 12, else grey) and 8 bits in 3 planes (RGB). Its quirks
 * are kept, since what Pillow gets wrong is what Hugging Face loads:
 *   - a row's planes lie `stride` bytes apart, the header's bytes per line ignored but for making
 *     an odd stride even; yet the unpackers take planes (width + 7) / 8 bytes (1-bit) or width
 *     bytes (RGB) apart, and the RLE decoder moves them there only when the row's length is no
 *     multiple of the width and exceeds it;
 *   - an 8-bit file of fewer than 769 bytes is refused (Pillow seeks before its start);
 *   - an RLE run past the end of a row is refused;
 *   - a DCX page of 8 bits has its palette at the end of the whole file and its data at offset 128
 *     of the whole file (Pillow seeks there from the file's start, not the page's). */
#include "image_decode.h"

#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"

#define PCX_HEADER 128
#define PCX_PALETTE 769 /* the marker 12, then 256 RGB entries */

typedef struct {
    int width, height;
    unsigned bits, planes;   /* bits 1 (planes 1, 2, 4) or 8 (planes 1: indexed, 3: RGB) */
    size_t stride, bytes;    /* a plane's bytes in the file; a row's, all planes */
    size_t data;             /* where the RLE data starts */
    uint8_t palette[256][3]; /* index to RGB, for all but RGB */
} pcx_info;

/* How a header fails: as Pillow's _open raising an error Image.open takes as "not this format",
 * or as one that refuses the file. */
typedef enum { PCX_OK, PCX_NOT, PCX_REFUSED } pcx_verdict;

/* The palette of an 8-bit image: the file's last 769 bytes if they start with 12, else grey
 * (Pillow's linear-grey check only decides between L and P, which give the same RGB). */
static void pcx_palette_8(const uint8_t *p, size_t n, pcx_info *t)
{
    const uint8_t *tail = p + n - PCX_PALETTE;
    for (int i = 0; i < 256; i++) {
        if (tail[0] == 12) memcpy(t->palette[i], tail + 1 + 3 * i, 3);
        else memset(t->palette[i], i, 3);
    }
}

/* The mode from bits, planes and version, with its palette; 0 where Pillow has none. */
static int pcx_mode(const uint8_t *h, const uint8_t *p, size_t n, pcx_info *t)
{
    unsigned version = h[1];
    t->bits = h[3], t->planes = h[65];
    if (t->bits == 1 && t->planes == 1) {
        memset(t->palette[0], 0, 3), memset(t->palette[1], 255, 3);
    } else if (t->bits == 1 && (t->planes == 2 || t->planes == 4)) {
        memcpy(t->palette, h + 16, 48);
    } else if (version == 5 && t->bits == 8 && t->planes == 1) {
        if (n >= PCX_PALETTE) pcx_palette_8(p, n, t);
    } else if (!(version == 5 && t->bits == 8 && t->planes == 3)) {
        return 0;
    }
    return 1;
}

/* The header at p + at (a PCX's 0, a DCX page's offset). */
static pcx_verdict pcx_header(const uint8_t *p, size_t n, size_t at, const char *name, pcx_info *t,
                              align_error *err)
{
    size_t avail = at < n ? n - at : 0;
    const uint8_t *h = p + at;
    if (avail < 68) return PCX_NOT; /* Pillow reads up to the bytes per line at 66 */
    if (h[0] != 10 || (h[1] != 0 && h[1] != 2 && h[1] != 3 && h[1] != 5)) return PCX_NOT;
    long x0 = (long)le16(h + 4), y0 = (long)le16(h + 6), x1 = (long)le16(h + 8) + 1, y1 = (long)le16(h + 10) + 1;
    if (x1 <= x0 || y1 <= y0) return PCX_NOT;
    t->width = (int)(x1 - x0), t->height = (int)(y1 - y0);
    if (!pcx_mode(h, p, n, t)) {
        align_fail(err, ALIGN_ERR_FORMAT, "%s: unsupported PCX (version %u, bits %u, planes %u)", name, h[1],
                   t->bits, t->planes);
        return PCX_REFUSED;
    }
    if (t->bits == 8 && t->planes == 1 && n < PCX_PALETTE) {
        align_fail(err, ALIGN_ERR_FORMAT, "%s: 8-bit PCX of fewer than %d bytes, which Pillow cannot read", name,
                   PCX_PALETTE);
        return PCX_REFUSED;
    }
    t->stride = ((size_t)t->width * t->bits + 7) / 8;
    if (le16(h + 66) != t->stride) t->stride += t->stride % 2;
    t->bytes = t->stride * t->planes;
    t->data = t->bits == 8 && t->planes == 1 ? PCX_HEADER : at + (avail < PCX_HEADER ? avail : PCX_HEADER);
    return PCX_OK;
}

/* Pillow's RLE decoder's move of the planes in a row of `bytes` bytes from `bytes / bands` apart
 * to `width` apart, when it makes it. */
static void pcx_move_planes(uint8_t *row, size_t bytes, size_t width)
{
    if (bytes % width == 0 || bytes <= width) return;
    size_t bands = bytes / width, stride = bytes / bands;
    for (size_t i = 1; i < bands; i++) memmove(row + i * width, row + i * stride, width);
}

/* One decoded row to RGB, as Pillow's unpacker for the mode reads it. */
static void pcx_row_rgb(const pcx_info *t, const uint8_t *row, uint8_t *rgb)
{
    size_t w = (size_t)t->width, plane = (w + 7) / 8;
    for (size_t x = 0; x < w; x++, rgb += 3) {
        if (t->planes == 3) {
            rgb[0] = row[x], rgb[1] = row[x + w], rgb[2] = row[x + 2 * w];
            continue;
        }
        unsigned index = 0;
        if (t->bits == 8) index = row[x];
        else
            for (unsigned k = 0; k < t->planes; k++) index |= (unsigned)(row[x / 8 + k * plane] >> (7 - x % 8) & 1) << k;
        memcpy(rgb, t->palette[index], 3);
    }
}

/* The RLE data to RGB: a byte with its top two bits set repeats the next byte (its low six bits)
 * times, any other is itself. Rows are `bytes` long; a run may not cross a row's end. */
static align_status pcx_pixels(const uint8_t *p, size_t n, const char *name, const pcx_info *t, uint8_t *row,
                               uint8_t *rgb, align_error *err)
{
    size_t pos = t->data, x = 0, y = 0, w3 = (size_t)t->width * 3;
    while (y < (size_t)t->height) {
        if (pos >= n || ((p[pos] & 0xc0) == 0xc0 && n - pos < 2))
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated PCX (pixel data cut short)", name);
        if ((p[pos] & 0xc0) == 0xc0) {
            size_t count = p[pos] & 0x3f;
            if (count > t->bytes - x)
                return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt PCX (an RLE run overruns its row)", name);
            memset(row + x, p[pos + 1], count);
            x += count, pos += 2;
        } else {
            row[x++] = p[pos++];
        }
        if (x == t->bytes) {
            pcx_move_planes(row, t->bytes, (size_t)t->width);
            pcx_row_rgb(t, row, rgb + y++ * w3);
            x = 0;
        }
    }
    return ALIGN_OK;
}

/* The image whose header pcx_header read. */
static align_status pcx_image(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, const pcx_info *t,
                              align_image *out, align_error *err)
{
    align_status s = image_check_size(name, "PCX", t->width, t->height, max_pixels, err);
    if (s) return s;
    /* a run gives at most 63 bytes: data too short for every row is refused before allocating */
    if (t->data >= n || (n - t->data) / t->height < (t->bytes + 62) / 63)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated PCX (pixel data cut short)", name);
    uint8_t *rgb = big_malloc((size_t)t->width * t->height * 3), *row = malloc(t->bytes);
    if (!rgb || !row) s = image_out_of_memory(name, t->width, t->height, err);
    else s = pcx_pixels(p, n, name, t, row, rgb, err);
    free(row);
    if (s) {
        free(rgb);
        return s;
    }
    out->rgb = rgb, out->width = t->width, out->height = t->height;
    return ALIGN_OK;
}

/* A header Pillow's PCX plugin gives up on sends the file on to the plugins after it, of which TGA
 * is the one such a file may be. */
align_status pcx_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    pcx_info t = {0};
    pcx_verdict v = pcx_header(p, n, 0, name, &t, err);
    if (v == PCX_NOT)
        return tga_or_refuse(p, n, name, max_pixels, out, err,
                             n < 68 ? "truncated PCX header" : "bad PCX image size (its window is empty)");
    if (v == PCX_REFUSED) return ALIGN_ERR_FORMAT;
    return pcx_image(p, n, name, max_pixels, &t, out, err);
}

/* The directory of page offsets after the magic ends with a 0 or at 1024 entries; Pillow reads it
 * whole. Where the directory or the first page's header fails, Pillow tries its next plugins: of
 * those only FLI, whose signature is at byte 4, takes a file with DCX's magic (tga_or_refuse). */
align_status dcx_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    for (size_t i = 0; i < 1024; i++) {
        size_t at = 4 + 4 * i;
        if (n - at < 4) return tga_or_refuse(p, n, name, max_pixels, out, err, "truncated DCX directory");
        if (!le32(p + at)) break;
    }
    uint32_t first = le32(p + 4);
    if (!first) return tga_or_refuse(p, n, name, max_pixels, out, err, "a DCX without pages");
    pcx_info t = {0};
    pcx_verdict v = pcx_header(p, n, first, name, &t, err);
    if (v == PCX_NOT) return tga_or_refuse(p, n, name, max_pixels, out, err, "DCX page 1 is not a PCX image");
    if (v == PCX_REFUSED) return ALIGN_ERR_FORMAT;
    return pcx_image(p, n, name, max_pixels, &t, out, err);
}
