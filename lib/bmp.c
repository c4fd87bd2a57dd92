/* bmp.c: BMP as Pillow 9.4's BmpImagePlugin reads it, then convert("RGB"): Windows headers of 40,
 * 108 and 124 bytes, OS/2 1.x (12) and 2.x (64); bottom-up and top-down; 1-, 4- and 8-bit palette,
 * RLE8 and RLE4, 16-bit 555 and 565, 24- and 32-bit with and without bitfields. Pillow's own
 * quirks are kept, since the point is its pixels: a palette of black and white, or of grey levels
 * equal to their index, makes it read the samples as 1- or 8-bit grey whatever the file's depth;
 * palette slots the file does not fill are grey (index i is i, i, i); the pixel data must cover
 * every row (the last one's padding aside); RLE needs an end of line where a row ends. */
#include "image_decode.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"

enum { BMP_RAW, BMP_RLE8, BMP_RLE4, BMP_BITFIELDS };

/* How a pixel's bits become RGB: PIL's image mode and raw mode. */
typedef enum { PX_MONO, PX_GREY, PX_PALETTE, PX_555, PX_565, PX_BYTES } px_kind;

typedef struct {
    uint64_t w, h;      /* as the header gives them */
    int width, height, top_down;
    int streamed;       /* PIL reads the pixels from a stream (an icon's bitmap), never maps them */
    unsigned header_size, bits, compression;
    uint64_t colors;
    size_t header_end;  /* where the palette starts: after the header (and 40-byte bitfields) */
    uint64_t offset;    /* of the pixel data; 0: right after the palette */
    uint32_t masks[4];  /* red, green, blue, alpha (bitfields only) */
    px_kind kind;
    unsigned sample_bits;   /* what one pixel of a row takes, as PIL reads it */
    unsigned char rgb_at[3]; /* PX_BYTES: the byte of red, green and blue in a pixel */
    uint8_t palette[256][3]; /* PX_PALETTE */
} bmp_info;

static align_status bmp_error(const char *name, const char *what, unsigned long long v, align_error *err)
{
    return align_fail(err, ALIGN_ERR_FORMAT, "%s: unsupported BMP %s (%llu)", name, what, v);
}

/* The height's top byte at 0xFF means a negative height (top-down rows), as PIL reads it. An
 * icon's or cursor's bitmap counts the AND mask below the image in its height, which PIL halves. */
static align_status bmp_header(const uint8_t *p, size_t n, const char *name, unsigned how, bmp_info *b,
                               align_error *err)
{
    if (n < 18) return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated BMP header", name);
    b->header_size = le32(p + 14);
    b->offset = le32(p + 10);
    unsigned hs = b->header_size;
    if (hs != 12 && hs != 40 && hs != 64 && hs != 108 && hs != 124) return bmp_error(name, "header size", hs, err);
    if (n - 14 < hs) return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated BMP header", name);
    b->header_end = 14 + hs;
    uint64_t w, h;
    if (hs == 12) {
        w = le16(p + 18), h = le16(p + 20), b->bits = le16(p + 24);
    } else {
        b->top_down = p[25] == 0xff;
        w = le32(p + 18), h = le32(p + 22), b->bits = le16(p + 28), b->compression = le32(p + 30);
        if (b->top_down) h = (1ull << 32) - h;
        b->colors = le32(p + 46);
    }
    if (how & DIB_HALF_HEIGHT) h /= 2;
    b->streamed = (how & DIB_STREAMED) != 0;
    b->w = w, b->h = h;
    b->width = w > INT_MAX ? INT_MAX : (int)w, b->height = h > INT_MAX ? INT_MAX : (int)h;
    if (!b->colors) b->colors = 1ull << (b->bits & 63);
    if (b->offset == b->header_end && b->bits <= 8) b->offset += 4 * b->colors;
    return ALIGN_OK;
}

/* PIL's layouts for bitfields: 24- and 32-bit byte orders, 16-bit 565 and 555. Masks follow a
 * header of 56 bytes or more; after a 40-byte one come the red, green and blue masks alone. */
