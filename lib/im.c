/* im.c: IFUNC/LabEye "IM" files (.im, what PIL's own IM writer makes) as Pillow 9.4's ImImagePlugin reads
 * them, then convert("RGB").
 *
 * The header is text: lines "Key: value" (at most 100 bytes each, CRs at a line's start skipped), ended
 * by a 0x1A byte, or by a NUL and whatever follows up to the next 0x1A. Pillow has no signature test for
 * it: it tries IM after ICO on any file, and takes it when the header reads (im_opens). "Image type"
 * names how the pixels are stored (a table of IFUNC's names; a name not in it is taken as PIL's mode
 * itself, with the raw layout of the last known name), "Image size (x*y)" the size (512 x 512 if
 * none), "Lut" says a 768-byte palette (reds, greens, blues) follows the header. Rows are stored bottom
 * row first; multi-band layouts keep each band's row apart ("line interleaved"), or (RGB3) whole planes.
 * What PIL gives is reproduced, quirks included: a non-grey Lut makes an 8-bit palette image of any
 * grey or palette type; the bit-field decoder of odd depths or-s a row's unused bits into the next row's
 * first bits. */
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
#include "pyint.h"

#define IM_LINE_MAX 100
#define IM_PALETTE 768

/* PIL's modes an IM file can end in; M_OTHER: any other name, which Pillow opens but cannot load. */
enum im_mode { M_1, M_L, M_LA, M_P, M_PA, M_I, M_I16, M_I16L, M_I16B, M_F, M_RGB, M_RGBA, M_RGBX, M_CMYK, M_YCC,
               M_LAB, M_OTHER };
#define MB(m) (1u << (m))

/* How pixels are stored (PIL's raw modes): bands of bytes, or numbers read as a grey level. */
enum im_raw { R_1, R_L, R_P, R_P2, R_P4, R_RGB, R_RGB_L, R_RLB, R_RGB_T, R_LA_L, R_PA_L, R_RGBA_L, R_RGBX_L,
              R_CMYK_L, R_YCC_L, R_I16, R_I16L, R_I16B, R_I32, R_F8, R_F8S, R_F16, R_F16S, R_F32, R_F32F, R_FBITS };

typedef struct {
    unsigned bits;  /* a pixel's bits in a row (each band's in a row of planes) */
    unsigned lines; /* bands stored one row after another: 0 for pixel by pixel */
    unsigned modes; /* the modes PIL has an unpacker for from this raw mode */
} im_raw_info;

static const im_raw_info raws[] = {
    [R_1] = {1, 0, MB(M_1)},
    [R_L] = {8, 0, MB(M_L)},
    [R_P] = {8, 0, MB(M_P)},
    [R_P2] = {2, 0, MB(M_P)},
    [R_P4] = {4, 0, MB(M_P)},
    [R_RGB] = {24, 0, MB(M_RGB) | MB(M_RGBX)},
    [R_RGB_L] = {8, 3, MB(M_RGB) | MB(M_RGBX)},
    [R_RLB] = {24, 0, 0},
    [R_RGB_T] = {8, 0, MB(M_RGB) | MB(M_RGBA) | MB(M_RGBX)},
    [R_LA_L] = {8, 2, MB(M_LA)},
    [R_PA_L] = {8, 2, MB(M_PA)},
    [R_RGBA_L] = {8, 4, MB(M_RGBA) | MB(M_RGB)},
    [R_RGBX_L] = {8, 4, MB(M_RGBX) | MB(M_RGB)},
    [R_CMYK_L] = {8, 4, MB(M_CMYK)},
    [R_YCC_L] = {8, 3, MB(M_YCC)},
    [R_I16] = {16, 0, MB(M_I16) | MB(M_I)},
    [R_I16L] = {16, 0, MB(M_I16L)},
    [R_I16B] = {16, 0, MB(M_I16B) | MB(M_I)},
    [R_I32] = {32, 0, MB(M_I)},
    [R_F8] = {8, 0, MB(M_F)},
    [R_F8S] = {8, 0, MB(M_F)},
    [R_F16] = {16, 0, MB(M_F)},
    [R_F16S] = {16, 0, MB(M_F)},
    [R_F32] = {32, 0, MB(M_F)},
    [R_F32F] = {32, 0, MB(M_F)},
    [R_FBITS] = {0, 0, MB(M_F)}, /* bits: the header's */
};

