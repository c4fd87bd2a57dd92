/* tga.c: TGA as Pillow 9.4's TgaImagePlugin reads it, then convert("RGB"): colour-mapped (8-bit
 * indices), true colour (16-bit 555, 24, 32), grey (1, 8 bits, 16 with alpha), raw or RLE, rows
 * bottom-up or top-down and right-to-left (descriptor bits 5 and 4). Pillow's rules are kept: a
 * colour map of 16 or 24 bits becomes the palette (first-entry slots black, those past it the grey
 * ramp; grey images are mapped through it too), one of other depths is not read at all; an RLE run
 * may not cross a row, a literal packet may; alpha is dropped. */
#include "image_decode.h"

#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"

/* How a pixel's bytes become RGB. */
typedef enum { TGA_MONO, TGA_INDEXED, TGA_555, TGA_BGR } tga_kind;

typedef struct {
    int width, height, top_down, mirrored, rle;
    tga_kind kind;
    unsigned bytes_pp;  /* bytes per pixel (0 for 1-bit: Pillow's RLE then never advances) */
    size_t row_bytes, data; /* a row's packed bytes; where the pixels start */
    uint8_t palette[256][3]; /* TGA_INDEXED: index (or grey level) to RGB */
} tga_info;

/* 5 bits to 8 as Pillow expands them: v * 255 / 31, truncated; the top bit is ignored. */
static void rgb_555(uint32_t v, uint8_t *out)
{
    out[0] = (uint8_t)((v >> 10 & 31) * 255 / 31);
    out[1] = (uint8_t)((v >> 5 & 31) * 255 / 31);
    out[2] = (uint8_t)((v & 31) * 255 / 31);
}

/* The header fields Pillow checks; anything else is no TGA, so no image. */
static int tga_header(const uint8_t *p, size_t n, tga_info *t)
{
    if (n < 18) return 0;
    unsigned type = p[2], depth = p[16];
    t->width = (int)le16(p + 12), t->height = (int)le16(p + 14);
    if (p[1] > 1 || !t->width || !t->height) return 0;
    if (depth != 1 && depth != 8 && depth != 16 && depth != 24 && depth != 32) return 0;
    if (type != 1 && type != 2 && type != 3 && type != 9 && type != 10 && type != 11) return 0;
    t->rle = type >= 9;
    t->top_down = p[17] >> 5 & 1;
    t->mirrored = p[17] >> 4 & 1;
    t->bytes_pp = depth / 8;
    return 1;
}

/* Pillow's raw mode for the type and depth; the pairs it has none for it cannot load. */
static int tga_layout(const uint8_t *p, tga_info *t)
{
    unsigned type = p[2] & 7, depth = p[16];
    if (type == 1 && depth == 8) t->kind = TGA_INDEXED;
    else if (type == 3 && depth == 1) t->kind = TGA_MONO;
    else if (type == 3 && (depth == 8 || depth == 16)) t->kind = TGA_INDEXED;
    else if (type == 2 && depth == 16) t->kind = TGA_555;
    else if (type == 2 && depth >= 24) t->kind = TGA_BGR;
    else return 0;
    t->row_bytes = ((size_t)t->width * depth + 7) / 8;
    for (int i = 0; i < 256; i++) memset(t->palette[i], i, 3);
    return 1;
}

/* The colour map after the image ID: a palette of first + length entries when its entries are 16
 * or 24 bits (then skipped), else neither read nor skipped. Pillow applies a palette to indexed
 * and grey images only, and takes at most 256 entries. */
static align_status tga_palette(const uint8_t *p, size_t n, const char *name, tga_info *t, align_error *err)
{
    t->data = 18 + (size_t)p[0];
    unsigned first = le16(p + 3), length = le16(p + 5), bits = p[7];
    if (!p[1] || (bits != 16 && bits != 24 && bits != 32)) return ALIGN_OK;
    if (bits == 32 || t->kind != TGA_INDEXED)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: unsupported TGA (a %u-bit colour map for %s pixels)", name,
                          bits, t->kind == TGA_INDEXED ? "indexed" : "true-colour");
    size_t size = bits / 8, start = t->data < n ? t->data : n;
    size_t got = n - start < (size_t)length * size ? n - start : (size_t)length * size;
    if (first + got / size > 256)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: unsupported TGA (a palette of %zu entries)", name,
                          first + got / size);
    for (size_t i = 0; i < first; i++) memset(t->palette[i], 0, 3);
    for (size_t i = 0; i < got / size; i++) {
        const uint8_t *e = p + start + i * size;
        if (size == 2) rgb_555(le16(e), t->palette[first + i]);
        else t->palette[first + i][0] = e[2], t->palette[first + i][1] = e[1], t->palette[first + i][2] = e[0];
    }
    t->data = start + got;
    return ALIGN_OK;
}

/* Where the RLE decoder is: the rows it has filled and the byte within the next. */
typedef struct {
    uint8_t *rows;
    size_t row_bytes, filled, x, height;
} rle_state;

