/* tiff_decode.c: a TIFF's first page through libtiff, converted to RGB as PIL 9.4's TIFF modes
 * convert: its table OPEN_INFO, keyed by (byte order, photometric, sample format, fill order, bits
 * of each sample, extra samples), decides the mode, and only what it names is read (PIL refuses the
 * rest, so does this). libtiff decompresses (none, LZW, deflate, PackBits, CCITT, JPEG...),
 * reverses the fill order and swaps the byte order; the samples then become RGB here as PIL's
 * unpackers and convert("RGB") make them (CIELAB through LittleCMS, as PIL converts it).
 *
 * libtiff's messages go to handlers set per handle through TIFFOpenOptions (libtiff 4.5): the
 * first error is kept for align_error, warnings are dropped. The global TIFFSetErrorHandler would
 * be process-wide mutable state shared by every thread decoding at once. */
#include "image_decode.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#include "error.h"
#include "image_limits.h"
#include "memory.h"
#include "pil_convert.h"

/* The file in memory, as libtiff's client procedures read it, and libtiff's first error. */
typedef struct {
    const uint8_t *p;
    size_t n, pos;
    char message[160];
} tiff_source;

static tmsize_t source_read(thandle_t h, void *buf, tmsize_t size)
{
    tiff_source *s = h;
    size_t left = s->pos < s->n ? s->n - s->pos : 0, k = size < 0 ? 0 : (size_t)size;
    if (k > left) k = left;
    memcpy(buf, s->p + s->pos, k);
    s->pos += k;
    return (tmsize_t)k;
}

static tmsize_t source_write(thandle_t h, void *buf, tmsize_t size)
{
    (void)h, (void)buf, (void)size;
    return -1;
}

static toff_t source_seek(thandle_t h, toff_t off, int whence)
{
    tiff_source *s = h;
    uint64_t base = whence == SEEK_CUR ? s->pos : whence == SEEK_END ? s->n : 0;
    if (off > UINT64_MAX - base) return (toff_t)-1;
    s->pos = (size_t)(base + off);
    return s->pos;
}

static int source_close(thandle_t h)
{
    (void)h;
    return 0;
}

static toff_t source_size(thandle_t h)
{
    return ((tiff_source *)h)->n;
}

static int source_map(thandle_t h, void **base, toff_t *size)
{
    (void)h, (void)base, (void)size;
    return 0; /* not mapped: libtiff reads copies, never the caller's buffer */
}

static void source_unmap(thandle_t h, void *base, toff_t size)
{
    (void)h, (void)base, (void)size;
}

static int on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif, (void)module;
    tiff_source *s = user;
    if (!s->message[0]) vsnprintf(s->message, sizeof s->message, fmt, ap);
    for (char *c = s->message; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    return 1; /* handled: libtiff's global handler is not called */
}

static int on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;
}

/* What PIL makes of the page: the mode its table gives, with the details the conversion needs. */
typedef enum { GREY, GREY16, NUMBER, RGB_, RGB_PREMULTIPLIED, PALETTE, CMYK, YCBCR, LAB, UNSUPPORTED } tiff_kind;

typedef struct {
    int w, h, bits, samples, planar, photometric;
    tiff_kind kind;
    int inverted;             /* min-is-white grey */
    int format;               /* NUMBER: SAMPLEFORMAT_INT, _UINT or _IEEEFP */
    uint16_t *cmap[3];        /* PALETTE: libtiff's colour map */
    uint8_t *raw;             /* the samples: rows of `row_bytes`, plane after plane when planar */
    size_t row_bytes;
} tiff_page;

/* Keys of PIL's OPEN_INFO (TiffImagePlugin.py): (byte order, photometric, SampleFormat, FillOrder,
 * BitsPerSample of each sample, ExtraSamples). PIL refuses a page whose key is not there, so does
 * this. A row here stands for the keys that differ only in byte order, fill order or depth. */
enum { LITTLE = 1, BIG = 2, EITHER_ORDER = 3 };
enum { FILL_MSB = 1, FILL_LSB = 2, EITHER_FILL = 3 }; /* FillOrder 1, 2 */
#define DEPTH(bits) (UINT64_C(1) << (bits))
#define LOW_DEPTHS (DEPTH(1) | DEPTH(2) | DEPTH(4) | DEPTH(8))

