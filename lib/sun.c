/* sun.c: Sun raster files as Pillow 9.4's SunImagePlugin reads them, then convert("RGB"): 1 bit a
 * pixel (a set bit black), 4 and 8 bits grey or, with a colour map, palette indices, 24 bits BGR
 * and 32 bits BGR and a byte dropped (RGB, RGB and a byte for the "RGB format", type 3); raw
 * (types 0, 1, 3, 4 and 5: rows padded to 16 bits) or run-length encoded (type 2: rows not padded,
 * a run may cross into the next rows). The header's data length is ignored, as Pillow ignores it.
 * A colour map is taken only of type 1 and at most 1024 bytes: its reds, then its greens, then its
 * blues, a third of its length each; indices past it get PIL's grey ramp. Pillow cannot apply a
 * map to a 1-, 24- or 32-bit image, nor one of more than 256 colours, and refuses those files. */
#include "image_decode.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"

#define SUN_HEADER 32
#define SUN_MAP_MAX 1024

typedef struct {
    uint32_t width, height, depth, type;
    uint32_t map_bytes;    /* the colour map's length; 0: none */
    size_t row_bytes;      /* a row's pixels, packed */
    uint8_t levels[256][3]; /* 4- and 8-bit: a value to RGB (the grey ramp, or the colour map) */
} sun_info;

/* What Pillow's _open checks; a file failing it no other plugin takes either. */
static align_status sun_header(const uint8_t *p, size_t n, const char *name, sun_info *s, align_error *err)
{
    if (n < SUN_HEADER) return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated SUN header", name);
    s->width = be32(p + 4), s->height = be32(p + 8), s->depth = be32(p + 12), s->type = be32(p + 20);
    uint32_t map_type = be32(p + 24);
    s->map_bytes = be32(p + 28);
    if (s->depth != 1 && s->depth != 4 && s->depth != 8 && s->depth != 24 && s->depth != 32)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: SUN of %u bits a pixel, which Pillow does not read", name,
                          s->depth);
    if (s->map_bytes > SUN_MAP_MAX)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: SUN colour map of %u bytes, over the %d Pillow reads", name,
                          s->map_bytes, SUN_MAP_MAX);
    if (s->map_bytes && map_type != 1)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: SUN colour map of type %u, which Pillow does not read",
                          name, map_type);
    if (s->type > 5)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: SUN file of type %u, which Pillow does not read", name,
                          s->type);
    if (!s->width || !s->height)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: SUN image of %u x %u pixels", name, s->width, s->height);
    s->row_bytes = ((size_t)s->width * s->depth + 7) / 8;
    return ALIGN_OK;
}

/* The 4- and 8-bit values' colours: a 4-bit grey level is scaled by 17, as PIL unpacks it. A map
 * cut short leaves no data after it, which sun_pixels refuses. */
static align_status sun_levels(const uint8_t *p, size_t n, const char *name, sun_info *s, align_error *err)
{
    unsigned grey_scale = s->depth == 4 ? 17 : 1, top = s->depth == 4 ? 16 : 256;
    for (unsigned i = 0; i < 256; i++)
        s->levels[i][0] = s->levels[i][1] = s->levels[i][2] = (uint8_t)(i < top ? i * grey_scale : i);
    if (!s->map_bytes) return ALIGN_OK;
    if (s->depth != 4 && s->depth != 8)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: SUN colour map on a %u-bit image, which Pillow cannot apply",
                          name, s->depth);
    uint32_t entries = s->map_bytes / 3;
    if (entries > 256)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: SUN colour map of %u colours, more than a palette holds", name,
                          entries);
    if (n - SUN_HEADER < s->map_bytes) return ALIGN_OK;
    for (unsigned i = 0; i < 256; i++) /* past the map's entries, PIL's grey ramp */
        for (unsigned k = 0; k < 3; k++) s->levels[i][k] = i < entries ? p[SUN_HEADER + k * entries + i] : (uint8_t)i;
    return ALIGN_OK;
}

