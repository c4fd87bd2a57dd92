/* icns.c: an Apple icon file (.icns) as Pillow 9.4's IcnsImagePlugin reads it, then convert("RGB").
 *
 * Pillow walks the entries from byte 8 while its position is below the length the header gives,
 * each an 8-byte header (four-letter code, length counting the header) it must be able to read;
 * a length of 0 stops it, one below 8 steps back into the header just read. The last entry of a
 * code wins. Of the sizes it knows (side x side at a scale of 1 or 2) it opens the largest, by
 * side then scale, of which the file has any entry, and reads every entry of that size it has:
 *   - the newer kinds hold a PNG (read from the rest of the file, whatever the entry's length)
 *     or a JPEG 2000 file or codestream (the entry's bytes only, its length 7 or more); either
 *     is decoded as such a file alone is, and wins, but must be square, as large as one of the
 *     file's sizes;
 *   - the 24-bit kinds ("is32", "il32", "ih32", "it32" after four zero bytes) are plain RGB when
 *     the entry is exactly three planes long, else three planes each packed with runs (a byte n
 *     below 128: n + 1 bytes follow; else one byte repeated n - 125 times) that must fill their
 *     plane exactly, read on past the entry's end if they go on;
 *   - the masks ("s8mk", ...) are side x side bytes read from the entry's start: convert("RGB")
 *     drops them, but a file cut short of one is refused, and a mask alone is no image.
 * Pillow's header walk fails at open (no other plugin claims a file starting "icns"); the
 * entries fail later; both are refused. An icon keeps no EXIF orientation. */
#include "image_decode.h"

#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"

typedef enum { KIND_PNG_OR_JP2, KIND_RLE, KIND_RLE_AFTER_ZEROS, KIND_MASK } icns_kind;

typedef struct {
    char code[5];
    unsigned side, scale;
    icns_kind kind;
} icns_code;

/* The codes Pillow knows, each size's in the order it reads them. */
static const icns_code codes[] = {
    {"ic10", 512, 2, KIND_PNG_OR_JP2}, {"ic09", 512, 1, KIND_PNG_OR_JP2}, {"ic14", 256, 2, KIND_PNG_OR_JP2},
    {"ic08", 256, 1, KIND_PNG_OR_JP2}, {"ic13", 128, 2, KIND_PNG_OR_JP2}, {"ic07", 128, 1, KIND_PNG_OR_JP2},
    {"it32", 128, 1, KIND_RLE_AFTER_ZEROS}, {"t8mk", 128, 1, KIND_MASK}, {"icp6", 64, 1, KIND_PNG_OR_JP2},
    {"ic12", 32, 2, KIND_PNG_OR_JP2}, {"ih32", 48, 1, KIND_RLE}, {"h8mk", 48, 1, KIND_MASK},
    {"icp5", 32, 1, KIND_PNG_OR_JP2}, {"il32", 32, 1, KIND_RLE}, {"l8mk", 32, 1, KIND_MASK},
    {"ic11", 16, 2, KIND_PNG_OR_JP2}, {"icp4", 16, 1, KIND_PNG_OR_JP2}, {"is32", 16, 1, KIND_RLE},
    {"s8mk", 16, 1, KIND_MASK},
};
#define NCODES (sizeof codes / sizeof codes[0])

typedef struct {
    int present;
    uint64_t start; /* may lie past the end of the file */
    int64_t length; /* the header's length less the header: below 0 for a length under 8 */
} icns_entry;

static const char PNG_MAGIC[] = "\x89PNG\r\n\x1a\n";
static const char JP2_MAGIC[] = "\0\0\0\x0cjP  \r\n\x87\n";

/* ---- the header walk --------------------------------------------------------------------------- */