static align_status bmp_bitfields(const uint8_t *p, size_t n, const char *name, bmp_info *b, align_error *err)
{
    static const struct {
        unsigned bits;
        uint32_t m[4];
        px_kind kind;
        unsigned char at[3];
    } layouts[] = {
        {32, {0xff0000, 0xff00, 0xff, 0}, PX_BYTES, {2, 1, 0}},
        {32, {0xff000000, 0xff0000, 0xff00, 0}, PX_BYTES, {3, 2, 1}},
        {32, {0xff000000, 0xff0000, 0xff00, 0xff}, PX_BYTES, {3, 2, 1}},
        {32, {0xff, 0xff00, 0xff0000, 0xff000000}, PX_BYTES, {0, 1, 2}},
        {32, {0xff0000, 0xff00, 0xff, 0xff000000}, PX_BYTES, {2, 1, 0}},
        {32, {0, 0, 0, 0}, PX_BYTES, {2, 1, 0}},
        {24, {0xff0000, 0xff00, 0xff, 0}, PX_BYTES, {2, 1, 0}},
        {16, {0xf800, 0x7e0, 0x1f, 0}, PX_565, {0}},
        {16, {0x7c00, 0x3e0, 0x1f, 0}, PX_555, {0}},
    };
    size_t at = b->header_size >= 56 ? 54 : b->header_end;
    if (n < at + 12 || (b->header_size >= 56 && n < at + 16))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated BMP bitfields", name);
    for (int i = 0; i < 4; i++) b->masks[i] = i < 3 || b->header_size >= 56 ? le32(p + at + 4 * i) : 0;
    if (b->header_size < 56) b->header_end += 12;
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
        int alpha_counts = b->bits == 32; /* 24 and 16 bits compare red, green and blue only */
        if (layouts[i].bits != b->bits || memcmp(layouts[i].m, b->masks, (alpha_counts ? 4 : 3) * 4)) continue;
        b->kind = layouts[i].kind;
        memcpy(b->rgb_at, layouts[i].at, 3);
        b->sample_bits = b->bits;
        return ALIGN_OK;
    }
    return align_fail(err, ALIGN_ERR_FORMAT, "%s: unsupported BMP bitfields layout", name);
}

/* The pixel layout from the depth and the compression. */
static align_status bmp_layout(const uint8_t *p, size_t n, const char *name, bmp_info *b, align_error *err)
{
    unsigned bits = b->bits;
    if (bits != 1 && bits != 4 && bits != 8 && bits != 16 && bits != 24 && bits != 32)
        return bmp_error(name, "pixel depth", bits, err);
    if (b->compression == BMP_BITFIELDS) return bmp_bitfields(p, n, name, b, err);
    if (b->compression > BMP_RLE4) return bmp_error(name, "compression", b->compression, err);
    b->sample_bits = bits;
    b->kind = bits <= 8 ? PX_PALETTE : bits == 16 ? PX_555 : PX_BYTES;
    memcpy(b->rgb_at, (const unsigned char[3]){2, 1, 0}, 3);
    return ALIGN_OK;
}

/* PIL drops a palette of grey levels: two entries black and white make the image 1-bit (samples
 * read as 1 bit whatever the depth), more make it 8-bit grey (entry i must be i mod 256). */
static void bmp_greyscale(const uint8_t *pal, size_t len, unsigned pad, bmp_info *b)
{
    for (uint64_t i = 0; i < b->colors; i++) {
        uint8_t v = b->colors == 2 ? (uint8_t)(i ? 255 : 0) : (uint8_t)i;
        const uint8_t *e = pal + i * pad;
        if (i * pad + 3 > len || e[0] != v || e[1] != v || e[2] != v) return;
    }
    b->kind = b->colors == 2 ? PX_MONO : PX_GREY;
    b->sample_bits = b->colors == 2 ? 1 : 8;
}

/* The palette follows the header, colors entries of 4 bytes (3 for OS/2 1.x), read as far as the
 * file goes; the entries it has replace the grey ramp. More than 256 entries PIL refuses. */
static align_status bmp_palette(const uint8_t *p, size_t n, const char *name, bmp_info *b, align_error *err)
{
    if (b->colors == 0 || b->colors > 65536) return bmp_error(name, "palette size", b->colors, err);
    unsigned pad = b->header_size == 12 ? 3 : 4;
    size_t start = b->header_end < n ? b->header_end : n;
    size_t len = n - start < b->colors * pad ? n - start : (size_t)b->colors * pad;
    if (!b->offset) b->offset = start + len;
    bmp_greyscale(p + start, len, pad, b);
    if (b->kind != PX_PALETTE) return ALIGN_OK;
    if (len / pad > 256) return bmp_error(name, "palette size", len / pad, err);
    for (int i = 0; i < 256; i++) {
        int filled = (size_t)i < len / pad;
        for (int c = 0; c < 3; c++) b->palette[i][c] = filled ? p[start + (size_t)i * pad + 2 - c] : (uint8_t)i;
    }
    return ALIGN_OK;
}

/* Sample x of a row of 1-, 4- or 8-bit samples, the high bits first. */
static unsigned sample(const uint8_t *row, size_t x, unsigned bits)
{
    if (bits == 8) return row[x];
    if (bits == 4) return (row[x / 2] >> (x % 2 ? 0 : 4)) & 15;
    return (row[x / 8] >> (7 - x % 8)) & 1;
}

