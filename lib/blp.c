/* blp.c: Blizzard textures (.blp) as Pillow 9.4's BlpImagePlugin reads them, then convert("RGB").
 *
 * The header: "BLP1" or "BLP2", the compression (int32), the encoding, alpha depth and alpha
 * encoding bytes, a mipmap count, the width and the height; BLP1 then has its encoding again as
 * an int32 (the one Pillow reads) and a subtype; then the 16 mipmaps' offsets and lengths. Only
 * the first mipmap is read. The image is RGBA where the alpha depth is not 0, else RGB; Pillow
 * builds a stream of pixels first and reads it as rows of the image's mode and width, though the
 * stream's pixels may have another size and its rows another width: such an image comes out
 * skewed, as here. The streams:
 *   - a palette (BLP1 compression 1 with encoding 4 or 5; BLP2 encoding 1): 256 BGRA colours
 *     after the tables, then as many indices as the mipmap's length, right after the palette in
 *     BLP1, at the mipmap's offset in BLP2; each index's colour in the image's mode;
 *   - JPEG (BLP1 compression 0): the JPEG header all mipmaps share after the tables (its length,
 *     then its bytes), followed by the mipmap's bytes from its offset (or straight on if the offset
 *     lies behind): one JPEG, its four components taken as the CMYK they are stored as
 *     (jpeg_decode.c); its RGB pixels, red and blue swapped, 3 bytes each;
 *   - DXT1, DXT3, DXT5 (BLP2 encoding 2, alpha encoding 0, 1 or 7), decoded in Python (bcn.c's
 *     BLP blocks): the pixels of whole blocks, rows of a multiple of 4, as RGBA, or RGB for DXT1
 *     without an alpha depth.
 * BLP2 reads its palette before anything else. Under 20 bytes, or of no pixels, a file is no BLP to
 * Pillow, nor anything else. */
#include "image_decode.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "bcn.h"
#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"

enum {
    BLP_OPEN_BYTES = 20,      /* what Pillow's open reads: up to the height */
    BLP1_TABLES_AT = 28,      /* after BLP1's encoding and subtype */
    BLP2_TABLES_AT = 20,
    BLP_TABLES_BYTES = 128,   /* 16 offsets, then 16 lengths */
    BLP_PALETTE_BYTES = 1024, /* 256 BGRA colours */
};

typedef struct {
    const uint8_t *p;
    size_t n;
    const char *name;
    uint32_t w, h;
    unsigned bpp;            /* bytes a pixel of the image's mode: 4 (RGBA) with an alpha depth, else 3 */
    size_t tables_end;       /* where the palette or the JPEG header starts */
    uint32_t offset, length; /* the first mipmap's */
} blp_file;

/* Byte `at` of a stream of pixels (at is below its length). */
typedef uint8_t blp_stream_byte(void *stream, uint64_t at);

static align_status blp_cut(const blp_file *f, const char *what, align_error *err)
{
    return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated BLP (%s cut short)", f->name, what);
}

static align_status blp_short_stream(const blp_file *f, align_error *err)
{
    return align_fail(err, ALIGN_ERR_FORMAT, "%s: BLP pixel data smaller than its %u x %u image", f->name,
                      (unsigned)f->w, (unsigned)f->h);
}

static align_status blp_unread(const blp_file *f, const char *what, long value, align_error *err)
{
    return align_fail(err, ALIGN_ERR_FORMAT, "%s: BLP %s %ld, which Pillow 9.4 does not read", f->name, what, value);
}

static uint8_t *blp_alloc(const blp_file *f)
{
    return big_malloc((size_t)f->w * f->h * 3);
}

static void blp_done(const blp_file *f, uint8_t *rgb, align_image *out)
{
    out->rgb = rgb, out->width = (int)f->w, out->height = (int)f->h;
}

/* The image read from a stream as rows of its own mode: pixel i is the stream's bytes from i * bpp
 * on, its alpha dropped. */