typedef struct {
    uint16_t photometric, format;
    uint64_t depths; /* DEPTH() of each bits per sample the row takes */
    int samples, orders, fills;
    const char *extras; /* the ExtraSamples values, a digit each */
    tiff_kind kind;
} open_info;

static const open_info pil_open_info[] = {
    {PHOTOMETRIC_MINISWHITE, SAMPLEFORMAT_UINT, LOW_DEPTHS, 1, EITHER_ORDER, EITHER_FILL, "", GREY},
    {PHOTOMETRIC_MINISBLACK, SAMPLEFORMAT_UINT, LOW_DEPTHS, 1, EITHER_ORDER, EITHER_FILL, "", GREY},
    {PHOTOMETRIC_MINISBLACK, SAMPLEFORMAT_UINT, DEPTH(8), 2, EITHER_ORDER, FILL_MSB, "2", GREY}, /* LA */
    /* mode I;16: 12 bits through the I;12 unpacker, and 16-bit min-is-white is not inverted */
    {PHOTOMETRIC_MINISBLACK, SAMPLEFORMAT_UINT, DEPTH(12), 1, LITTLE, FILL_MSB, "", GREY16},
    {PHOTOMETRIC_MINISWHITE, SAMPLEFORMAT_UINT, DEPTH(16), 1, LITTLE, FILL_MSB, "", GREY16},
    {PHOTOMETRIC_MINISBLACK, SAMPLEFORMAT_UINT, DEPTH(16), 1, EITHER_ORDER, FILL_MSB, "", GREY16},
    {PHOTOMETRIC_MINISBLACK, SAMPLEFORMAT_UINT, DEPTH(16), 1, LITTLE, FILL_LSB, "", GREY16},
    /* modes I and F; unsigned 32-bit is I;32N, read as signed */
    {PHOTOMETRIC_MINISBLACK, SAMPLEFORMAT_INT, DEPTH(16) | DEPTH(32), 1, EITHER_ORDER, FILL_MSB, "", NUMBER},
    {PHOTOMETRIC_MINISBLACK, SAMPLEFORMAT_UINT, DEPTH(32), 1, LITTLE, FILL_MSB, "", NUMBER},
    {PHOTOMETRIC_MINISWHITE, SAMPLEFORMAT_IEEEFP, DEPTH(32), 1, EITHER_ORDER, FILL_MSB, "", NUMBER},
    {PHOTOMETRIC_MINISBLACK, SAMPLEFORMAT_IEEEFP, DEPTH(32), 1, EITHER_ORDER, FILL_MSB, "", NUMBER},
    /* RGB with no extra sample, alpha (1 premultiplied, 2 not; PIL's Corel Draw 999 is 2 by
     * then, as libtiff reads it) or padding (0); 8 bits: up to two samples after the alpha */
    {PHOTOMETRIC_RGB, SAMPLEFORMAT_UINT, DEPTH(8), 3, EITHER_ORDER, EITHER_FILL, "", RGB_},
    {PHOTOMETRIC_RGB, SAMPLEFORMAT_UINT, DEPTH(8) | DEPTH(16), 4, EITHER_ORDER, FILL_MSB, "", RGB_},
    {PHOTOMETRIC_RGB, SAMPLEFORMAT_UINT, DEPTH(8) | DEPTH(16), 4, EITHER_ORDER, FILL_MSB, "0", RGB_},
    {PHOTOMETRIC_RGB, SAMPLEFORMAT_UINT, DEPTH(8) | DEPTH(16), 4, EITHER_ORDER, FILL_MSB, "1", RGB_PREMULTIPLIED},
    {PHOTOMETRIC_RGB, SAMPLEFORMAT_UINT, DEPTH(8) | DEPTH(16), 4, EITHER_ORDER, FILL_MSB, "2", RGB_},
    {PHOTOMETRIC_RGB, SAMPLEFORMAT_UINT, DEPTH(8), 5, EITHER_ORDER, FILL_MSB, "00", RGB_},
    {PHOTOMETRIC_RGB, SAMPLEFORMAT_UINT, DEPTH(8), 5, EITHER_ORDER, FILL_MSB, "10", RGB_PREMULTIPLIED},
    {PHOTOMETRIC_RGB, SAMPLEFORMAT_UINT, DEPTH(8), 5, EITHER_ORDER, FILL_MSB, "20", RGB_},
    {PHOTOMETRIC_RGB, SAMPLEFORMAT_UINT, DEPTH(8), 6, EITHER_ORDER, FILL_MSB, "000", RGB_},
    {PHOTOMETRIC_RGB, SAMPLEFORMAT_UINT, DEPTH(8), 6, EITHER_ORDER, FILL_MSB, "100", RGB_PREMULTIPLIED},
    {PHOTOMETRIC_RGB, SAMPLEFORMAT_UINT, DEPTH(8), 6, EITHER_ORDER, FILL_MSB, "200", RGB_},
    {PHOTOMETRIC_RGB, SAMPLEFORMAT_UINT, DEPTH(16), 3, EITHER_ORDER, FILL_MSB, "", RGB_},
    {PHOTOMETRIC_PALETTE, SAMPLEFORMAT_UINT, LOW_DEPTHS, 1, EITHER_ORDER, EITHER_FILL, "", PALETTE},
    {PHOTOMETRIC_PALETTE, SAMPLEFORMAT_UINT, DEPTH(8), 2, EITHER_ORDER, FILL_MSB, "2", PALETTE}, /* PA */
    /* CMYK: padding only, no alpha */
    {PHOTOMETRIC_SEPARATED, SAMPLEFORMAT_UINT, DEPTH(8), 4, EITHER_ORDER, FILL_MSB, "", CMYK},
    {PHOTOMETRIC_SEPARATED, SAMPLEFORMAT_UINT, DEPTH(8), 5, EITHER_ORDER, FILL_MSB, "0", CMYK},
    {PHOTOMETRIC_SEPARATED, SAMPLEFORMAT_UINT, DEPTH(8), 6, EITHER_ORDER, FILL_MSB, "00", CMYK},
    {PHOTOMETRIC_SEPARATED, SAMPLEFORMAT_UINT, DEPTH(16), 4, LITTLE, FILL_MSB, "", CMYK},
    {PHOTOMETRIC_YCBCR, SAMPLEFORMAT_UINT, DEPTH(8), 3, EITHER_ORDER, FILL_MSB, "", YCBCR},
    {PHOTOMETRIC_CIELAB, SAMPLEFORMAT_UINT, DEPTH(8), 3, EITHER_ORDER, FILL_MSB, "", LAB},
};