typedef struct {
    const char *name;
    enum im_mode mode;
    enum im_raw raw;
} im_type;

/* IFUNC's image types as Pillow maps them ("L <depth> image" and "L*<depth> image" are im_depth_type's). */
static const im_type types[] = {
    {"0 1 image", M_1, R_1},          {"L 1 image", M_1, R_1},         {"Greyscale image", M_L, R_L},
    {"Grayscale image", M_L, R_L},    {"RGB image", M_RGB, R_RGB_L},   {"RLB image", M_RGB, R_RLB},
    {"RYB image", M_RGB, R_RLB},      {"B1 image", M_1, R_1},          {"B2 image", M_P, R_P2},
    {"B4 image", M_P, R_P4},          {"X 24 image", M_RGB, R_RGB},    {"L 32 S image", M_I, R_I32},
    {"L 32 F image", M_F, R_F32},     {"RGB3 image", M_RGB, R_RGB_T},  {"RYB3 image", M_RGB, R_RGB_T},
    {"LA image", M_LA, R_LA_L},       {"PA image", M_LA, R_PA_L},      {"RGBA image", M_RGBA, R_RGBA_L},
    {"RGBX image", M_RGBX, R_RGBX_L}, {"CMYK image", M_CMYK, R_CMYK_L}, {"YCC image", M_YCC, R_YCC_L},
};

/* PIL's mode names, for a type given as one. */
static const struct {
    const char *name;
    enum im_mode mode;
} mode_names[] = {
    {"1", M_1},     {"L", M_L},       {"LA", M_LA},       {"P", M_P},       {"PA", M_PA},     {"I", M_I},
    {"I;16", M_I16}, {"I;16L", M_I16L}, {"I;16B", M_I16B}, {"F", M_F},       {"RGB", M_RGB},   {"RGBA", M_RGBA},
    {"RGBX", M_RGBX}, {"CMYK", M_CMYK}, {"YCbCr", M_YCC},  {"LAB", M_LAB},
};

typedef enum { IM_NOT, IM_REFUSED, IM_OK } im_verdict;

typedef struct {
    enum im_mode mode;
    int mode_empty;
    enum im_raw raw;
    unsigned bits;        /* R_FBITS: the depth */
    int size_parts;       /* numbers in the size: 1, 2, or more */
    int size_float;       /* a size given as a float, which Pillow cannot load */
    int64_t w, h;         /* saturated */
    int lut, colour_lut;  /* a palette follows the header; it is not grey, so the image is P or PA */
    size_t data;          /* where the pixels start */
    const uint8_t *palette;
} im_header;

