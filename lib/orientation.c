/* orientation.c: where PIL finds a file's EXIF orientation (PIL 9.4: a JPEG's APP1 Exif segment, a
 * WebP's EXIF chunk; a PNG's in png_orientation.c), and the transpose exif_transpose makes of it. */
#include "orientation.h"

#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "memory.h"

static uint64_t rd64(const uint8_t *p, int little)
{
    return little ? (uint64_t)rd32(p + 4, 1) << 32 | rd32(p, 1) : (uint64_t)rd32(p, 0) << 32 | rd32(p + 4, 0);
}

/* The Orientation tag (0x0112) of IFD0 in a TIFF-structured block (wide: BigTIFF, with 8-byte
 * offsets and counts and 20-byte entries), as PIL's getexif() reads it: the last entry with the tag
 * wins, a tag that is not one integer means "no rotation", and a truncated directory keeps what was
 * read before the cut. Only IFD0 holds the tag, so no offset chain is followed (and no loop can
 * form). Returns 0 when there is no such tag, 1 (as stored) when the tag asks for nothing. */
static int ifd0_orientation(const uint8_t *t, size_t n, int little, int wide)
{
    uint64_t ifd = wide ? rd64(t + 8, little) : rd32(t + 4, little);
    size_t count_size = wide ? 8 : 2, entry = wide ? 20 : 12;
    if (ifd > n || n - ifd < count_size) return 0;
    uint64_t count = wide ? rd64(t + ifd, little) : rd16(t + ifd, little);
    int orientation = 0, found = 0;
    size_t e = (size_t)ifd + count_size;
    for (uint64_t i = 0; i < count && n - e >= entry; i++, e += entry) {
        if (rd16(t + e, little) != 0x0112) continue;
        uint32_t type = rd16(t + e + 2, little);
        uint64_t values = wide ? rd64(t + e + 4, little) : rd32(t + e + 4, little);
        const uint8_t *v = t + e + (wide ? 12 : 8);
        long value;
        switch (type) {
        case 1: value = v[0]; break;                               /* BYTE */
        case 6: value = (int8_t)v[0]; break;                       /* SBYTE */
        case 3: value = rd16(v, little); break;                    /* SHORT */
        case 8: value = (int16_t)rd16(v, little); break;           /* SSHORT */
        case 4: value = rd32(v, little); break;                    /* LONG */
        case 9: value = (long)(int32_t)rd32(v, little); break;     /* SLONG */
        case 16:                                                   /* LONG8, SLONG8 (BigTIFF) */
        case 17:
            if (!wide) continue;
            value = (long)(rd64(v, little) & 0xffff); /* only 1..8 matter */
            break;
        default:
            if (type > 13) continue; /* a type PIL does not know: it skips the entry */
            value = 0;               /* a string, rational or float: not an orientation */
        }
        orientation = values == 1 ? (int)value : 0;
        found = 1;
    }
    if (!found) return 0;
    return orientation >= 1 && orientation <= 8 ? orientation : 1;
}

int orientation_exif_tag(const uint8_t *t, size_t n)
{
    if (n < 8) return 0;
    if (!memcmp(t, "II\x2a\0", 4)) return ifd0_orientation(t, n, 1, 0);
    if (!memcmp(t, "MM\0\x2a", 4)) return ifd0_orientation(t, n, 0, 0);
    return 0;
}

int orientation_exif(const uint8_t *t, size_t n)
{
    int o = orientation_exif_tag(t, n);
    return o ? o : 1;
}

/* Walks a JPEG's segments up to the first scan the way PIL's parser does (junk between segments
 * and fill bytes skipped). PIL keeps the first APP1 that starts "Exif\0"; its TIFF data follows a
 * second NUL. */
int orientation_jpeg(const uint8_t *p, size_t n)
{
    size_t pos = 2;
    while (pos < n) {
        if (p[pos++] != 0xff) continue;
        while (pos < n && p[pos] == 0xff) pos++;
        if (pos >= n) break;
        uint8_t m = p[pos++];
        if (m == 0x00 || m == 0x01 || m == 0xd8 || (m >= 0xd0 && m <= 0xd7)) continue;
        if (m == 0xd9 || m == 0xda || n - pos < 2) break;
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

/* PIL keeps a WebP's first EXIF chunk (libwebpdemux's), "Exif\0\0" before the TIFF data or not. */
int orientation_webp(const uint8_t *p, size_t n)
{
    size_t pos = 12;
    while (n - pos >= 8) {
        size_t len = le32(p + pos + 4);
        if (len > n - pos - 8) break;
        const uint8_t *c = p + pos + 8;
        if (!memcmp(p + pos, "EXIF", 4)) {
            if (len >= 6 && !memcmp(c, "Exif\0\0", 6)) return orientation_exif(c + 6, len - 6);
            return orientation_exif(c, len);
        }
        size_t next = pos + 8 + len + (len & 1);
        if (next > n) break;
        pos = next;
    }
    return 1;
}

/* PIL 9.4 turns a TIFF by its Orientation tag when it loads the pixels (TiffImageFile.load_end),
 * and keeps the tag; exif_transpose, which read the tag before the load, then turns it again.
 * Twice the same transpose: flips and 180 degrees undo themselves, 90 degrees either way makes 180. */
int orientation_tiff(const uint8_t *p, size_t n)
{
    int o = orientation_exif(p, n);
    if (n >= 16 && (!memcmp(p, "II\x2b\0\x08\0\0\0", 8) || !memcmp(p, "MM\0\x2b\0\x08\0\0", 8)))
        o = ifd0_orientation(p, n, p[0] == 'I', 1);
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