/* The kind of the OPEN_INFO key the page has, UNSUPPORTED without one. */
static tiff_kind open_info_kind(TIFF *tif, const tiff_page *pg, uint16_t format)
{
    uint16_t fill = FILLORDER_MSB2LSB, extra_count = 0, *extra = NULL;
    TIFFGetFieldDefaulted(tif, TIFFTAG_FILLORDER, &fill);
    TIFFGetFieldDefaulted(tif, TIFFTAG_EXTRASAMPLES, &extra_count, &extra);
    char extras[8] = "";
    if (extra_count >= sizeof extras) return UNSUPPORTED;
    for (int i = 0; i < extra_count; i++) extras[i] = (char)('0' + extra[i]); /* libtiff keeps 0, 1, 2 */
    int order = TIFFIsBigEndian(tif) ? BIG : LITTLE, fills = fill == FILLORDER_LSB2MSB ? FILL_LSB : FILL_MSB;
    for (size_t i = 0; i < sizeof pil_open_info / sizeof *pil_open_info; i++) {
        const open_info *k = &pil_open_info[i];
        if (k->photometric == pg->photometric && k->format == format && pg->bits < 64 &&
            (k->depths & DEPTH(pg->bits)) && k->samples == pg->samples && (k->orders & order) &&
            (k->fills & fills) && !strcmp(k->extras, extras))
            return k->kind;
    }
    return UNSUPPORTED;
}

/* PIL's mode for the page (OPEN_INFO), with what its conversion needs; UNSUPPORTED where PIL has none. */
static tiff_kind page_kind(TIFF *tif, tiff_page *pg)
{
    uint16_t format = SAMPLEFORMAT_UINT;
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &format);
    pg->format = format;
    pg->inverted = pg->photometric == PHOTOMETRIC_MINISWHITE;
    tiff_kind kind = open_info_kind(tif, pg, format);
    if (kind == PALETTE && !TIFFGetField(tif, TIFFTAG_COLORMAP, &pg->cmap[0], &pg->cmap[1], &pg->cmap[2]))
        return UNSUPPORTED;
    if (kind != YCBCR) return kind;
    uint16_t compression = 0;
    TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &compression);
    if (compression == COMPRESSION_NONE) return UNSUPPORTED;
    /* PIL's libtiff decoder has libtiff's RGBA reader convert YCbCr, unless it is JPEG */
    if (compression != COMPRESSION_JPEG) return YCBCR;
    /* libjpeg converts to RGB, as in PIL's libtiff decoder */
    TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
    pg->photometric = PHOTOMETRIC_RGB;
    return RGB_;
}