static int is_letter(uint8_t c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* the whitespace Python's int() and float() skip, among the Latin-1 characters Pillow decodes the
 * header to (not the separators 0x1C-0x1F, which str.strip() would take) */
static int is_space(uint8_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || c == 0x85 || c == 0xa0;
}

static int equals(const uint8_t *s, size_t len, const char *text)
{
    return strlen(text) == len && memcmp(s, text, len) == 0;
}

typedef struct {
    int is_float;
    double f;
    int64_t i; /* saturated */
} im_number;

/* Python's int(s), else float(s): 0 where both raise ValueError. */
static int parse_number(const uint8_t *s, size_t len, im_number *v)
{
    while (len && is_space(s[len - 1])) len--;
    size_t i = 0;
    while (i < len && is_space(s[i])) i++;
    *v = (im_number){0, 0, 0};
    long long integer;
    if (py_int(s + i, len - i, 10, &integer, NULL)) {
        v->i = integer;
        return 1;
    }
    v->is_float = 1;
    return py_float(s + i, len - i, &v->f);
}

/* "Image size", "Scale" and "File size": numbers split at '*' or ','; 0 where one is no number. */
static int parse_numbers(const uint8_t *s, size_t len, im_header *h, int is_size)
{
    int parts = 0;
    if (is_size) h->size_float = 0;
    for (size_t start = 0;; parts++) {
        size_t end = start;
        while (end < len && s[end] != '*' && s[end] != ',') end++;
        im_number v;
        if (!parse_number(s + start, end - start, &v)) return 0;
        if (is_size) {
            int64_t *to = parts == 0 ? &h->w : parts == 1 ? &h->h : NULL;
            if (to) *to = v.is_float ? (isnan(v.f) ? 1 : v.f > 0 ? INT64_MAX : 0) : v.i;
            h->size_float |= v.is_float;
        }
        if (end == len) break;
        start = end + 1;
    }
    if (is_size) h->size_parts = parts + 1;
    return 1;
}

/* "L <depth> image" and "L*<depth> image", the depths of IFUNC 95 */
static int im_depth_type(const uint8_t *v, size_t len, im_header *h)
{
    if (len < 9 || v[0] != 'L' || (v[1] != ' ' && v[1] != '*') || !equals(v + len - 6, 6, " image")) return 0;
    const uint8_t *d = v + 2;
    size_t dl = len - 8;
    static const struct {
        const char *depth;
        enum im_mode mode;
        enum im_raw raw;
        int star; /* -1: either; 0: "L " only; 1: "L*" only */
    } depths[] = {
        {"8", M_F, R_F8, -1},       {"8S", M_F, R_F8S, -1},    {"16", M_I16, R_I16, 0}, {"16", M_F, R_F16, 1},
        {"16S", M_F, R_F16S, -1},   {"32", M_F, R_F32, -1},    {"32F", M_F, R_F32F, -1}, {"16L", M_I16L, R_I16L, -1},
        {"16B", M_I16B, R_I16B, -1}, {"32S", M_I, R_I32, -1},
    };
    int star = v[1] == '*';
    for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++)
        if ((depths[i].star < 0 || depths[i].star == star) && equals(d, dl, depths[i].depth)) {
            h->mode = depths[i].mode, h->raw = depths[i].raw;
            return 1;
        }
    /* "L*2" to "L*32", in canonical decimal: 8, 16 and 32 are whole bytes, the others bit fields */
    if (!star || dl < 1 || dl > 2 || d[0] == '0' || !is_digit(d[0]) || (dl == 2 && !is_digit(d[1]))) return 0;
    unsigned bits = dl == 1 ? (unsigned)(d[0] - '0') : (d[0] - '0') * 10u + (d[1] - '0');
    if (bits < 2 || bits > 32) return 0;
    h->mode = M_F, h->raw = R_FBITS, h->bits = bits;
    return 1;
}

static void set_type(const uint8_t *v, size_t len, im_header *h)
{
    h->mode_empty = len == 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (equals(v, len, types[i].name)) {
            h->mode = types[i].mode, h->raw = types[i].raw;
            return;
        }
    if (im_depth_type(v, len, h)) return;
    h->mode = M_OTHER; /* PIL's mode is the text itself; the raw layout stays the last type's */
    for (size_t i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++)
        if (equals(v, len, mode_names[i].name)) h->mode = mode_names[i].mode;
}

/* One header line, "Key: value" (its end of line stripped): IM_NOT where Pillow's pattern fails, so
 * Pillow takes the file for no IM; IM_REFUSED where a number does not parse (a ValueError that ends
 * Image.open). *tags counts the keys IFUNC defines. */