static align_status icns_walk(const uint8_t *p, size_t n, const char *name, icns_entry *entries, align_error *err)
{
    if (n < 8) return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated ICNS header", name);
    uint64_t end = be32(p + 4), at = 8;
    while (at < end) {
        if (at > n || n - at < 8)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated ICNS (an entry header runs past the end)", name);
        uint32_t length = be32(p + at + 4);
        if (!length) return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt ICNS (an entry of length 0)", name);
        for (size_t c = 0; c < NCODES; c++)
            if (!memcmp(p + at, codes[c].code, 4)) entries[c] = (icns_entry){1, at + 8, (int64_t)length - 8};
        at += length;
    }
    return ALIGN_OK;
}

/* a before b in Pillow's ranking of sizes: (side, side, scale) compared as tuples */
static int size_below(const icns_code *a, const icns_code *b)
{
    return a->side < b->side || (a->side == b->side && a->scale < b->scale);
}

static int same_size(const icns_code *a, const icns_code *b)
{
    return a->side == b->side && a->scale == b->scale;
}

/* ---- the 24-bit kinds -------------------------------------------------------------------------- */

/* One plane of runs from p[*at..n) into every third byte of rgb. */
static align_status rle_plane(const uint8_t *p, size_t n, uint64_t *at, size_t count, uint8_t *rgb, const char *name,
                              const char *code, align_error *err)
{
    size_t done = 0;
    while (done < count) {
        if (*at >= n) break;
        unsigned b = p[(*at)++];
        size_t run = b & 0x80 ? b - 125 : b + 1;
        if (run > count - done)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt ICNS (the %s entry's runs overrun a channel)", name,
                              code);
        if (*at >= n || (!(b & 0x80) && n - *at < run)) break;
        for (size_t i = 0; i < run; i++) rgb[3 * (done + i)] = b & 0x80 ? p[*at] : p[*at + i];
        *at += b & 0x80 ? 1 : run;
        done += run;
    }
    if (done < count)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated ICNS (the %s entry's data cut short)", name, code);
    return ALIGN_OK;
}

static align_status rle_image(const uint8_t *p, size_t n, const icns_code *c, const icns_entry *e, const char *name,
                              uint64_t max_pixels, align_image *out, align_error *err)
{
    uint64_t at = e->start;
    int64_t length = e->length;
    if (c->kind == KIND_RLE_AFTER_ZEROS) {
        if (at > n || n - at < 4 || be32(p + at))
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt ICNS (the it32 entry does not start with four zero "
                              "bytes)", name);
        at += 4, length -= 4;
    }
    align_status s = image_check_size(name, "ICNS", (int)c->side, (int)c->side, max_pixels, err);
    if (s) return s;
    size_t count = (size_t)c->side * c->side;
    uint8_t *rgb = big_malloc(count * 3);
    if (!rgb) return image_out_of_memory(name, (int)c->side, (int)c->side, err);
    if (length == (int64_t)count * 3) {
        if (at > n || n - at < count * 3)
            s = align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated ICNS (the %s entry's data cut short)", name, c->code);
        else
            memcpy(rgb, p + at, count * 3);
    } else {
        for (int band = 0; band < 3 && !s; band++) s = rle_plane(p, n, &at, count, rgb + band, name, c->code, err);
    }
    if (s) {
        free(rgb);
        return s;
    }
    *out = (align_image){.rgb = rgb, .width = (int)c->side, .height = (int)c->side};
    return ALIGN_OK;
}

/* ---- the newer kinds --------------------------------------------------------------------------- */

static int starts_with(const uint8_t *p, uint64_t at, size_t n, const char *magic, size_t len)
{
    return at <= n && n - at >= len && !memcmp(p + at, magic, len);
}

/* A PNG from the entry's start to the end of the file; a JPEG 2000 file or codestream of the
 * entry's bytes (all the rest when its header says 7, which leaves -1 to read). */
static align_status payload_image(const uint8_t *p, size_t n, const icns_code *c, const icns_entry *e,
                                  const char *name, uint64_t max_pixels, align_image *out, align_error *err)
{
    if (starts_with(p, e->start, n, PNG_MAGIC, 8))
        return stb_decode_png(p + e->start, n - e->start, name, max_pixels, out, err);
    if (!starts_with(p, e->start, n, "\xffO\xffQ", 4) && !starts_with(p, e->start, n, "\r\n\x87\n", 4) &&
        !starts_with(p, e->start, n, JP2_MAGIC, 12))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: ICNS %s entry neither a PNG nor a JPEG 2000 image", name, c->code);
    /* a file's read takes -1 for "all the rest" and refuses any other length below 0 */
    if (e->length < -1)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt ICNS (the %s entry's header gives a length under 7)", name, c->code);
    size_t left = n - e->start;
    size_t len = e->length == -1 || (uint64_t)e->length > left ? left : (size_t)e->length;
    /* the bare signature box's tail also passes for JPEG 2000 here, but not when it is opened */
    if (!starts_with(p, e->start, e->start + len, "\xffO\xffQ", 4) &&
        !starts_with(p, e->start, e->start + len, JP2_MAGIC, 12))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: ICNS %s entry not a JPEG 2000 file Pillow opens", name, c->code);
    return jp2_decode(p + e->start, len, name, max_pixels, out, err);
}

/* Pillow keeps a payload's image only at a size one of the file's entries has. */
static int size_in_file(const icns_entry *entries, int w, int h)
{
    for (size_t c = 0; c < NCODES; c++)
        if (entries[c].present && w == h && (unsigned)w == codes[c].side * codes[c].scale) return 1;
    return 0;
}

/* ---- the size Pillow opens --------------------------------------------------------------------- */

/* Every entry of the size at codes[first..], each read as Pillow reads it: the payload's image,
 * else the 24-bit one, into out. */
static align_status read_size(const uint8_t *p, size_t n, const icns_entry *entries, size_t first, const char *name,
                              uint64_t max_pixels, align_image *out, align_error *err)
{
    align_image payload = {0}, rgb = {0};
    align_status s = ALIGN_OK;
    for (size_t c = first; c < NCODES && same_size(&codes[c], &codes[first]) && !s; c++) {
        const icns_entry *e = &entries[c];
        if (!e->present) continue;
        if (codes[c].kind == KIND_PNG_OR_JP2)
            s = payload_image(p, n, &codes[c], e, name, max_pixels, &payload, err);
        else if (codes[c].kind != KIND_MASK)
            s = rle_image(p, n, &codes[c], e, name, max_pixels, &rgb, err);
        else if (e->start > n || n - e->start < (uint64_t)codes[c].side * codes[c].side)
            s = align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated ICNS (the %s mask cut short)", name, codes[c].code);
    }
    if (!s && payload.rgb && !size_in_file(entries, payload.width, payload.height))
        s = align_fail(err, ALIGN_ERR_FORMAT, "%s: ICNS entry holding a %dx%d image, not one of the file's sizes", name,
                       payload.width, payload.height);
    if (!s && !payload.rgb && !rgb.rgb)
        s = align_fail(err, ALIGN_ERR_FORMAT, "%s: ICNS whose largest size has a mask but no image", name);
    if (s || payload.rgb) align_image_free(&rgb);
    if (s) align_image_free(&payload);
    if (!s) *out = payload.rgb ? payload : rgb;
    return s;
}

align_status icns_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                         align_error *err)
{
    icns_entry entries[NCODES] = {{0}};
    align_status s = icns_walk(p, n, name, entries, err);
    if (s) return s;
    size_t best = NCODES;
    for (size_t c = 0; c < NCODES; c++)
        if (entries[c].present && (best == NCODES || size_below(&codes[best], &codes[c]))) best = c;
    if (best == NCODES)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: an ICNS without an icon Pillow reads", name);
    size_t first = best;
    while (first > 0 && same_size(&codes[first - 1], &codes[best])) first--;
    return read_size(p, n, entries, first, name, max_pixels, out, err);
}