/* PIL expands 5 and 6 bits by v * 255 / max, truncated. */
static void pixel_16(uint32_t v, int g_bits, uint8_t *out)
{
    unsigned g_max = (1u << g_bits) - 1;
    out[0] = (uint8_t)((v >> (5 + g_bits) & 31) * 255 / 31);
    out[1] = (uint8_t)((v >> 5 & g_max) * 255 / g_max);
    out[2] = (uint8_t)((v & 31) * 255 / 31);
}

static void bmp_row(const bmp_info *b, const uint8_t *row, uint8_t *out)
{
    for (size_t x = 0; x < (size_t)b->width; x++, out += 3) {
        if (b->kind == PX_BYTES) {
            const uint8_t *px = row + x * (b->bits / 8);
            out[0] = px[b->rgb_at[0]], out[1] = px[b->rgb_at[1]], out[2] = px[b->rgb_at[2]];
        } else if (b->kind == PX_555 || b->kind == PX_565) {
            pixel_16(le16(row + 2 * x), b->kind == PX_565 ? 6 : 5, out);
        } else {
            unsigned v = sample(row, x, b->sample_bits);
            if (b->kind == PX_PALETTE) memcpy(out, b->palette[v], 3);
            else out[0] = out[1] = out[2] = (uint8_t)(b->kind == PX_MONO ? (v ? 255 : 0) : v);
        }
    }
}

/* Uncompressed rows, each at a 4-byte-aligned stride of the file's depth, the last one needing
 * no padding. When PIL reads more bits per pixel than the depth (8-bit grey from a 1- or 4-bit
 * file), the rows overlap: it takes them so from a file it maps whole into memory, unless the last
 * row would overrun it; an icon's bitmap it reads from a stream, and refuses. */
static align_status bmp_raw(const uint8_t *p, size_t n, const char *name, const bmp_info *b, uint8_t *rgb,
                            align_error *err)
{
    uint64_t w = (uint64_t)b->width, h = (uint64_t)b->height, stride = ((w * b->bits + 31) >> 3) & ~(uint64_t)3;
    uint64_t row_bytes = (w * b->sample_bits + 7) / 8, data = b->offset > n ? 0 : n - b->offset;
    if (data < row_bytes || (data - row_bytes) / stride < h - 1)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated BMP (pixel data cut short)", name);
    if (row_bytes > stride && (b->streamed || data / stride < h))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: BMP rows of %llu bytes hold %llu bytes of samples", name,
                          (unsigned long long)stride, (unsigned long long)row_bytes);
    for (int y = 0; y < b->height; y++) {
        int file_row = b->top_down ? y : b->height - 1 - y;
        bmp_row(b, p + b->offset + (uint64_t)file_row * stride, rgb + (size_t)y * w * 3);
    }
    return ALIGN_OK;
}

/* The RLE decoder's output: one byte per pixel, file order, whatever was written past the image
 * dropped; a run may add nothing once a row is full, only an end of line or a delta moves on. */
typedef struct {
    uint8_t *px;
    size_t len, total, width, x;
} rle_out;

static void rle_put(rle_out *o, uint8_t v)
{
    if (o->len < o->total) o->px[o->len] = v;
    o->len++;
}

static void rle_zeros(rle_out *o, size_t count)
{
    size_t room = o->len < o->total ? o->total - o->len : 0;
    if (room) memset(o->px + o->len, 0, count < room ? count : room);
    o->len += count;
}

/* An encoded run: count pixels (clipped to the row), alternating nibbles for RLE4. */
static void rle_run(rle_out *o, unsigned count, uint8_t v, int rle4)
{
    if (o->x + count > o->width) count = o->x < o->width ? (unsigned)(o->width - o->x) : 0;
    for (unsigned i = 0; i < count; i++) rle_put(o, rle4 ? (i % 2 ? v & 15 : v >> 4) : v);
    o->x += count;
}

/* An escape (a zero count): 0 end of line, 1 end of bitmap, 2 delta, else count literal pixels.
 * Pillow reads a delta's two bytes, then two more for its offsets; a literal run of RLE4 gives
 * count / 2 bytes, then the file position is made even. Returns 0 to stop. */