static im_verdict header_line(const uint8_t *s, size_t len, im_header *h, int *tags)
{
    if (!len || !is_letter(s[0])) return IM_NOT;
    const uint8_t *colon = memchr(s, ':', len);
    if (!colon) return IM_NOT;
    size_t klen = (size_t)(colon - s), at = klen + 1;
    while (at < len && (s[at] == ' ' || s[at] == '\t')) at++;
    const uint8_t *v = s + at;
    size_t vlen = len - at;
    static const char *const tags_known[] = {"Comment", "Date", "Digitalization equipment", "File size (no of images)",
                                             "Lut", "Name", "Scale (x,y)", "Image size (x*y)", "Image type"};
    for (size_t i = 0; i < sizeof tags_known / sizeof tags_known[0]; i++)
        if (equals(s, klen, tags_known[i])) ++*tags;
    if (equals(s, klen, "Image size (x*y)")) return parse_numbers(v, vlen, h, 1) ? IM_OK : IM_REFUSED;
    if (equals(s, klen, "File size (no of images)") || equals(s, klen, "Scale (x,y)"))
        return parse_numbers(v, vlen, h, 0) ? IM_OK : IM_REFUSED;
    if (equals(s, klen, "Image type")) set_type(v, vlen, h);
    if (equals(s, klen, "Lut")) h->lut = 1;
    return IM_OK;
}

/* Pillow reads the palette's bytes as they come and compares entry i's red, green and blue: a palette
 * cut short fails (an IndexError: no IM) at the first comparison that reaches past its end. 1 when
 * grey, 0 when not, -1 when cut short. */
static int lut_grey(const uint8_t *pal, size_t len)
{
    int grey = 1;
    for (size_t i = 0; i < 256; i++) {
        if (i + 256 >= len) return -1;
        if (pal[i] != pal[i + 256]) {
            grey = 0;
            continue;
        }
        if (i + 512 >= len) return -1;
        if (pal[i] != pal[i + 512]) grey = 0;
    }
    return grey;
}

/* The header, as Pillow's _open and Image.open read it. */
static im_verdict im_header_read(const uint8_t *p, size_t n, im_header *h)
{
    *h = (im_header){.mode = M_L, .raw = R_L, .w = 512, .h = 512, .size_parts = 2};
    if (!memchr(p, '\n', n < IM_LINE_MAX ? n : IM_LINE_MAX)) return IM_NOT;
    size_t at = 0;
    int tags = 0, end = -1;
    while (at < n) {
        uint8_t c = p[at];
        if (c == '\r') {
            at++;
            continue;
        }
        if (c == 0 || c == 0x1a) {
            end = c;
            at++;
            break;
        }
        const uint8_t *nl = memchr(p + at, '\n', n - at);
        size_t len = nl ? (size_t)(nl - (p + at)) + 1 : n - at;
        if (len > IM_LINE_MAX) return IM_NOT;
        size_t strip = len >= 2 && p[at + len - 2] == '\r' && p[at + len - 1] == '\n' ? 2 : p[at + len - 1] == '\n';
        im_verdict v = header_line(p + at, len - strip, h, &tags);
        if (v != IM_OK) return v;
        at += len;
    }
    if (!tags || end < 0) return IM_NOT;
    if (end == 0) { /* the data starts after the next 0x1A */
        const uint8_t *sub = memchr(p + at, 0x1a, n - at);
        if (!sub) return IM_NOT;
        at = (size_t)(sub - p) + 1;
    }
    if (h->lut) {
        size_t len = n - at < IM_PALETTE ? n - at : IM_PALETTE;
        int grey = lut_grey(p + at, len);
        if (grey < 0) return IM_NOT;
        h->palette = p + at;
        h->colour_lut = !grey && (h->mode == M_L || h->mode == M_LA || h->mode == M_P || h->mode == M_PA);
        if (h->colour_lut) {
            int alpha = h->mode == M_LA || h->mode == M_PA;
            h->mode = alpha ? M_PA : M_P, h->raw = alpha ? R_PA_L : R_P;
        }
        at += len;
    }
    h->data = at;
    if (h->size_parts < 2 || h->mode_empty || h->w <= 0 || h->h <= 0) return IM_NOT;
    return h->size_parts > 2 ? IM_REFUSED : IM_OK;
}