static align_status blp_from_stream(const blp_file *f, blp_stream_byte *byte, void *stream, align_image *out,
                                    align_error *err)
{
    uint8_t *rgb = blp_alloc(f);
    if (!rgb) return image_out_of_memory(f->name, (int)f->w, (int)f->h, err);
    uint64_t count = (uint64_t)f->w * f->h;
    for (uint64_t i = 0; i < count; i++)
        for (unsigned c = 0; c < 3; c++) rgb[3 * i + c] = byte(stream, i * f->bpp + c);
    blp_done(f, rgb, out);
    return ALIGN_OK;
}

/* ---- palette ------------------------------------------------------------------------------------ */

/* The palette's stream has the image's own pixels, so it needs no restriding. */
static align_status blp_palette(const blp_file *f, uint64_t indices_at, align_image *out, align_error *err)
{
    size_t palette_at = f->tables_end;
    if (f->n - palette_at < BLP_PALETTE_BYTES) return blp_cut(f, "palette", err);
    if (indices_at > f->n || f->n - indices_at < f->length) return blp_cut(f, "pixel data", err);
    uint64_t count = (uint64_t)f->w * f->h;
    if (f->length < count) return blp_short_stream(f, err);
    uint8_t *rgb = blp_alloc(f);
    if (!rgb) return image_out_of_memory(f->name, (int)f->w, (int)f->h, err);
    const uint8_t *palette = f->p + palette_at, *index = f->p + indices_at;
    for (uint64_t i = 0; i < count; i++) {
        const uint8_t *bgra = palette + 4 * index[i];
        rgb[3 * i] = bgra[2], rgb[3 * i + 1] = bgra[1], rgb[3 * i + 2] = bgra[0];
    }
    blp_done(f, rgb, out);
    return ALIGN_OK;
}

/* ---- JPEG --------------------------------------------------------------------------------------- */

/* Its bytes are the JPEG's RGB pixels with red and blue swapped. */
static uint8_t blp_jpeg_byte(void *stream, uint64_t at)
{
    const align_image *jpeg = stream;
    return jpeg->rgb[at - at % 3 + 2 - at % 3];
}

/* The shared header and the mipmap's bytes, one after the other, in *jpeg (malloc'ed). */
static align_status blp_jpeg_bytes(const blp_file *f, uint8_t **jpeg, size_t *len, align_error *err)
{
    size_t at = f->tables_end;
    if (f->n - at < 4) return blp_cut(f, "JPEG header", err);
    uint32_t head = le32(f->p + at);
    at += 4;
    if (f->n - at < head) return blp_cut(f, "JPEG header", err);
    size_t head_at = at;
    at += head;
    if (f->offset > at) { /* Pillow reads its way to the offset */
        if (f->offset > f->n) return blp_cut(f, "data before the mipmap", err);
        at = f->offset;
    }
    if (f->n - at < f->length) return blp_cut(f, "pixel data", err);
    *len = (size_t)head + f->length;
    if (!(*jpeg = malloc(*len ? *len : 1)))
        return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory reading the BLP's JPEG", f->name);
    memcpy(*jpeg, f->p + head_at, head);
    memcpy(*jpeg + head, f->p + at, f->length);
    return ALIGN_OK;
}

static align_status blp_jpeg(const blp_file *f, uint64_t max_pixels, align_image *out, align_error *err)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    align_status s = blp_jpeg_bytes(f, &bytes, &len, err);
    if (s) return s;
    align_image jpeg = {0};
    if (len < 3 || memcmp(bytes, "\xff\xd8\xff", 3)) /* Pillow's JPEG plugin opens nothing else */
        s = align_fail(err, ALIGN_ERR_FORMAT, "%s: BLP mipmap that is not a JPEG", f->name);
    else
        s = jpeg_decode_stored_cmyk(bytes, len, f->name, max_pixels, &jpeg, err);
    free(bytes);
    if (s) return s;
    if ((uint64_t)jpeg.width * jpeg.height * 3 < (uint64_t)f->w * f->h * f->bpp)
        s = blp_short_stream(f, err);
    else
        s = blp_from_stream(f, blp_jpeg_byte, &jpeg, out, err);
    align_image_free(&jpeg);
    return s;
}

/* ---- DXT ---------------------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *data;   /* the first block */
    bcn_format format;
    uint64_t blocks_wide;
    uint64_t row_bytes;    /* a stream row's: blocks_wide * 4 pixels */
    unsigned px_bytes;     /* a stream pixel's: 4, or 3 for DXT1 without an alpha depth */
    uint64_t cached;       /* the block in px, or UINT64_MAX */
    uint8_t px[16][4];
} blp_dxt;