static int rle_escape(const uint8_t *p, size_t n, size_t *pos, uint8_t code, int rle4, rle_out *o)
{
    if (code == 0) {
        if (o->len % o->width) rle_zeros(o, o->width - o->len % o->width);
        o->x = 0;
        return 1;
    }
    if (code == 1) return 0;
    if (code == 2) {
        if (n - *pos < 4) return 0; /* PIL stops short of the first pair, fails on the second */
        rle_zeros(o, p[*pos + 2] + (size_t)p[*pos + 3] * o->width);
        *pos += 4;
        o->x = o->len % o->width;
        return 1;
    }
    size_t bytes = rle4 ? code / 2u : code, got = n - *pos < bytes ? n - *pos : bytes;
    for (size_t i = 0; i < got; i++) {
        if (rle4) rle_put(o, p[*pos + i] >> 4);
        rle_put(o, rle4 ? p[*pos + i] & 15 : p[*pos + i]);
    }
    *pos += got;
    if (got < bytes) return 0;
    o->x += code;
    *pos += *pos % 2; /* possibly past the end: nothing more is read */
    return 1;
}

/* RLE8 and RLE4 into one byte per pixel (px, width x height), as Pillow's BmpRleDecoder. */
static int bmp_rle_pixels(const uint8_t *p, size_t n, const bmp_info *b, uint8_t *px)
{
    rle_out o = {px, 0, (size_t)b->width * b->height, (size_t)b->width, 0};
    int rle4 = b->compression == BMP_RLE4;
    size_t pos = b->offset < n ? (size_t)b->offset : n;
    while (o.len < o.total && pos + 2 <= n) {
        uint8_t count = p[pos], v = p[pos + 1];
        pos += 2;
        if (count) rle_run(&o, count, v, rle4);
        else if (!rle_escape(p, n, &pos, v, rle4, &o)) break;
    }
    return o.len >= o.total;
}

/* Pillow hands the RLE bytes to its raw decoder as 8-bit grey or palette indices; a 1-bit image
 * of black and white, or a true-colour one, has no such raw mode. */
static align_status bmp_rle(const uint8_t *p, size_t n, const char *name, bmp_info *b, uint8_t *rgb,
                            align_error *err)
{
    if (b->kind != PX_PALETTE && b->kind != PX_GREY)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: unsupported BMP (RLE of %u-bit %s pixels)", name, b->bits,
                          b->kind == PX_MONO ? "black and white" : "true-colour");
    size_t total = (size_t)b->width * b->height;
    uint8_t *px = big_malloc(total);
    if (!px) return image_out_of_memory(name, b->width, b->height, err);
    align_status s = ALIGN_OK;
    if (!bmp_rle_pixels(p, n, b, px)) {
        s = align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated BMP (RLE data ends before the image)", name);
    } else {
        b->sample_bits = 8;
        for (int y = 0; y < b->height; y++) {
            int file_row = b->top_down ? y : b->height - 1 - y;
            bmp_row(b, px + (size_t)file_row * b->width, rgb + (size_t)y * b->width * 3);
        }
    }
    free(px);
    return s;
}

static align_status bmp_decode_as(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, unsigned how,
                                  align_image *out, uint64_t *data_at, align_error *err)
{
    bmp_info info = {0}, *b = &info;
    align_status s = bmp_header(p, n, name, how, b, err);
    if (!s) s = bmp_layout(p, n, name, b, err);
    if (!s && b->kind == PX_PALETTE) s = bmp_palette(p, n, name, b, err);
    if (!s && !b->offset) b->offset = b->header_end;
    if (!s && (b->w > INT_MAX || b->h > INT_MAX)) s = image_over_limit(name, b->w, b->h, max_pixels, err);
    if (!s) s = image_check_size(name, "BMP", b->width, b->height, max_pixels, err);
    uint8_t *rgb = NULL;
    if (!s && !(rgb = big_malloc((size_t)b->width * b->height * 3)))
        s = image_out_of_memory(name, b->width, b->height, err);
    if (!s) s = b->compression == BMP_RLE8 || b->compression == BMP_RLE4 ? bmp_rle(p, n, name, b, rgb, err)
                                                                        : bmp_raw(p, n, name, b, rgb, err);
    if (!s) out->rgb = rgb, out->width = b->width, out->height = b->height, *data_at = b->offset;
    else free(rgb);
    return s;
}

align_status bmp_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    uint64_t data_at;
    return bmp_decode_as(p, n, name, max_pixels, 0, out, &data_at, err);
}

align_status bmp_decode_dib(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, unsigned how,
                            align_image *out, uint64_t *data_at, align_error *err)
{
    uint8_t *bmp = malloc(14 + n);
    if (!bmp) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory for the bitmap", name);
    memset(bmp, 0, 14); /* a data offset of 0: Pillow reads the pixels from after the palette */
    bmp[0] = 'B', bmp[1] = 'M';
    memcpy(bmp + 14, p, n);
    align_status s = bmp_decode_as(bmp, 14 + n, name, max_pixels, how, out, data_at, err);
    free(bmp);
    if (!s) *data_at -= 14;
    return s;
}

align_status dib_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    uint64_t data_at;
    return bmp_decode_dib(p, n, name, max_pixels, 0, out, &data_at, err);
}