int im_opens(const uint8_t *p, size_t n)
{
    im_header h;
    return im_header_read(p, n, &h) != IM_NOT;
}

/* ---- pixels ---- */

typedef struct {
    const im_header *h;
    const uint8_t *data;
    size_t row_bytes; /* one stored row (of all its bands' lines) */
    uint32_t carry;   /* R_FBITS: what the row before left in the bit decoder */
    uint8_t palette[256][3];
} im_image;

static size_t bits_at(const uint8_t *row, size_t bit, unsigned bits)
{
    return (size_t)(row[bit / 8] >> (8 - bits - bit % 8)) & ((1u << bits) - 1);
}

/* count bits from bit `from` of a row in PIL's bit decoder, which takes fields from the low bits of a
 * little-endian bit stream, each row starting on a byte; what a row leaves unused of its last byte it
 * does not clear, but or-s into the next row's first bits (carry). */
static uint32_t stream_bits(const uint8_t *row, size_t from, unsigned count, uint32_t carry)
{
    uint32_t v = 0;
    for (unsigned k = 0; k < count; k++) {
        size_t b = from + k;
        unsigned bit = row[b / 8] >> (b % 8) & 1;
        if (b < 8) bit |= carry >> b & 1;
        v |= (uint32_t)bit << k;
    }
    return v;
}