/* Copies len bytes on from where the decoder is, row after row; 1 once the image is full. */
static int rle_copy(rle_state *r, const uint8_t *src, size_t len)
{
    while (len) {
        size_t take = r->row_bytes - r->x < len ? r->row_bytes - r->x : len;
        memcpy(r->rows + r->filled * r->row_bytes + r->x, src, take);
        src += take, len -= take, r->x += take;
        if (r->x == r->row_bytes && (r->x = 0, ++r->filled == r->height)) return 1;
    }
    return 0;
}

/* RLE packets into rows (file order). A packet needs all its bytes in the file, even those of a
 * literal past the image's end; a run crossing the end of a row is an error. */
static align_status tga_unpack_rle(const uint8_t *p, size_t n, const char *name, const tga_info *t,
                                   uint8_t *rows, align_error *err)
{
    rle_state r = {rows, t->row_bytes, 0, 0, (size_t)t->height};
    size_t pos = t->data, pb = t->bytes_pp;
    for (;;) {
        if (pos >= n) break;
        size_t count = (p[pos] & 0x7fu) + 1, len = count * pb;
        if (p[pos] & 0x80) {
            if (n - pos < 1 + pb) break;
            if (r.x + len > r.row_bytes)
                return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt TGA (an RLE run overruns its row)", name);
            for (size_t i = 0; i < count; i++) memcpy(rows + r.filled * r.row_bytes + r.x + i * pb, p + pos + 1, pb);
            pos += 1 + pb;
            r.x += len;
            if (r.x == r.row_bytes && (r.x = 0, ++r.filled == r.height)) return ALIGN_OK;
        } else {
            if (n - pos - 1 < len) break;
            if (rle_copy(&r, p + pos + 1, len)) return ALIGN_OK;
            pos += 1 + len;
        }
    }
    return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated TGA (pixel data cut short)", name);
}

static void tga_pixel(const tga_info *t, const uint8_t *row, size_t x, uint8_t *out)
{
    const uint8_t *px = row + x * t->bytes_pp;
    if (t->kind == TGA_MONO) memset(out, row[x / 8] >> (7 - x % 8) & 1 ? 255 : 0, 3);
    else if (t->kind == TGA_INDEXED) memcpy(out, t->palette[px[0]], 3);
    else if (t->kind == TGA_555) rgb_555(le16(px), out);
    else out[0] = px[2], out[1] = px[1], out[2] = px[0];
}

/* Rows in file order to RGB, top row first, left to right. */
static void tga_rgb(const tga_info *t, const uint8_t *rows, uint8_t *rgb)
{
    size_t w = (size_t)t->width;
    for (size_t y = 0; y < (size_t)t->height; y++) {
        const uint8_t *row = rows + (t->top_down ? y : t->height - 1 - y) * t->row_bytes;
        for (size_t x = 0; x < w; x++) tga_pixel(t, row, t->mirrored ? w - 1 - x : x, rgb + (y * w + x) * 3);
    }
}

static align_status tga_pixels(const uint8_t *p, size_t n, const char *name, const tga_info *t, uint8_t *rgb,
                               align_error *err)
{
    size_t size = t->row_bytes * t->height;
    if (!t->rle) {
        if (t->data > n || n - t->data < size)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated TGA (pixel data cut short)", name);
        tga_rgb(t, p + t->data, rgb);
        return ALIGN_OK;
    }
    uint8_t *rows = big_malloc(size);
    if (!rows) return image_out_of_memory(name, t->width, t->height, err);
    align_status s = tga_unpack_rle(p, n, name, t, rows, err);
    if (!s) tga_rgb(t, rows, rgb);
    free(rows);
    return s;
}

align_status tga_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    tga_info t = {0};
    if (!tga_header(p, n, &t)) return align_fail(err, ALIGN_ERR_FORMAT, "%s: not an image (unknown format)", name);
    if (!tga_layout(p, &t))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: unsupported TGA (image type %u of %u bits)", name, p[2], p[16]);
    align_status s = tga_palette(p, n, name, &t, err);
    if (!s) s = image_check_size(name, "TGA", t.width, t.height, max_pixels, err);
    if (s) return s;
    uint8_t *rgb = big_malloc((size_t)t.width * t.height * 3);
    if (!rgb) return image_out_of_memory(name, t.width, t.height, err);
    if ((s = tga_pixels(p, n, name, &t, rgb, err))) {
        free(rgb);
        return s;
    }
    out->rgb = rgb, out->width = t.width, out->height = t.height;
    return ALIGN_OK;
}

align_status tga_or_refuse(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                           align_error *err, const char *why)
{
    /* Pillow's FLI, PhotoCD and SPIDER plugins come first (its IM Tools one too, but no caller's
     * signature starts as IM Tools text does) */
    if (fli_opens(p, n)) return fli_decode(p, n, name, max_pixels, out, err);
    if (pcd_opens(p, n)) return pcd_decode(p, n, name, max_pixels, out, err);
    if (spider_opens(p, n)) return spider_decode(p, n, name, max_pixels, out, err);
    if (tga_decode(p, n, name, max_pixels, out, err) == ALIGN_OK) return ALIGN_OK;
    return align_fail(err, ALIGN_ERR_FORMAT, "%s: %s", name, why);
}