/* Sample s of pixel (x, y), as an unsigned value of pg->bits bits. */
static unsigned sample(const tiff_page *pg, int x, int y, int s)
{
    size_t row = pg->planar ? ((size_t)s * pg->h + y) : (size_t)y;
    size_t index = pg->planar ? (size_t)x : (size_t)x * pg->samples + s;
    const uint8_t *r = pg->raw + row * pg->row_bytes;
    if (pg->bits == 8) return r[index];
    if (pg->bits == 16) {
        uint16_t v;
        memcpy(&v, r + 2 * index, 2); /* libtiff gives host byte order */
        return v;
    }
    if (pg->bits == 12) { /* high bits first whatever the byte order, as PIL's I;12 unpacker reads them */
        const uint8_t *b = r + index * 12 / 8;
        return index % 2 ? (unsigned)(b[0] & 0x0f) << 8 | b[1] : (unsigned)b[0] << 4 | b[1] >> 4;
    }
    size_t bit = index * pg->bits;
    return (unsigned)(r[bit / 8] >> (8 - pg->bits - bit % 8)) & ((1u << pg->bits) - 1);
}

/* convert("RGB") of modes I and F (pil_convert.h). */
static uint8_t number_level(const tiff_page *pg, int x, int y)
{
    size_t row = (size_t)y * pg->row_bytes;
    if (pg->format == SAMPLEFORMAT_IEEEFP) {
        float f;
        memcpy(&f, pg->raw + row + 4 * (size_t)x, 4);
        return pil_float_level(f);
    }
    int32_t v; /* unsigned 32 bits too: PIL's raw mode I;32N reads it as signed */
    if (pg->bits == 16) {
        int16_t i;
        memcpy(&i, pg->raw + row + 2 * (size_t)x, 2);
        v = i;
    } else {
        memcpy(&v, pg->raw + row + 4 * (size_t)x, 4);
    }
    return pil_int_level(v);
}

/* An 8-bit value of a 16-bit RGB or CMYK sample: PIL's ";16" unpackers keep the high byte. */
static unsigned sample8(const tiff_page *pg, int x, int y, int s)
{
    unsigned v = sample(pg, x, y, s);
    return pg->bits == 16 ? v >> 8 : v;
}

/* PIL's "RGBa" unpacker: premultiplied colour divided by alpha, clipped. */
static uint8_t unpremultiply(unsigned c, unsigned a)
{
    if (a == 0) return 0;
    unsigned v = c * 255 / a;
    return (uint8_t)(v > 255 ? 255 : v);
}

static void page_pixel(const tiff_page *pg, int x, int y, uint8_t *out)
{
    unsigned v;
    switch (pg->kind) {
    case GREY: /* 1, 2 and 4 bits spread over 0..255 */
        v = sample(pg, x, y, 0) * (pg->bits == 1 ? 255 : pg->bits == 2 ? 85 : pg->bits == 4 ? 17 : 1);
        out[0] = out[1] = out[2] = (uint8_t)(pg->inverted ? 255 - v : v);
        break;
    case GREY16: /* mode I;16 (of 12 or 16 bits), clipped to 255 */
        v = sample(pg, x, y, 0);
        out[0] = out[1] = out[2] = (uint8_t)(v > 255 ? 255 : v);
        break;
    case NUMBER:
        out[0] = out[1] = out[2] = number_level(pg, x, y);
        break;
    case RGB_:
        for (int c = 0; c < 3; c++) out[c] = (uint8_t)sample8(pg, x, y, c);
        break;
    case RGB_PREMULTIPLIED:
        for (int c = 0; c < 3; c++) out[c] = unpremultiply(sample8(pg, x, y, c), sample8(pg, x, y, 3));
        break;
    case PALETTE: /* PIL's palette keeps the high byte of the 16-bit colour map */
        v = sample(pg, x, y, 0);
        for (int c = 0; c < 3; c++) out[c] = (uint8_t)(pg->cmap[c][v] >> 8);
        break;
    case CMYK:
        for (int c = 0; c < 3; c++) out[c] = pil_cmyk_channel(sample8(pg, x, y, c), sample8(pg, x, y, 3));
        break;
    case YCBCR: /* converted by read_rgba or lab_to_rgb into raw, 4 bytes a pixel */
    case LAB:
        memcpy(out, pg->raw + (size_t)y * pg->row_bytes + 4 * (size_t)x, 3);
        break;
    case UNSUPPORTED:
        break;
    }
}