/* Pillow's RLE decoder over the file from `at`: rows of row_bytes, one stream. A byte other than
 * 0x80 is itself; 0x80 0 is 0x80; 0x80 c v is c + 1 bytes v, a run past the image's end cut. 1, or
 * 0 when the file ends first. */
static int sun_rle(const uint8_t *p, size_t n, size_t at, uint8_t *out, size_t total)
{
    for (size_t x = 0; x < total;) {
        if (at >= n) return 0;
        if (p[at] != 0x80) {
            out[x++] = p[at++];
        } else if (n - at >= 2 && p[at + 1] == 0) {
            out[x++] = 0x80;
            at += 2;
        } else if (n - at >= 3) {
            size_t count = (size_t)p[at + 1] + 1;
            if (count > total - x) count = total - x;
            memset(out + x, p[at + 2], count);
            x += count;
            at += 3;
        } else {
            return 0;
        }
    }
    return 1;
}

/* One row of pixels to RGB. */
static void sun_row(const sun_info *s, const uint8_t *src, uint8_t *rgb)
{
    int rgb_order = s->type == 3;
    for (uint32_t x = 0; x < s->width; x++, rgb += 3) {
        switch (s->depth) {
        case 1:
            rgb[0] = rgb[1] = rgb[2] = src[x / 8] >> (7 - x % 8) & 1 ? 0 : 255;
            break;
        case 4:
            memcpy(rgb, s->levels[x % 2 ? src[x / 2] & 15 : src[x / 2] >> 4], 3);
            break;
        case 8:
            memcpy(rgb, s->levels[src[x]], 3);
            break;
        default: { /* 24 and 32 bits: BGR or RGB, a fourth byte skipped */
            const uint8_t *v = src + (size_t)x * (s->depth / 8);
            rgb[0] = v[rgb_order ? 0 : 2], rgb[1] = v[1], rgb[2] = v[rgb_order ? 2 : 0];
        }
        }
    }
}

/* The pixels, from raw rows (each padded to 16 bits, but not the last: Pillow stops after it) or
 * from the RLE stream decoded into plane. */
static align_status sun_pixels(const uint8_t *p, size_t n, const char *name, const sun_info *s, uint8_t *plane,
                               uint8_t *rgb, align_error *err)
{
    uint64_t at = (uint64_t)SUN_HEADER + s->map_bytes, h = s->height;
    size_t stride = plane ? s->row_bytes : ((size_t)s->width * s->depth + 15) / 16 * 2;
    const uint8_t *rows = plane;
    if (plane) {
        if (at >= n || !sun_rle(p, n, (size_t)at, plane, s->row_bytes * s->height))
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: SUN run-length data cut short", name);
    } else {
        if (at > n || n - at < (h - 1) * stride + s->row_bytes)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: SUN data cut short", name);
        rows = p + at;
    }
    for (size_t y = 0; y < s->height; y++) sun_row(s, rows + y * stride, rgb + y * s->width * 3);
    return ALIGN_OK;
}

align_status sun_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    sun_info s;
    align_status st = sun_header(p, n, name, &s, err);
    if (st) return st;
    if (s.width > INT_MAX || s.height > INT_MAX) return image_over_limit(name, s.width, s.height, max_pixels, err);
    if ((st = image_check_size(name, "SUN", (int)s.width, (int)s.height, max_pixels, err))) return st;
    if ((st = sun_levels(p, n, name, &s, err))) return st;
    uint8_t *plane = s.type == 2 ? big_malloc(s.row_bytes * s.height) : NULL;
    uint8_t *rgb = big_malloc((size_t)s.width * s.height * 3);
    if (!rgb || (s.type == 2 && !plane))
        st = image_out_of_memory(name, (int)s.width, (int)s.height, err);
    else
        st = sun_pixels(p, n, name, &s, plane, rgb, err);
    free(plane);
    if (st) {
        free(rgb);
        return st;
    }
    out->rgb = rgb, out->width = (int)s.width, out->height = (int)s.height;
    return ALIGN_OK;
}
