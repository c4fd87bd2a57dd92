/* orientation.c: where PIL finds a file's EXIF orientation (PIL 9.4: a JPEG's APP1 Exif segment, a
 * WebP's EXIF chunk, a TIFF's own directory; a PNG's in png_orientation.c), how its Image.Exif reads
 * the block, and the transpose exif_transpose makes of it. */
#include "orientation.h"

#include <stdlib.h>
#include <string.h>

#include <webp/demux.h>

#include "byteorder.h"
#include "error.h"
#include "memory.h"

static uint64_t rd64(const uint8_t *p, int little)
{
    return little ? (uint64_t)rd32(p + 4, 1) << 32 | rd32(p, 1) : (uint64_t)rd32(p, 0) << 32 | rd32(p + 4, 0);
}

/* Bytes a value of each TIFF type takes, as PIL knows the types (0: one it skips). LONG8 (16) is
 * read in a classic TIFF too; SLONG8 (17) is not known. */
static size_t type_size(uint32_t type)
{
    static const uint8_t size[17] = {0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4, 0, 0, 8};
    return type < 17 ? size[type] : 0;
}

/* The number an Orientation value stands for, as PIL compares it with 2..8 (1 for "no turn"): a
 * byte string or text is never a number, a rational or a float is when it is a whole one. */
static int orientation_value(uint32_t type, const uint8_t *v, int little)
{
    double x;
    switch (type) {
    case 3: x = rd16(v, little); break;                           /* SHORT */
    case 8: x = (int16_t)rd16(v, little); break;                  /* SSHORT */
    case 4:                                                        /* LONG */
    case 13: x = rd32(v, little); break;                          /* IFD, read as a LONG */
    case 9: x = (int32_t)rd32(v, little); break;                  /* SLONG */
    case 6: x = (int8_t)v[0]; break;                              /* SBYTE */
    case 16: x = rd64(v, little) > 8 ? 0 : (double)rd64(v, little); break; /* LONG8 */
    case 11: {                                                     /* FLOAT */
        uint32_t bits = rd32(v, little);
        float f;
        memcpy(&f, &bits, 4);
        x = f;
        break;
    }
    case 12: {                                                     /* DOUBLE */
        uint64_t bits = rd64(v, little);
        memcpy(&x, &bits, 8);
        break;
    }
    case 5:                                                        /* RATIONAL, SRATIONAL */
    case 10: {
        int64_t num = type == 5 ? (int64_t)rd32(v, little) : (int32_t)rd32(v, little);
        int64_t den = type == 5 ? (int64_t)rd32(v + 4, little) : (int32_t)rd32(v + 4, little);
        x = den != 0 && num % den == 0 ? (double)(num / den) : 0;
        break;
    }
    default: x = 0; /* BYTE, ASCII, UNDEFINED: bytes or text */
    }
    return x >= 2 && x <= 8 && x == (int)x ? (int)x : 1;
}

/* The Orientation tag (0x0112) of IFD0 in a TIFF-structured block (wide: BigTIFF, with 8-byte
 * offsets and counts and 20-byte entries), as PIL's getexif() reads it: entries of a type it does
 * not know and entries of no values are skipped; an entry whose values lie past the block's end
 * ends the directory there (what came before it stays); the tag's first value counts, and the
 * last entry with the tag wins. Only IFD0 holds the tag, so no offset chain is followed (and no
 * loop can form). Returns 0 when there is no such tag, 1 when the tag asks for no turn. */
static int ifd0_orientation(const uint8_t *t, size_t n, int little, int wide)
{
    uint64_t ifd = wide ? rd64(t + 8, little) : rd32(t + 4, little);
    size_t count_size = wide ? 8 : 2, entry = wide ? 20 : 12, field = wide ? 8 : 4;
    if (ifd > n || n - ifd < count_size) return 0;
    uint64_t count = wide ? rd64(t + ifd, little) : rd16(t + ifd, little);
    int orientation = 0;
    size_t e = (size_t)ifd + count_size;
    for (uint64_t i = 0; i < count && n - e >= entry; i++, e += entry) {
        uint32_t type = rd16(t + e + 2, little);
        uint64_t values = wide ? rd64(t + e + 4, little) : rd32(t + e + 4, little);
        size_t unit = type_size(type);
        if (!unit) continue;
        const uint8_t *v = t + e + 4 + (wide ? 8 : 4); /* tag, type, count, then the field */
        if (values > field / unit) { /* the values are elsewhere: at the offset the field holds */
            uint64_t at = wide ? rd64(v, little) : rd32(v, little);
            if (values > n / unit || at > n - values * unit) break;
            v = t + at;
        }
        if (values == 0) continue;
        if (rd16(t + e, little) == 0x0112) orientation = orientation_value(type, v, little);
    }
    return orientation;
}

/* PIL's Exif.load of a block without its "Exif\0\0": either byte order's mark with the magic in
 * either order; BigTIFF's magic only big-endian, where PIL reads the file as a classic one. */
int orientation_exif_tag(const uint8_t *t, size_t n)
{
    if (n == 0) return 0;
    static const char *const heads[] = {"II\x2a\0", "MM\0\x2a", "II\0\x2a", "MM\x2a\0", "MM\0\x2b"};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
        if (n >= 8 && !memcmp(t, heads[i], 4)) return ifd0_orientation(t, n, t[0] == 'I', 0);
    return ORIENTATION_REFUSED;
}