/* YCbCr through libtiff's RGBA reader, top row first as PIL asks for it: pg->raw becomes RGBA rows.
 * Returns 1, 0 for unreadable data, -1 out of memory. */
static int read_rgba(TIFF *tif, tiff_page *pg)
{
    TIFFRGBAImage img;
    char why[1024];
    if (!TIFFRGBAImageOK(tif, why) || !TIFFRGBAImageBegin(&img, tif, 0, why)) return 0;
    img.req_orientation = ORIENTATION_TOPLEFT;
    uint32_t *px = big_malloc((size_t)pg->w * pg->h * 4);
    int ok = !px ? -1 : TIFFRGBAImageGet(&img, px, (uint32_t)pg->w, (uint32_t)pg->h) ? 1 : 0;
    TIFFRGBAImageEnd(&img);
    for (size_t i = 0; ok > 0 && i < (size_t)pg->w * pg->h; i++) {
        uint8_t *o = pg->raw + i * 4;
        o[0] = (uint8_t)TIFFGetR(px[i]), o[1] = (uint8_t)TIFFGetG(px[i]), o[2] = (uint8_t)TIFFGetB(px[i]);
        o[3] = (uint8_t)TIFFGetA(px[i]);
    }
    free(px);
    return ok;
}

/* PIL's LAB pixels (a and b stored signed in a TIFF, unsigned with 128 for 0 in PIL), 3 bytes a
 * pixel to 4, then to RGBA (pil_convert.h). In place over pg->raw, which holds 4 bytes a pixel. */
static int lab_to_rgb(tiff_page *pg)
{
    for (int y = 0; y < pg->h; y++) {
        uint8_t *row = pg->raw + (size_t)y * pg->row_bytes;
        for (size_t x = (size_t)pg->w; x-- > 0;) { /* from the right (size_t: a row of over 2^29
                                                        pixels would overflow int) */
            uint8_t l = row[3 * x], a = row[3 * x + 1], b = row[3 * x + 2];
            row[4 * x] = l, row[4 * x + 1] = a ^ 0x80, row[4 * x + 2] = b ^ 0x80, row[4 * x + 3] = 0;
        }
    }
    return pil_lab_to_rgba(pg->raw, pg->row_bytes, pg->w, pg->h);
}

/* Every row (of every plane) into pg->raw: tile by tile, or scanline by scanline. Returns 1, 0 for
 * unreadable data, -1 out of memory. */
static int read_planes(TIFF *tif, tiff_page *pg)
{
    int planes = pg->planar ? pg->samples : 1;
    if (!TIFFIsTiled(tif)) {
        for (int s = 0; s < planes; s++)
            for (int y = 0; y < pg->h; y++)
                if (TIFFReadScanline(tif, pg->raw + ((size_t)s * pg->h + y) * pg->row_bytes, (uint32_t)y,
                                     (uint16_t)s) < 0)
                    return 0;
        return 1;
    }
    uint32_t tw = 0, th = 0;
    TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
    tmsize_t tile_row = TIFFTileRowSize(tif), tile_size = TIFFTileSize(tif);
    if (!tw || !th || tile_row <= 0 || tile_size < tile_row * (tmsize_t)th) return 0;
    uint8_t *tile = malloc((size_t)tile_size);
    if (!tile) return -1;
    size_t pixel_bits = (size_t)pg->bits * (pg->planar ? 1 : pg->samples);
    int ok = 1;
    for (int s = 0; ok && s < planes; s++)
        for (uint32_t y0 = 0; ok && y0 < (uint32_t)pg->h; y0 += th)
            for (uint32_t x0 = 0; ok && x0 < (uint32_t)pg->w; x0 += tw) {
                if (TIFFReadTile(tif, tile, x0, y0, 0, (uint16_t)s) < 0) {
                    ok = 0;
                    break;
                }
                /* tile widths are multiples of 16, so a tile starts on a byte */
                uint32_t cols = tw < pg->w - x0 ? tw : pg->w - x0, rows = th < pg->h - y0 ? th : pg->h - y0;
                size_t bytes = (cols * pixel_bits + 7) / 8, at = x0 * pixel_bits / 8;
                for (uint32_t r = 0; r < rows; r++)
                    memcpy(pg->raw + ((size_t)s * pg->h + y0 + r) * pg->row_bytes + at, tile + r * tile_row, bytes);
            }
    free(tile);
    return ok;
}