static uint8_t clip(int64_t v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* A number's grey level: PIL's I and I;16 modes clip it, F truncates it too (NaN is 0). */
static uint8_t number_level(const im_image *im, size_t file_row, size_t x)
{
    const uint8_t *q = im->data + file_row * im->row_bytes;
    switch (im->h->raw) {
    case R_I16: case R_I16L: case R_F16: return clip(le16(q + 2 * x));
    case R_I16B: return clip(be16(q + 2 * x));
    case R_I32: return clip((int32_t)le32(q + 4 * x));
    case R_F8: return q[x];
    case R_F8S: return clip((int8_t)q[x]);
    case R_F16S: return clip((int16_t)le16(q + 2 * x));
    case R_F32: return clip(le32(q + 4 * x));
    case R_F32F: {
        uint32_t u = le32(q + 4 * x);
        float f;
        memcpy(&f, &u, 4);
        return pil_float_level(f);
    }
    default: return clip(stream_bits(q, x * im->h->bits, im->h->bits, im->carry));
    }
}

/* Band b of pixel x in stored row file_row, for the modes of bytes. */
static uint8_t band(const im_image *im, size_t file_row, size_t x, unsigned b)
{
    const im_header *h = im->h;
    size_t w = (size_t)h->w;
    if (h->raw == R_RGB_T) { /* whole planes: green, red, blue */
        static const unsigned plane[3] = {1, 0, 2};
        return im->data[(plane[b] * (size_t)h->h + file_row) * w + x];
    }
    const uint8_t *row = im->data + file_row * im->row_bytes;
    const im_raw_info *r = &raws[h->raw];
    if (r->lines) return row[b * w + x];
    if (r->bits < 8) {
        size_t v = bits_at(row, x * r->bits, r->bits);
        return (uint8_t)(h->raw == R_1 ? (v ? 255 : 0) : v);
    }
    return row[x * (r->bits / 8) + b];
}

static void im_pixel(const im_image *im, size_t file_row, size_t x, uint8_t *rgb)
{
    switch (im->h->mode) {
    case M_I: case M_I16: case M_I16L: case M_I16B: case M_F:
        rgb[0] = rgb[1] = rgb[2] = number_level(im, file_row, x);
        return;
    case M_P: case M_PA:
        memcpy(rgb, im->palette[band(im, file_row, x, 0)], 3);
        return;
    case M_RGB: case M_RGBA: case M_RGBX:
        for (unsigned b = 0; b < 3; b++) rgb[b] = band(im, file_row, x, b);
        return;
    case M_CMYK: {
        uint8_t k = band(im, file_row, x, 3);
        for (unsigned b = 0; b < 3; b++) rgb[b] = pil_cmyk_channel(band(im, file_row, x, b), k);
        return;
    }
    case M_YCC: {
        uint8_t ycc[3] = {band(im, file_row, x, 0), band(im, file_row, x, 1), band(im, file_row, x, 2)};
        pil_ycbcr_to_rgb(ycc, rgb);
        return;
    }
    default: /* 1, L, LA */
        rgb[0] = rgb[1] = rgb[2] = band(im, file_row, x, 0);
    }
}

/* Where PIL cannot load what it opened: a mode it has no unpacker for from the stored layout. */
static const char *unloadable(const im_header *h)
{
    if (h->size_float) return "a size that is not a whole number";
    if (h->mode == M_OTHER) return "an image type PIL has no mode for";
    if (h->mode == M_LAB) return "LAB pixels stored as grey, which align does not read";
    if (!(raws[h->raw].modes & MB(h->mode))) return "an image type whose layout PIL cannot unpack";
    return NULL;
}

align_status im_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                       align_error *err)
{
    im_header h;
    im_verdict v = im_header_read(p, n, &h);
    if (v == IM_NOT) return tga_or_refuse(p, n, name, max_pixels, out, err, "not an IM file (its header does not read)");
    if (v == IM_REFUSED) return align_fail(err, ALIGN_ERR_FORMAT, "%s: IM header with a bad number or size", name);
    const char *why = unloadable(&h);
    if (why) return align_fail(err, ALIGN_ERR_FORMAT, "%s: IM file with %s", name, why);
    if ((uint64_t)h.w > max_pixels || (uint64_t)h.h > max_pixels || (uint64_t)h.w * (uint64_t)h.h > max_pixels)
        return image_over_limit(name, (uint64_t)h.w, (uint64_t)h.h, max_pixels, err);
    const im_raw_info *r = &raws[h.raw];
    unsigned bits = h.raw == R_FBITS ? h.bits : r->bits;
    size_t w = (size_t)h.w, rows = (size_t)h.h;
    im_image im = {.h = &h, .data = p + h.data, .row_bytes = (w * bits + 7) / 8 * (r->lines ? r->lines : 1)};
    uint64_t need = h.raw == R_RGB_T ? 3 * (uint64_t)w * rows : (uint64_t)im.row_bytes * rows;
    if (n - h.data < need) return align_fail(err, ALIGN_ERR_FORMAT, "%s: IM data cut short", name);
    for (unsigned i = 0; i < 256; i++) {
        const uint8_t *q = h.palette;
        uint8_t grey = (uint8_t)i;
        im.palette[i][0] = h.colour_lut ? q[i] : grey;
        im.palette[i][1] = h.colour_lut ? q[256 + i] : grey;
        im.palette[i][2] = h.colour_lut ? q[512 + i] : grey;
    }
    uint8_t *rgb = big_malloc(w * rows * 3);
    if (!rgb) return image_out_of_memory(name, (int)w, (int)rows, err);
    size_t used = w * bits;
    for (size_t r = 0; r < rows; r++) { /* in the file's order, bottom row first */
        for (size_t x = 0; x < w; x++) im_pixel(&im, r, x, rgb + ((rows - 1 - r) * w + x) * 3);
        if (h.raw == R_FBITS)
            im.carry = stream_bits(im.data + r * im.row_bytes, used, (unsigned)(im.row_bytes * 8 - used), im.carry);
    }
    out->rgb = rgb, out->width = (int)w, out->height = (int)rows;
    return ALIGN_OK;
}