/* PIL's JPEG plugin catches what Exif.load raises for a block it cannot read, and turns nothing. */
int orientation_exif(const uint8_t *t, size_t n)
{
    int o = orientation_exif_tag(t, n);
    return o > 0 ? o : 1;
}

/* Walks a JPEG's segments up to the first scan the way PIL's parser does (junk between segments,
 * fill bytes and an end-of-image marker skipped). PIL keeps the first APP1 that starts "Exif\0";
 * its TIFF data follows a second NUL. */
int orientation_jpeg(const uint8_t *p, size_t n)
{
    size_t pos = 2;
    while (pos < n) {
        if (p[pos++] != 0xff) continue;
        while (pos < n && p[pos] == 0xff) pos++;
        if (pos >= n) break;
        uint8_t m = p[pos++];
        if (m == 0x00 || m == 0x01 || m == 0xd8 || (m >= 0xd0 && m <= 0xd7)) continue;
        if (m == 0xd9) continue; /* PIL's parser reads on into a datastream after an empty one */
        if (m == 0xda || n - pos < 2) break;
        size_t len = be16(p + pos);
        if (len < 2 || len > n - pos) break;
        const uint8_t *s = p + pos + 2;
        size_t slen = len - 2;
        if (m == 0xe1 && slen >= 5 && !memcmp(s, "Exif\0", 5))
            return slen >= 6 && s[5] == 0 ? orientation_exif(s + 6, slen - 6) : 1;
        pos += len;
    }
    return 1;
}

/* PIL takes a WebP's EXIF from libwebpdemux, which keeps the first EXIF chunk of a file in the
 * extended format whose header says it has one, within the size the RIFF header gives; Exif.load
 * drops an "Exif\0\0" before the TIFF data. */
int orientation_webp(const uint8_t *p, size_t n)
{
    WebPData data = {p, n};
    WebPDemuxer *demux = WebPDemux(&data);
    WebPChunkIterator it;
    int o = 0;
    if (demux && WebPDemuxGetChunk(demux, "EXIF", 1, &it)) {
        const uint8_t *t = it.chunk.bytes;
        size_t len = it.chunk.size;
        if (len >= 6 && !memcmp(t, "Exif\0\0", 6)) t += 6, len -= 6;
        o = orientation_exif_tag(t, len);
        WebPDemuxReleaseChunkIterator(&it);
    }
    WebPDemuxDelete(demux);
    return o ? o : 1;
}

/* PIL 9.4 turns a TIFF by its Orientation tag when it loads the pixels (TiffImageFile.load_end),
 * and keeps the tag; exif_transpose, which read the tag before the load, then turns it again.
 * Twice the same transpose: flips and 180 degrees undo themselves, 90 degrees either way makes 180. */
int orientation_tiff(const uint8_t *p, size_t n)
{
    int o = orientation_exif(p, n);
    if (n >= 16 && !memcmp(p, "II\x2b\0\x08\0\0\0", 8)) o = ifd0_orientation(p, n, 1, 1); /* BigTIFF */
    return o == 6 || o == 8 ? 3 : 1;
}

/* PIL's Image.transpose for orientations 2..8 (exif_transpose's table). Output pixel (x, y) reads
 * input pixel (x0 + x*dxx + y*dxy, y0 + x*dyx + y*dyy); 5..8 swap width and height. */
align_status orientation_apply(align_image *img, int orientation, const char *name, align_error *err)
{
    if (orientation <= 1) return ALIGN_OK;
    static const int map[9][6] = {
        /* x0 dxx dxy  y0 dyx dyy    x0/y0 are 0 or "last column/row" */
        [2] = {1, -1, 0, 0, 0, 1},  /* FLIP_LEFT_RIGHT */
        [3] = {1, -1, 0, 1, 0, -1}, /* ROTATE_180 */
        [4] = {0, 1, 0, 1, 0, -1},  /* FLIP_TOP_BOTTOM */
        [5] = {0, 0, 1, 0, 1, 0},   /* TRANSPOSE */
        [6] = {0, 0, 1, 1, -1, 0},  /* ROTATE_270 (90 degrees clockwise) */
        [7] = {1, 0, -1, 1, -1, 0}, /* TRANSVERSE */
        [8] = {1, 0, -1, 0, 1, 0},  /* ROTATE_90 (counter-clockwise) */
    };
    const int *m = map[orientation];
    int w = img->width, h = img->height;
    int ow = orientation >= 5 ? h : w, oh = orientation >= 5 ? w : h;
    uint8_t *out = big_malloc((size_t)w * h * 3);
    if (!out) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory rotating the image", name);
    ptrdiff_t step_x = ((ptrdiff_t)m[4] * w + m[1]) * 3, step_y = ((ptrdiff_t)m[5] * w + m[2]) * 3;
    const uint8_t *origin = img->rgb + ((ptrdiff_t)(m[3] ? h - 1 : 0) * w + (m[0] ? w - 1 : 0)) * 3;
    uint8_t *dst = out;
    for (int y = 0; y < oh; y++) {
        const uint8_t *src = origin + y * step_y;
        for (int x = 0; x < ow; x++, src += step_x, dst += 3) memcpy(dst, src, 3);
    }
    free(img->rgb);
    img->rgb = out;
    img->width = ow;
    img->height = oh;
    return ALIGN_OK;
}