/* The page's pixels into pg->raw, as samples or (YCBCR, LAB) as RGBA. 1, 0 unreadable, -1 out of memory. */
static int read_samples(TIFF *tif, tiff_page *pg)
{
    if (pg->kind == YCBCR) return read_rgba(tif, pg);
    int read = read_planes(tif, pg);
    return read > 0 && pg->kind == LAB ? lab_to_rgb(pg) : read;
}

static align_status tiff_failed(const tiff_source *src, const char *name, const char *what, align_error *err)
{
    if (src->message[0]) return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt TIFF image (%s)", name, src->message);
    return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt TIFF image (%s)", name, what);
}

/* The first page's header, its kind, then its samples. */
static align_status tiff_page_read(TIFF *tif, const tiff_source *src, const char *name, uint64_t max_pixels,
                                   tiff_page *pg, align_error *err)
{
    uint32_t w = 0, h = 0;
    uint16_t bits = 1, samples = 1, planar = PLANARCONFIG_CONTIG, photometric;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h))
        return tiff_failed(src, name, "no image size", err);
    if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric)) photometric = PHOTOMETRIC_MINISWHITE;
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bits);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &samples);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    align_status s = image_check_size(name, "TIFF", w > INT32_MAX ? -1 : (int)w, h > INT32_MAX ? -1 : (int)h,
                                      max_pixels, err);
    if (s) return s;
    *pg = (tiff_page){.w = (int)w, .h = (int)h, .bits = bits, .samples = samples,
                      .planar = planar == PLANARCONFIG_SEPARATE && samples > 1, .photometric = photometric};
    if ((pg->kind = page_kind(tif, pg)) == UNSUPPORTED)
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: unsupported TIFF (photometric %d, %d bits x %d samples)", name,
                          photometric, bits, samples);
    int four = pg->kind == YCBCR || pg->kind == LAB; /* rows of 4 bytes a pixel */
    tmsize_t row = four ? (tmsize_t)w * 4 : TIFFScanlineSize(tif);
    size_t want = four ? (size_t)w * 4 : ((size_t)w * (pg->planar ? 1 : samples) * bits + 7) / 8;
    if (row <= 0 || (size_t)row < want) return tiff_failed(src, name, "inconsistent row size", err);
    pg->row_bytes = (size_t)row;
    size_t planes = pg->planar ? samples : 1;
    if (!(pg->raw = calloc(planes * h, pg->row_bytes))) return image_out_of_memory(name, pg->w, pg->h, err);
    int read = read_samples(tif, pg);
    if (read < 0) return image_out_of_memory(name, pg->w, pg->h, err);
    if (!read) return tiff_failed(src, name, "unreadable image data", err);
    return ALIGN_OK;
}

align_status tiff_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                         align_error *err)
{
    tiff_source src = {p, n, 0, ""};
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory opening the TIFF", name);
    TIFFOpenOptionsSetErrorHandlerExtR(opts, on_error, &src);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, on_warning, &src);
    /* no single allocation bigger than a strip or tile of the largest image allowed could need */
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)(max_pixels < (1u << 28) ? max_pixels : (1u << 28)) * 8);
    TIFF *tif = TIFFClientOpenExt(name, "rm", &src, source_read, source_write, source_seek, source_close,
                                  source_size, source_map, source_unmap, opts);
    TIFFOpenOptionsFree(opts);
    if (!tif) return tiff_failed(&src, name, "unreadable header", err);
    tiff_page pg = {0};
    align_status s = tiff_page_read(tif, &src, name, max_pixels, &pg, err);
    if (!s && !(out->rgb = big_malloc((size_t)pg.w * pg.h * 3))) s = image_out_of_memory(name, pg.w, pg.h, err);
    if (!s) {
        for (int y = 0; y < pg.h; y++)
            for (int x = 0; x < pg.w; x++) page_pixel(&pg, x, y, out->rgb + ((size_t)y * pg.w + x) * 3);
        out->width = pg.w;
        out->height = pg.h;
    }
    free(pg.raw);
    TIFFClose(tif);
    return s;
}