static uint8_t blp_dxt_byte(void *stream, uint64_t at)
{
    blp_dxt *d = stream;
    uint64_t y = at / d->row_bytes, in_row = at % d->row_bytes, x = in_row / d->px_bytes;
    uint64_t block = y / 4 * d->blocks_wide + x / 4;
    if (block != d->cached) {
        bcn_decode_blp_block(d->format, d->data + block * bcn_block_bytes(d->format), d->px);
        d->cached = block;
    }
    return d->px[y % 4 * 4 + x % 4][in_row % d->px_bytes];
}

static align_status blp_dxt_decode(const blp_file *f, int alpha_encoding, align_image *out, align_error *err)
{
    blp_dxt d = {.cached = UINT64_MAX, .px_bytes = 4};
    if (alpha_encoding == 0) d.format = BCN_BC1, d.px_bytes = f->p[9] ? 4 : 3;
    else if (alpha_encoding == 1) d.format = BCN_BC2;
    else if (alpha_encoding == 7) d.format = BCN_BC3;
    else return blp_unread(f, "DXT alpha encoding", alpha_encoding, err);
    d.blocks_wide = ((uint64_t)f->w + 3) / 4;
    d.row_bytes = d.blocks_wide * 4 * d.px_bytes;
    uint64_t bytes = d.blocks_wide * (((uint64_t)f->h + 3) / 4) * bcn_block_bytes(d.format);
    if (f->offset > f->n || f->n - f->offset < bytes) return blp_cut(f, "pixel data", err);
    d.data = f->p + f->offset;
    return blp_from_stream(f, blp_dxt_byte, &d, out, err);
}

/* ---- the two versions --------------------------------------------------------------------------- */

static align_status blp1_decode(const blp_file *f, uint64_t max_pixels, align_image *out, align_error *err)
{
    int32_t compression = (int32_t)le32(f->p + 4), encoding = (int32_t)le32(f->p + 20);
    if (compression == 0) return blp_jpeg(f, max_pixels, out, err);
    if (compression != 1) return blp_unread(f, "compression", compression, err);
    if (encoding != 4 && encoding != 5) return blp_unread(f, "BLP1 encoding", encoding, err);
    return blp_palette(f, f->tables_end + BLP_PALETTE_BYTES, out, err);
}

static align_status blp2_decode(const blp_file *f, align_image *out, align_error *err)
{
    if (f->n - f->tables_end < BLP_PALETTE_BYTES) return blp_cut(f, "palette", err);
    int32_t compression = (int32_t)le32(f->p + 4);
    int encoding = (int8_t)f->p[8], alpha_encoding = (int8_t)f->p[10];
    if (compression != 1) return blp_unread(f, "compression", compression, err);
    if (encoding == 1) return blp_palette(f, f->offset, out, err);
    if (encoding == 2) return blp_dxt_decode(f, alpha_encoding, out, err);
    return blp_unread(f, "BLP2 encoding", encoding, err);
}

align_status blp_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    if (n < BLP_OPEN_BYTES) return align_fail(err, ALIGN_ERR_FORMAT, "%s: BLP header cut short", name);
    blp_file f = {p, n, name, le32(p + 12), le32(p + 16), p[9] ? 4 : 3, 0, 0, 0};
    if (!f.w || !f.h) return align_fail(err, ALIGN_ERR_FORMAT, "%s: BLP image of no pixels", name);
    if (f.w > INT_MAX || f.h > INT_MAX || (uint64_t)f.w * f.h > max_pixels)
        return image_over_limit(name, f.w, f.h, max_pixels, err);
    int blp1 = p[3] == '1';
    size_t tables_at = blp1 ? BLP1_TABLES_AT : BLP2_TABLES_AT;
    f.tables_end = tables_at + BLP_TABLES_BYTES;
    if (n < f.tables_end) return blp_cut(&f, "header", err);
    f.offset = le32(p + tables_at);
    f.length = le32(p + tables_at + 64);
    return blp1 ? blp1_decode(&f, max_pixels, out, err) : blp2_decode(&f, out, err);
}
