/* image.c: images to RGB as Hugging Face's load_image gives them (PIL: EXIF transpose, then
 * convert("RGB")), and EfficientNetImageProcessor of transformers 4.27 with PIL's resampling
 * reproduced bit for bit.
 *
 * stb_image does the decoding; the code around it makes its output agree with Pillow (9.4, the
 * version Debian ships and the fixtures agree with) where the two differ: EXIF orientation, 16-bit
 * grey PNG, PNM maxval scaling, GIF transparency, and truncated files that stb_image would
 * silently complete. PNG, BMP, GIF, TGA and PNM pixels come out identical to PIL's; JPEG pixels
 * differ from libjpeg-turbo's by a few levels, since the two decoders round their IDCT, chroma
 * upsampling and colour conversion differently. */
#include "image.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>

#include "error.h"
#include "fileio.h"
#include "jsonutil.h"

/* ---- byte readers ----------------------------------------------------------------------------- */

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) { return be16(p) << 16 | be16(p + 2); }
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[1] << 8 | p[0]; }
static uint32_t le32(const uint8_t *p) { return le16(p + 2) << 16 | le16(p); }
static uint32_t rd16(const uint8_t *p, int little) { return little ? le16(p) : be16(p); }
static uint32_t rd32(const uint8_t *p, int little) { return little ? le32(p) : be32(p); }

/* ---- formats ---------------------------------------------------------------------------------- */

typedef enum { FMT_TGA, FMT_JPEG, FMT_PNG, FMT_GIF, FMT_BMP, FMT_PNM, FMT_UNSUPPORTED } image_format;

static const char *const format_names[] = {"TGA", "JPEG", "PNG", "GIF", "BMP", "PNM"};

/* TGA has no signature, so anything without one of the others' is a TGA candidate. Formats that
 * stb_image would also take (PSD, HDR, PIC) or that PIL opens but stb_image cannot are named, so
 * the error says what the file is. */
static image_format sniff(const uint8_t *p, size_t n, const char **unsupported)
{
    static const struct { const char *magic; size_t len; const char *name; } other[] = {
        {"8BPS", 4, "PSD"},         {"#?RADIANCE", 10, "HDR"},    {"#?RGBE", 6, "HDR"},
        {"\x53\x80\xf6\x34", 4, "PIC"}, {"II*\0", 4, "TIFF"},     {"MM\0*", 4, "TIFF"},
        {"P1", 2, "plain-text PBM"}, {"P2", 2, "plain-text PGM"}, {"P3", 2, "plain-text PPM"},
        {"P4", 2, "PBM (1-bit)"},   {"P7", 2, "PAM"},            {"\0\0\1\0", 4, "ICO"},
    };
    if (n >= 3 && !memcmp(p, "\xff\xd8\xff", 3)) return FMT_JPEG;
    /* stb_image skips 0xFF fill bytes before a JPEG's start marker, PIL does not; such a file
     * would reach stb_image's JPEG decoder without the checks JPEGs get here (below, TGA) */
    size_t fill = 0;
    while (fill < n && p[fill] == 0xff) fill++;
    if (fill && fill < n && p[fill] == 0xd8) {
        *unsupported = fill > 1 ? "JPEG preceded by fill bytes" : "JPEG without a marker after its start";
        return FMT_UNSUPPORTED;
    }
    if (n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)) return FMT_PNG;
    if (n >= 6 && (!memcmp(p, "GIF87a", 6) || !memcmp(p, "GIF89a", 6))) return FMT_GIF;
    if (n >= 2 && !memcmp(p, "BM", 2)) return FMT_BMP;
    if (n >= 2 && p[0] == 'P' && (p[1] == '5' || p[1] == '6')) return FMT_PNM;
    if (n >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WEBP", 4)) {
        *unsupported = "WebP";
        return FMT_UNSUPPORTED;
    }
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        if (n >= other[i].len && !memcmp(p, other[i].magic, other[i].len)) {
            *unsupported = other[i].name;
            return FMT_UNSUPPORTED;
        }
    }
    return FMT_TGA;
}

/* ---- EXIF orientation ------------------------------------------------------------------------- */

/* The Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block, as PIL's getexif() reads
 * it: the last entry with the tag wins, a tag that is not one integer means "no rotation", and a
 * truncated directory keeps what was read before the cut. Only IFD0 holds the tag, so no offset
 * chain is followed (and no loop can form). Returns 1 (as stored) when there is nothing to do. */
static int tiff_orientation(const uint8_t *t, size_t n)
{
    if (n < 8) return 1;
    int little;
    if (!memcmp(t, "II\x2a\0", 4)) little = 1;
    else if (!memcmp(t, "MM\0\x2a", 4)) little = 0;
    else return 1;
    uint32_t ifd = rd32(t + 4, little);
    if (ifd > n || n - ifd < 2) return 1;
    uint32_t count = rd16(t + ifd, little);
    int orientation = 1;
    size_t e = ifd + 2;
    for (uint32_t i = 0; i < count && n - e >= 12; i++, e += 12) {
        if (rd16(t + e, little) != 0x0112) continue;
        uint32_t type = rd16(t + e + 2, little), values = rd32(t + e + 4, little);
        const uint8_t *v = t + e + 8;
        long value;
        switch (type) {
        case 1: value = v[0]; break;                               /* BYTE */
        case 6: value = (int8_t)v[0]; break;                       /* SBYTE */
        case 3: value = rd16(v, little); break;                    /* SHORT */
        case 8: value = (int16_t)rd16(v, little); break;           /* SSHORT */
        case 4: value = rd32(v, little); break;                    /* LONG */
        case 9: value = (long)(int32_t)rd32(v, little); break;     /* SLONG */
        default:
            if (type > 13) continue; /* a type PIL does not know: it skips the entry */
            value = 0;               /* a string, rational or float: not an orientation */
        }
        orientation = values == 1 ? (int)value : 0;
    }
    return orientation >= 1 && orientation <= 8 ? orientation : 1;
}

/* Walks a JPEG's segments up to the first scan the way PIL's parser does (junk between segments
 * and fill bytes skipped). PIL keeps the first APP1 that starts "Exif\0"; its TIFF data follows a
 * second NUL. Returns the offset just past the first SOS segment, or 0 when there is none. */
static size_t jpeg_segments(const uint8_t *p, size_t n, int *orientation)
{
    int exif_seen = 0;
    size_t pos = 2;
    *orientation = 1;
    while (pos < n) {
        if (p[pos++] != 0xff) continue;
        while (pos < n && p[pos] == 0xff) pos++;
        if (pos >= n) break;
        uint8_t m = p[pos++];
        if (m == 0x00 || m == 0x01 || m == 0xd8 || (m >= 0xd0 && m <= 0xd7)) continue;
        if (m == 0xd9 || n - pos < 2) break;
        size_t len = be16(p + pos);
        if (len < 2 || len > n - pos) break;
        if (m == 0xda) return pos + len;
        const uint8_t *s = p + pos + 2;
        size_t slen = len - 2;
        if (m == 0xe1 && !exif_seen && slen >= 5 && !memcmp(s, "Exif\0", 5)) {
            exif_seen = 1;
            if (slen >= 6 && s[5] == 0) *orientation = tiff_orientation(s + 6, slen - 6);
        }
        pos += len;
    }
    return 0;
}

/* libjpeg (so PIL) refuses a JPEG that ends before its end-of-image marker; stb_image would
 * decode the missing part as grey. Entropy-coded data cannot contain FF D9, so any FF D9 after the
 * first scan header is the end. */
static int jpeg_complete(const uint8_t *p, size_t n, size_t scan)
{
    if (!scan) return 0;
    if (n - scan >= 2 && p[n - 2] == 0xff && p[n - 1] == 0xd9) return 1;
    for (size_t i = scan; i + 1 < n; i++) {
        const uint8_t *ff = memchr(p + i, 0xff, n - 1 - i);
        if (!ff) return 0;
        i = (size_t)(ff - p);
        if (ff[1] == 0xd9) return 1;
    }
    return 0;
}

/* Two holes in stb_image 2.27 (Debian 12's libstb) that a JPEG's tables open, closed here by
 * reading the segments as it will before it sees them:
 *  - it trusts a DHT segment's sixteen code counts: when they add up to more than 256 it writes
 *    past the Huffman table's size[257] and values[256] arrays, over the rest of its decoder state;
 *  - a scan may name a Huffman table no DHT defined; stb_image then decodes with that table's
 *    uninitialised (malloc'ed) bounds and reads past its maxcode[18] until some byte stops it.
 * It reads DHT segments in the header (stbi_info too) and between the scans of a progressive
 * file, reading each table while the segment's length is not used up, even past its end; so does
 * this. Entropy-coded data holds no markers but RSTn, and FF only as FF 00, so the first other FF xx
 * after a scan is the next marker, as stb_image finds it. Returns NULL or what is wrong. */
static const char *jpeg_bad_tables(const uint8_t *p, size_t n, char *why, size_t cap)
{
    size_t pos = 2;
    int progressive = -1, defined[2][4] = {{0}}; /* [DC, AC][table id] */
    while (pos < n) {
        if (p[pos++] != 0xff) continue; /* junk between segments */
        while (pos < n && p[pos] == 0xff) pos++;
        if (pos >= n) break;
        uint8_t m = p[pos++];
        if (m == 0xd9) break;
        if (m == 0x00 || m == 0x01 || (m >= 0xd0 && m <= 0xd8)) continue;
        if (n - pos < 2) break;
        size_t len = be16(p + pos);
        if (m == 0xc4) {
            size_t t = pos + 2;
            for (long left = (long)len - 2; left > 0;) {
                unsigned codes = 0, q = t < n ? p[t] : 0;
                for (size_t i = 1; i <= 16; i++) codes += t + i < n ? p[t + i] : 0;
                if (codes > 256) {
                    snprintf(why, cap, "a Huffman table of %u codes, at most 256", codes);
                    return why;
                }
                if ((q >> 4) <= 1 && (q & 15) <= 3) defined[q >> 4][q & 15] = 1;
                t += 17 + codes;
                left -= 17 + (long)codes;
            }
        } else if ((m == 0xc0 || m == 0xc1 || m == 0xc2) && progressive < 0) {
            progressive = m == 0xc2;
        } else if (m == 0xda && len >= 6 && n - pos >= len) {
            const uint8_t *h = p + pos + 2;
            size_t ns = h[0];
            if (len == 6 + 2 * ns) {
                const uint8_t *tail = h + 1 + 2 * ns; /* Ss, Se, Ah Al */
                int dc = progressive <= 0 || (tail[0] == 0 && (tail[2] >> 4) == 0);
                int ac = progressive <= 0 || tail[0] > 0;
                for (size_t c = 0; c < ns; c++) {
                    unsigned td = h[2 + 2 * c] >> 4, ta = h[2 + 2 * c] & 15;
                    if ((dc && td <= 3 && !defined[0][td]) || (ac && ta <= 3 && !defined[1][ta])) {
                        snprintf(why, cap, "a scan uses Huffman table %s%u, which no DHT segment defines",
                                 dc && td <= 3 && !defined[0][td] ? "DC " : "AC ",
                                 dc && td <= 3 && !defined[0][td] ? td : ta);
                        return why;
                    }
                }
            }
        }
        pos += len;
        if (m != 0xda) continue;
        /* skip the entropy-coded data to the next marker */
        while (pos + 1 < n) {
            if (p[pos] != 0xff) {
                pos++;
                continue;
            }
            size_t k = pos + 1;
            while (k < n && p[k] == 0xff) k++;
            if (k < n && (p[k] == 0x00 || (p[k] >= 0xd0 && p[k] <= 0xd7))) {
                pos = k + 1;
                continue;
            }
            break;
        }
    }
    return NULL;
}

/* Pillow reads a PNG's eXIf chunk (anywhere before IEND; a later one replaces an earlier one). */
static int png_orientation(const uint8_t *p, size_t n)
{
    const uint8_t *exif = NULL;
    size_t exif_len = 0, pos = 8;
    while (n - pos >= 12) {
        size_t len = be32(p + pos);
        if (len > n - pos - 12) break;
        if (!memcmp(p + pos + 4, "eXIf", 4)) {
            exif = p + pos + 8;
            exif_len = len;
        }
        if (!memcmp(p + pos + 4, "IEND", 4)) break;
        pos += 12 + len;
    }
    return exif ? tiff_orientation(exif, exif_len) : 1;
}

/* PIL reads a PNG that ends early once the image data is complete: it does not need the last
 * chunk's CRC, nor IEND, nor a whole chunk header after the data. stb_image insists on all three.
 * For such a file, returns how many bytes to keep and (in *crc_pad) how many CRC bytes to add
 * before appending IEND; returns 0 when the file has its IEND or is cut where PIL refuses it too
 * (inside a chunk's data, or before any image data). */
static size_t png_cut_short(const uint8_t *p, size_t n, size_t *crc_pad)
{
    size_t pos = 8;
    int idat = 0;
    *crc_pad = 0;
    while (n - pos >= 12) {
        size_t len = be32(p + pos);
        if (len > n - pos - 12) break;
        if (!memcmp(p + pos + 4, "IEND", 4)) return 0;
        if (!memcmp(p + pos + 4, "IDAT", 4)) idat = 1;
        pos += 12 + len;
    }
    size_t rest = n - pos;
    if (rest < 8) return idat ? pos : 0;
    size_t len = be32(p + pos);
    if (len > rest - 8) return 0; /* the chunk's data is cut */
    if (!idat && memcmp(p + pos + 4, "IDAT", 4)) return 0;
    *crc_pad = 12 + len - rest;
    return n;
}

/* PIL's Image.transpose for orientations 2..8 (exif_transpose's table). Output pixel (x, y) reads
 * input pixel (x0 + x*dxx + y*dxy, y0 + x*dyx + y*dyy); 5..8 swap width and height. */
static align_status apply_orientation(align_image *img, int orientation, const char *name,
                                      align_error *err)
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
    uint8_t *out = malloc((size_t)w * h * 3);
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

/* ---- format-specific fixes -------------------------------------------------------------------- */

/* A binary PNM (P5 grey, P6 RGB). Its raster is read here rather than by stb_image, which (2.27)
 * takes 16-bit samples in the wrong byte order, converts their channels with its 8-bit routine
 * and reads past a short file without noticing. The header is tokens separated by whitespace and
 * #-comments, then one whitespace byte before the raster. */
typedef struct {
    int width, height, channels, maxval;
    size_t data, size; /* raster offset and byte count */
} pnm_header;

static int pnm_parse(const uint8_t *p, size_t n, pnm_header *h)
{
    size_t pos = 2;
    int c = pos < n ? p[pos++] : -1;
    long v[3];
    for (int t = 0; t < 3; t++) {
        for (;;) {
            while (c == ' ' || (c >= '\t' && c <= '\r')) c = pos < n ? p[pos++] : -1;
            if (c != '#') break;
            while (c != -1 && c != '\n' && c != '\r') c = pos < n ? p[pos++] : -1;
        }
        if (c < '0' || c > '9') return 0;
        v[t] = 0;
        while (c >= '0' && c <= '9') {
            if (v[t] > 100000000) return 0;
            v[t] = v[t] * 10 + (c - '0');
            c = pos < n ? p[pos++] : -1;
        }
    }
    if (v[2] < 1 || v[2] > 65535 || !(c == ' ' || (c >= '\t' && c <= '\r'))) return 0;
    h->width = (int)v[0];
    h->height = (int)v[1];
    h->channels = p[1] == '6' ? 3 : 1;
    h->maxval = (int)v[2];
    h->data = pos;
    h->size = (size_t)v[0] * (size_t)v[1] * (size_t)h->channels * (h->maxval > 255 ? 2 : 1);
    return 1;
}

/* Pillow scales PNM samples to 0..255 with Python's round (half to even): v / maxval * 255, except
 * that 16-bit grey becomes mode "I" scaled to 0..65535, which convert("RGB") then clips at 255.
 * With maxval 255 the bytes are taken as they are. */
static uint8_t pnm_sample(unsigned v, const pnm_header *h)
{
    if (h->maxval == 255) return (uint8_t)v;
    double top = h->maxval > 255 && h->channels == 1 ? 65535.0 : 255.0;
    double s = nearbyint((double)v / h->maxval * top);
    return s > 255.0 ? 255 : (uint8_t)s;
}

/* The raster of a PNM whose header pnm_parse accepted and whose data is all there. */
static uint8_t *pnm_pixels(const uint8_t *p, const pnm_header *h)
{
    size_t count = (size_t)h->width * h->height, samples = count * h->channels;
    uint8_t *rgb = malloc(count * 3);
    if (!rgb) return NULL;
    const uint8_t *d = p + h->data;
    for (size_t i = 0; i < samples; i++) {
        uint8_t v = pnm_sample(h->maxval > 255 ? be16(d + 2 * i) : d[i], h);
        if (h->channels == 3) rgb[i] = v;
        else rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = v;
    }
    return rgb;
}

/* stb_image leaves the unread part of a truncated BMP black; PIL refuses the file. For the
 * uncompressed layouts (the only ones stb_image reads) the raster size follows from the header. */
static int bmp_truncated(const uint8_t *p, size_t n)
{
    if (n < 26) return 0;
    uint64_t offset = le32(p + 10), header = le32(p + 14), w, h, bpp, compression = 0;
    if (header == 12) {
        w = le16(p + 18);
        h = le16(p + 20);
        bpp = le16(p + 24);
    } else {
        if (n < 34) return 0;
        int32_t sh = (int32_t)le32(p + 22);
        w = le32(p + 18);
        h = sh < 0 ? (uint64_t)-(int64_t)sh : (uint64_t)sh;
        bpp = le16(p + 28);
        compression = le32(p + 30);
    }
    if (w == 0 || w > 0x7fffffff || bpp == 0 || bpp > 32) return 0;
    if (compression != 0 && compression != 3 && compression != 6) return 0;
    uint64_t stride = (w * bpp + 31) / 32 * 4;
    return offset + stride * h > n;
}

/* stb_image completes a TGA that ends early (with zeros, or the last RLE packet repeated); PIL
 * refuses it. The layout as stb_image reads it: the 18-byte header, the image ID, for a
 * colour-mapped image its palette (after skipping "first entry" bytes, as stb_image does), then
 * the pixels, raw or in RLE packets of which only what fills the image is read. stbi_info has
 * accepted the header, so the sizes here are the ones the decoder uses. */
static int tga_truncated(const uint8_t *p, size_t n)
{
    if (n < 18) return 1;
    uint64_t total = (uint64_t)le16(p + 12) * le16(p + 14), pb = (p[16] + 7u) / 8, pos = 18 + (uint64_t)p[0];
    if (p[1]) pos += le16(p + 3) + (uint64_t)le16(p + 5) * ((p[7] + 7u) / 8);
    if (pos > n) return 1;
    if (p[2] < 8) return total * pb > n - pos;
    for (uint64_t done = 0; done < total;) {
        if (pos >= n) return 1;
        uint8_t head = p[pos++];
        uint64_t count = (head & 127) + 1u, bytes;
        if (count > total - done) count = total - done;
        bytes = head & 0x80 ? pb : count * pb;
        if (bytes > n - pos) return 1;
        pos += bytes;
        done += count;
    }
    return 0;
}

/* stb_image stops a GIF's first image where its data runs out and keeps the canvas as it was;
 * PIL refuses a file cut inside the image data. Walks the blocks to the first image descriptor as
 * stb_image does, then the image's data sub-blocks to their terminator. A structure stb_image
 * itself refuses is left to it (0). */
static int gif_truncated(const uint8_t *p, size_t n)
{
    if (n < 13) return 1;
    size_t pos = 13;
    if (p[10] & 0x80) pos += 3 * ((size_t)2 << (p[10] & 7));
    for (;;) {
        if (pos >= n) return 1;
        uint8_t block = p[pos++];
        if (block == 0x2c) break;
        if (block != 0x21) return 0;
        if (pos++ >= n) return 1; /* the extension's label */
        for (;;) {
            if (pos >= n) return 1;
            size_t len = p[pos++];
            if (len == 0) break;
            if (len > n - pos) return 1;
            pos += len;
        }
    }
    if (n - pos < 9) return 1;
    uint8_t flags = p[pos + 8];
    pos += 9;
    if (flags & 0x80) pos += 3 * ((size_t)2 << (flags & 7));
    if (pos >= n) return 1;
    for (pos++;;) { /* after the LZW minimum code size */
        if (pos >= n) return 1;
        size_t len = p[pos++];
        if (len == 0) return 0;
        if (len > n - pos) return 1;
        pos += len;
    }
}

/* PIL draws a GIF's first frame on a canvas filled with the transparent index (index 0 when there
 * is none) and keeps transparent pixels at their palette colour; stb_image leaves both transparent
 * (alpha 0, black) or paints the background colour. Parsing the blocks before the first image
 * gives what PIL used; a malformed header leaves stb_image's pixels as they are. */
static void gif_canvas_like_pil(const uint8_t *p, size_t n, uint8_t *rgba, int w, int h)
{
    if (n < 13) return;
    size_t pos = 13;
    const uint8_t *palette = NULL;
    int entries = 0, transparent = -1;
    if (p[10] & 0x80) {
        palette = p + 13;
        entries = 2 << (p[10] & 7);
        pos += (size_t)entries * 3;
        if (pos > n) return;
    }
    for (;;) {
        if (pos >= n) return;
        uint8_t block = p[pos++];
        if (block == 0x2c) break;
        if (block != 0x21 || pos >= n) return;
        uint8_t label = p[pos++];
        for (int first = 1;; first = 0) { /* the extension's sub-blocks */
            if (pos >= n) return;
            size_t len = p[pos++];
            if (len == 0) break;
            if (len > n - pos) return;
            if (first && label == 0xf9 && len >= 4 && (p[pos] & 1)) transparent = p[pos + 3];
            pos += len;
        }
    }
    if (n - pos < 9) return;
    int x0 = (int)le16(p + pos), y0 = (int)le16(p + pos + 2);
    int x1 = x0 + (int)le16(p + pos + 4), y1 = y0 + (int)le16(p + pos + 6);
    if (p[pos + 8] & 0x80) {
        palette = p + pos + 9;
        entries = 2 << (p[pos + 8] & 7);
        if ((size_t)entries * 3 > n - pos - 9) return;
    }
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *px = rgba + ((size_t)y * w + x) * 4;
            int inside = x >= x0 && x < x1 && y >= y0 && y < y1, index;
            if (!inside) index = transparent >= 0 ? transparent : 0;
            else if (px[3] == 0 && transparent >= 0) index = transparent;
            else continue;
            /* PIL's palette beyond the stored entries is a grey ramp */
            for (int c = 0; c < 3; c++) px[c] = index < entries ? palette[index * 3 + c] : (uint8_t)index;
        }
    }
}

/* ---- decoding --------------------------------------------------------------------------------- */

/* stb_image takes the length as an int; 16 bytes are kept for completing a PNG (png_cut_short). */
#define MAX_IMAGE_BYTES ((size_t)INT_MAX - 16)

static const char *stb_reason(void)
{
    const char *r = stbi_failure_reason();
    return r && *r ? r : "unreadable data";
}

static uint64_t pixel_limit(const align_decode_options *opts)
{
    return opts && opts->max_pixels ? opts->max_pixels : ALIGN_DEFAULT_MAX_PIXELS;
}

/* Drops the fourth byte of every pixel in place. */
static void rgba_to_rgb(uint8_t *px, size_t count)
{
    for (size_t i = 0; i < count; i++) memmove(px + i * 3, px + i * 4, 3);
}

/* stb_image says "outofmem" when an allocation fails: that is not a corrupt file. */
static align_status out_of_memory(const char *name, int w, int h, align_error *err)
{
    return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory decoding %d x %d pixels", name, w, h);
}

/* Decodes the pixels into a malloc'ed RGB buffer, with stb_image (which allocates with the C
 * library's malloc, so its buffers are freed with free()) or, for PNM, pnm_pixels. */
static align_status decode_pixels(const uint8_t *p, size_t n, image_format fmt, const char *name,
                                  int want_w, int want_h, align_image *out, align_error *err)
{
    int len = (int)n, w = 0, h = 0, comp;
    uint8_t *rgb = NULL;
    if (fmt == FMT_PNG && n >= 26 && p[24] == 16 && p[25] == 0) {
        /* 16-bit grey: PIL makes it mode "I" and convert("RGB") clips the values at 255 (every
         * other 16-bit PNG keeps the high byte, as stb_image does) */
        uint16_t *grey = stbi_load_16_from_memory(p, len, &w, &h, &comp, 1);
        if (grey) {
            size_t count = (size_t)w * h;
            rgb = malloc(count * 3);
            for (size_t i = 0; rgb && i < count; i++)
                rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = grey[i] > 255 ? 255 : (uint8_t)grey[i];
            stbi_image_free(grey);
            if (!rgb) return out_of_memory(name, want_w, want_h, err);
        }
    } else if (fmt == FMT_PNM) {
        pnm_header hd;
        pnm_parse(p, n, &hd);
        if (!(rgb = pnm_pixels(p, &hd)))
            return out_of_memory(name, want_w, want_h, err);
        w = hd.width;
        h = hd.height;
    } else if (fmt == FMT_GIF) {
        rgb = stbi_load_from_memory(p, len, &w, &h, &comp, 4);
        if (rgb) {
            gif_canvas_like_pil(p, n, rgb, w, h);
            rgba_to_rgb(rgb, (size_t)w * h);
        }
    } else {
        rgb = stbi_load_from_memory(p, len, &w, &h, &comp, 3);
    }
    if (!rgb && strcmp(stb_reason(), "outofmem") == 0) return out_of_memory(name, want_w, want_h, err);
    if (!rgb)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt %s image (%s)", name, format_names[fmt],
                          stb_reason());
    out->rgb = rgb;
    out->width = w;
    out->height = h;
    return ALIGN_OK;
}

static align_status over_limit(const char *name, uint64_t w, uint64_t h, uint64_t limit, align_error *err)
{
    return align_fail(err, ALIGN_ERR_LIMIT, "%s: %llu x %llu pixels is over the limit of %llu", name,
                      (unsigned long long)w, (unsigned long long)h, (unsigned long long)limit);
}

/* The image's width and height from its header alone. */
static align_status header_size(const uint8_t *p, size_t n, image_format fmt, const char *name,
                                uint64_t limit, int *w, int *h, align_error *err)
{
    if (fmt == FMT_PNM) {
        pnm_header hd;
        if (!pnm_parse(p, n, &hd)) return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt PNM header", name);
        *w = hd.width;
        *h = hd.height;
    } else {
        /* stb_image refuses a PNG of over 2^30 bytes of pixels without saying why: IHDR tells */
        if (fmt == FMT_PNG && n >= 24 && !memcmp(p + 12, "IHDR", 4) &&
            (uint64_t)be32(p + 16) * be32(p + 20) > limit)
            return over_limit(name, be32(p + 16), be32(p + 20), limit, err);
        int comp;
        if (!stbi_info_from_memory(p, (int)n, w, h, &comp)) {
            if (fmt == FMT_TGA)
                return align_fail(err, ALIGN_ERR_FORMAT, "%s: not an image (unknown format)", name);
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt %s image (%s)", name, format_names[fmt],
                              stb_reason());
        }
    }
    if (*w <= 0 || *h <= 0)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: %s image of %d x %d pixels", name, format_names[fmt],
                          *w, *h);
    return ALIGN_OK;
}

/* Refuses files whose decode stb_image would complete with invented pixels. */
static align_status check_complete(const uint8_t *p, size_t n, image_format fmt, const char *name,
                                   int *orientation, align_error *err)
{
    *orientation = 1;
    if (fmt == FMT_JPEG) {
        if (!jpeg_complete(p, n, jpeg_segments(p, n, orientation)))
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated JPEG (no end-of-image marker)", name);
    } else if (fmt == FMT_PNG) {
        *orientation = png_orientation(p, n);
    } else if (fmt == FMT_PNM) {
        pnm_header h;
        pnm_parse(p, n, &h);
        if (h.size > n - h.data)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated PNM (%zu of %zu pixel bytes)", name,
                              n - h.data, h.size);
    } else if (fmt == FMT_BMP && bmp_truncated(p, n)) {
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated BMP (pixel data cut short)", name);
    } else if (fmt == FMT_TGA && tga_truncated(p, n)) {
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated TGA (pixel data cut short)", name);
    } else if (fmt == FMT_GIF && gif_truncated(p, n)) {
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated GIF (image data cut short)", name);
    }
    return ALIGN_OK;
}

align_status align_image_load_memory(const void *data, size_t size, const char *name,
                                     const align_decode_options *opts, align_image *out,
                                     align_error *err)
{
    if (!name) name = "(image)";
    if (!out || (!data && size)) return align_fail(err, ALIGN_ERR_ARG, "%s: no image buffer", name);
    memset(out, 0, sizeof *out);
    if (size == 0) return align_fail(err, ALIGN_ERR_FORMAT, "%s: not an image (empty file)", name);
    if (size > MAX_IMAGE_BYTES)
        return align_fail(err, ALIGN_ERR_LIMIT, "%s: %zu bytes is more than the decoder takes (%zu)",
                          name, size, MAX_IMAGE_BYTES);
    const uint8_t *p = data;
    const char *unsupported = NULL;
    image_format fmt = sniff(p, size, &unsupported);
    if (fmt == FMT_UNSUPPORTED)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: unsupported image format (%s)", name, unsupported);

    char why[128];
    if (fmt == FMT_JPEG && jpeg_bad_tables(p, size, why, sizeof why))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt JPEG image (%s)", name, why);

    /* the header alone first: nothing is allocated for a size that is over the limit */
    int w, h;
    uint64_t limit = pixel_limit(opts);
    align_status s = header_size(p, size, fmt, name, limit, &w, &h, err);
    if (s) return s;
    if ((uint64_t)w * (uint64_t)h > limit) return over_limit(name, (uint64_t)w, (uint64_t)h, limit, err);

    int orientation;
    s = check_complete(p, size, fmt, name, &orientation, err);
    if (s) return s;
    size_t crc_pad, keep = fmt == FMT_PNG ? png_cut_short(p, size, &crc_pad) : 0;
    if (keep) {
        size_t total = keep + crc_pad + 12;
        uint8_t *completed = malloc(total);
        if (!completed) return out_of_memory(name, w, h, err);
        memcpy(completed, p, keep);
        memset(completed + keep, 0, crc_pad); /* stb_image does not check CRCs */
        memcpy(completed + keep + crc_pad, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
        s = decode_pixels(completed, total, fmt, name, w, h, out, err);
        free(completed);
    } else {
        s = decode_pixels(p, size, fmt, name, w, h, out, err);
    }
    if (s) return s;
    if (out->width != w || out->height != h) {
        align_image_free(out);
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt %s image (size changed while decoding)", name,
                          format_names[fmt]);
    }
    if ((s = apply_orientation(out, orientation, name, err))) align_image_free(out);
    return s;
}

align_status align_image_load(const char *path, const align_decode_options *opts, align_image *out,
                              align_error *err)
{
    if (out) memset(out, 0, sizeof *out);
    if (!path || !out) return align_fail(err, ALIGN_ERR_ARG, "align_image_load: no path or output");
    file_map map;
    align_status s = file_map_open(path, &map, err);
    if (s) return s;
    s = align_image_load_memory(map.data, map.size, path, opts, out, err);
    file_map_close(&map);
    return s;
}

void align_image_free(align_image *image)
{
    if (!image) return;
    free(image->rgb);
    memset(image, 0, sizeof *image);
}

/* ---- resampling (Pillow's Resample.c semantics) ----------------------------------------------- */

typedef struct {
    double (*fn)(double);
    double support;
} resample_filter;

static double box_fn(double x) { return x > -0.5 && x <= 0.5 ? 1.0 : 0.0; }

static double triangle_fn(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double hamming_fn(double x)
{
    x = fabs(x);
    if (x == 0.0) return 1.0;
    if (x >= 1.0) return 0.0;
    x *= M_PI;
    /* Pillow writes these two constants as floats; the rounding is part of the result */
    return sin(x) / x * (0.54f + 0.46f * cos(x));
}

static double cubic_fn(double x)
{
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double sinc(double x)
{
    if (x == 0.0) return 1.0;
    x *= M_PI;
    return sin(x) / x;
}

static double lanczos_fn(double x) { return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0; }

static const resample_filter filters[] = {
    [RESAMPLE_LANCZOS] = {lanczos_fn, 3.0}, [RESAMPLE_BILINEAR] = {triangle_fn, 1.0},
    [RESAMPLE_BICUBIC] = {cubic_fn, 2.0},   [RESAMPLE_BOX] = {box_fn, 0.5},
    [RESAMPLE_HAMMING] = {hamming_fn, 1.0},
};

/* 8-bit results, with two bits of headroom for filters whose weights go negative or above one. */
#define PRECISION_BITS (32 - 8 - 2)

/* For each output sample of one axis: the input range it reads and its fixed-point weights. */
typedef struct {
    int ksize;      /* weights per output sample (row stride of k) */
    int *first;     /* first input sample read */
    int *count;     /* number of input samples read */
    int32_t *k;     /* out_size * ksize weights, in units of 2^-PRECISION_BITS */
} axis_weights;

static void axis_weights_free(axis_weights *a)
{
    free(a->first);
    free(a->k);
    memset(a, 0, sizeof *a);
}

static align_status axis_weights_init(axis_weights *a, int in_size, int out_size,
                                      const resample_filter *f, align_error *err)
{
    memset(a, 0, sizeof *a);
    /* Pillow passes the source box as floats: sizes above 2^24 are rounded to a float */
    double scale = (double)(float)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale; /* widen the filter when shrinking */
    double support = f->support * filterscale;
    double ksize_d = ceil(support) * 2 + 1;
    if (ksize_d > (double)(SIZE_MAX / sizeof(double) / (size_t)out_size) || ksize_d > INT_MAX)
        return align_fail(err, ALIGN_ERR_LIMIT, "resize from %d to %d: filter too wide", in_size, out_size);
    a->ksize = (int)ksize_d;
    a->first = malloc((size_t)out_size * 2 * sizeof(int));
    a->k = malloc((size_t)out_size * a->ksize * sizeof(int32_t));
    double *w = malloc((size_t)a->ksize * sizeof(double));
    if (!a->first || !a->k || !w) {
        free(w);
        axis_weights_free(a);
        return align_fail(err, ALIGN_ERR_NOMEM, "resize from %d to %d: out of memory", in_size, out_size);
    }
    a->count = a->first + out_size;
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, total = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin; /* at most 2 * support + 1 <= ksize samples */
        for (int x = 0; x < xmax; x++) {
            w[x] = f->fn((x + xmin - center + 0.5) * ss);
            total += w[x];
        }
        int32_t *k = a->k + (size_t)xx * a->ksize;
        for (int x = 0; x < xmax; x++) {
            double v = (total != 0.0 ? w[x] / total : w[x]) * (1 << PRECISION_BITS);
            /* round half away from zero, written as Pillow does (not lround: v + 0.5 rounds first) */
            k[x] = v < 0 ? (int32_t)(-0.5 + v) : (int32_t)(0.5 + v);
        }
        a->first[xx] = xmin;
        a->count[xx] = xmax;
    }
    free(w);
    return ALIGN_OK;
}

static uint8_t clip8(int32_t ss)
{
    if (ss < 0) return 0;
    ss >>= PRECISION_BITS;
    return ss > 255 ? 255 : (uint8_t)ss;
}

/* Horizontal pass over rows [y0, y0 + rows) of in, written to rows [0, rows) of out. */
static void resample_horizontal(const uint8_t *in, int in_w, uint8_t *out, int out_w, int y0, int rows,
                                const axis_weights *a)
{
    for (int y = 0; y < rows; y++) {
        const uint8_t *src = in + (size_t)(y0 + y) * in_w * 3;
        uint8_t *dst = out + (size_t)y * out_w * 3;
        for (int x = 0; x < out_w; x++) {
            const int32_t *k = a->k + (size_t)x * a->ksize;
            const uint8_t *s = src + (size_t)a->first[x] * 3;
            int32_t r = 1 << (PRECISION_BITS - 1), g = r, b = r;
            for (int i = 0; i < a->count[x]; i++, s += 3) {
                r += s[0] * k[i];
                g += s[1] * k[i];
                b += s[2] * k[i];
            }
            dst[3 * x] = clip8(r);
            dst[3 * x + 1] = clip8(g);
            dst[3 * x + 2] = clip8(b);
        }
    }
}

/* Vertical pass; in holds the source rows from row y0 on. Each output row accumulates whole input
 * rows (integer sums, so the order does not change the result). */
static void resample_vertical(const uint8_t *in, int w, uint8_t *out, int out_h, int y0,
                              const axis_weights *a, int32_t *acc)
{
    size_t row = (size_t)w * 3;
    for (int y = 0; y < out_h; y++) {
        const int32_t *k = a->k + (size_t)y * a->ksize;
        for (size_t i = 0; i < row; i++) acc[i] = 1 << (PRECISION_BITS - 1);
        for (int t = 0; t < a->count[y]; t++) {
            const uint8_t *src = in + (size_t)(a->first[y] - y0 + t) * row;
            for (size_t i = 0; i < row; i++) acc[i] += src[i] * k[t];
        }
        for (size_t i = 0; i < row; i++) out[(size_t)y * row + i] = clip8(acc[i]);
    }
}

/* Pillow's nearest-neighbour resize is an affine scale: the source coordinate starts at half a
 * step and advances by adding the step (an accumulated sum, not a product), then truncates. */
static align_status resize_nearest(const align_image *in, align_image *out, align_error *err)
{
    int *xs = malloc((size_t)out->width * sizeof(int));
    if (!xs) return align_fail(err, ALIGN_ERR_NOMEM, "resize: out of memory");
    double ax = (double)(float)in->width / out->width, ay = (double)(float)in->height / out->height;
    double xo = ax * 0.5, yo = ay * 0.5;
    for (int x = 0; x < out->width; x++, xo += ax) xs[x] = xo < 0.0 ? -1 : (int)xo;
    for (int y = 0; y < out->height; y++, yo += ay) {
        int yi = yo < 0.0 ? -1 : (int)yo;
        uint8_t *dst = out->rgb + (size_t)y * out->width * 3;
        for (int x = 0; x < out->width; x++, dst += 3) {
            if (yi >= 0 && yi < in->height && xs[x] >= 0 && xs[x] < in->width)
                memcpy(dst, in->rgb + ((size_t)yi * in->width + xs[x]) * 3, 3);
            else
                memset(dst, 0, 3); /* Pillow fills what falls outside the source */
        }
    }
    free(xs);
    return ALIGN_OK;
}

/* Separable resampling: horizontal pass first (only over the rows the vertical pass reads), then
 * vertical; a pass whose size does not change is skipped, as Pillow skips it. */
static align_status resize_separable(const align_image *in, align_image *out, const resample_filter *f,
                                     align_error *err)
{
    int need_h = out->width != in->width, need_v = out->height != in->height;
    axis_weights ah = {0}, av = {0};
    uint8_t *tmp = NULL;
    int32_t *acc = NULL;
    align_status s = ALIGN_OK;
    if (need_h && (s = axis_weights_init(&ah, in->width, out->width, f, err))) goto done;
    if (!need_v) {
        resample_horizontal(in->rgb, in->width, out->rgb, out->width, 0, in->height, &ah);
        goto done;
    }
    if ((s = axis_weights_init(&av, in->height, out->height, f, err))) goto done;
    acc = malloc((size_t)out->width * 3 * sizeof(int32_t));
    if (!acc) {
        s = align_fail(err, ALIGN_ERR_NOMEM, "resize: out of memory");
        goto done;
    }
    if (!need_h) {
        resample_vertical(in->rgb, in->width, out->rgb, out->height, 0, &av, acc);
        goto done;
    }
    int y0 = av.first[0], y1 = av.first[out->height - 1] + av.count[out->height - 1];
    tmp = malloc((size_t)out->width * (size_t)(y1 - y0) * 3);
    if (!tmp) {
        s = align_fail(err, ALIGN_ERR_NOMEM, "resize: out of memory");
        goto done;
    }
    resample_horizontal(in->rgb, in->width, tmp, out->width, y0, y1 - y0, &ah);
    resample_vertical(tmp, out->width, out->rgb, out->height, y0, &av, acc);
done:
    free(tmp);
    free(acc);
    axis_weights_free(&ah);
    axis_weights_free(&av);
    return s;
}

align_status image_resize(const align_image *in, int out_w, int out_h, int filter, align_image *out,
                          align_error *err)
{
    if (!out) return align_fail(err, ALIGN_ERR_ARG, "resize: no output image");
    memset(out, 0, sizeof *out);
    if (!in || !in->rgb || in->width <= 0 || in->height <= 0)
        return align_fail(err, ALIGN_ERR_ARG, "resize: empty input image");
    if (out_w <= 0 || out_h <= 0)
        return align_fail(err, ALIGN_ERR_ARG, "resize: bad output size %d x %d", out_w, out_h);
    if (filter < RESAMPLE_NEAREST || filter > RESAMPLE_HAMMING)
        return align_fail(err, ALIGN_ERR_ARG, "resize: unknown resample filter %d", filter);
    if ((uint64_t)out_w * (uint64_t)out_h > ALIGN_DEFAULT_MAX_PIXELS)
        return align_fail(err, ALIGN_ERR_LIMIT, "resize: %d x %d pixels is over the limit of %llu", out_w,
                          out_h, ALIGN_DEFAULT_MAX_PIXELS);
    out->rgb = malloc((size_t)out_w * out_h * 3);
    if (!out->rgb) return align_fail(err, ALIGN_ERR_NOMEM, "resize: out of memory");
    out->width = out_w;
    out->height = out_h;
    align_status s;
    if (out_w == in->width && out_h == in->height) {
        memcpy(out->rgb, in->rgb, (size_t)out_w * out_h * 3);
        s = ALIGN_OK;
    } else if (filter == RESAMPLE_NEAREST) {
        s = resize_nearest(in, out, err);
    } else {
        s = resize_separable(in, out, &filters[filter], err);
    }
    if (s) align_image_free(out);
    return s;
}

/* ---- EfficientNetImageProcessor (transformers 4.27) ------------------------------------------- */

void preprocess_config_default(preprocess_config *cfg)
{
    *cfg = (preprocess_config){
        .do_resize = 1, .size_h = 346, .size_w = 346, .resample = RESAMPLE_NEAREST,
        .do_center_crop = 0, .crop_h = 289, .crop_w = 289,
        .do_rescale = 1, .rescale_offset = 0, .rescale_factor = 1.0 / 255,
        /* IMAGENET_STANDARD_MEAN and _STD */
        .do_normalize = 1, .image_mean = {0.5, 0.5, 0.5}, .image_std = {0.5, 0.5, 0.5},
        .include_top = 1,
    };
}

/* The largest side of what the vision tower is fed: size and crop_size in a config, and an image
 * passed through at its own size (do_resize and do_center_crop off). The tower's activations grow
 * with the input's area: align-base takes about 1.5 GB per image at 2048 x 2048 (on top of its
 * weights), 16 times that at 8192. EfficientNet-B7 was trained at 600, align-base at 289. */
#define MAX_SIDE 2048

/* size / crop_size: {"height": h, "width": w}, a bare integer (square) or [h, w], as HF's
 * get_size_dict accepts them. */
static align_status read_size(const cJSON *root, const char *key, const char *path, int *h, int *w,
                              align_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    char ctx[512];
    snprintf(ctx, sizeof ctx, "%s: %s", path, key);
    if (!v || cJSON_IsNull(v)) return ALIGN_OK;
    if (cJSON_IsNumber(v)) {
        int side = 0;
        align_status s = json_int(root, key, path, 1, MAX_SIDE, &side, err);
        if (!s) *h = *w = side;
        return s;
    }
    if (cJSON_IsArray(v)) {
        int hw[2], n = 0;
        align_status s = json_int_array(root, key, path, 1, MAX_SIDE, hw, 2, &n, err);
        if (s) return s;
        if (n != 2) return align_fail(err, ALIGN_ERR_CONFIG, "%s: expected [height, width]", ctx);
        *h = hw[0];
        *w = hw[1];
        return ALIGN_OK;
    }
    if (!cJSON_IsObject(v) || !cJSON_GetObjectItemCaseSensitive(v, "height") ||
        !cJSON_GetObjectItemCaseSensitive(v, "width"))
        return align_fail(err, ALIGN_ERR_CONFIG, "%s: expected {\"height\": H, \"width\": W}", ctx);
    align_status s = json_int(v, "height", ctx, 1, MAX_SIDE, h, err);
    return s ? s : json_int(v, "width", ctx, 1, MAX_SIDE, w, err);
}

/* image_mean / image_std: three numbers, or one for every channel. */
static align_status read_channels(const cJSON *root, const char *key, const char *path, double lo,
                                  double hi, double out[3], align_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return ALIGN_OK;
    if (cJSON_IsNumber(v)) {
        double x = 0;
        align_status s = json_double(root, key, path, lo, hi, &x, err);
        if (!s) out[0] = out[1] = out[2] = x;
        return s;
    }
    double vals[3];
    int n = 0;
    align_status s = json_double_array(root, key, path, lo, hi, vals, 3, &n, err);
    if (s) return s;
    if (n != 3) return align_fail(err, ALIGN_ERR_CONFIG, "%s: %s: expected 3 values, got %d", path, key, n);
    memcpy(out, vals, sizeof vals);
    return ALIGN_OK;
}

align_status preprocess_config_parse(const char *json, size_t len, const char *path, preprocess_config *cfg,
                                    align_error *err)
{
    preprocess_config_default(cfg);
    cJSON *root;
    align_status s = json_parse_object(json, len, path, &root, err);
    if (s) return s;
    preprocess_config c = *cfg;
    if (!s) s = json_bool(root, "do_resize", path, &c.do_resize, err);
    if (!s) s = read_size(root, "size", path, &c.size_h, &c.size_w, err);
    if (!s) s = json_int(root, "resample", path, RESAMPLE_NEAREST, RESAMPLE_HAMMING, &c.resample, err);
    if (!s) s = json_bool(root, "do_center_crop", path, &c.do_center_crop, err);
    if (!s) s = read_size(root, "crop_size", path, &c.crop_h, &c.crop_w, err);
    if (!s) s = json_bool(root, "do_rescale", path, &c.do_rescale, err);
    if (!s) s = json_double(root, "rescale_factor", path, 0.0, 1e6, &c.rescale_factor, err);
    if (!s) s = json_bool(root, "rescale_offset", path, &c.rescale_offset, err);
    if (!s) s = json_bool(root, "do_normalize", path, &c.do_normalize, err);
    if (!s) s = read_channels(root, "image_mean", path, -1e6, 1e6, c.image_mean, err);
    if (!s) s = read_channels(root, "image_std", path, 1e-6, 1e6, c.image_std, err);
    if (!s) s = json_bool(root, "include_top", path, &c.include_top, err);
    cJSON_Delete(root);
    if (!s) *cfg = c;
    return s;
}

align_status preprocess_config_read(const char *path, preprocess_config *cfg, align_error *err)
{
    preprocess_config_default(cfg);
    if (!path) return align_fail(err, ALIGN_ERR_ARG, "preprocessor config: no path");
    if (!file_exists(path)) return ALIGN_OK;
    char *text;
    size_t len;
    align_status s = file_read_all(path, 1 << 20, &text, &len, err);
    if (s) return s;
    s = preprocess_config_parse(text, len, path, cfg, err);
    free(text);
    return s;
}

/* HF 4.27's center_crop, per axis: inside the image the window starts at (in - crop) // 2; a
 * smaller image is padded by (crop - in) // 2 zeros on each side, so an odd difference yields one
 * row or column less than crop (fixed in later transformers; 4.27's output is reproduced). The
 * window's start in image coordinates is negative when padded. */
static void crop_axis(int in, int crop, int *start, int *len)
{
    if (in >= crop) {
        *start = (in - crop) / 2;
        *len = crop;
    } else {
        int pad = (crop - in) / 2;
        *start = -pad;
        *len = in + 2 * pad;
    }
}

void preprocess_output_size(const preprocess_config *cfg, int in_w, int in_h, int *out_w, int *out_h)
{
    int w = cfg->do_resize ? cfg->size_w : in_w, h = cfg->do_resize ? cfg->size_h : in_h, start;
    if (cfg->do_center_crop) {
        crop_axis(w, cfg->crop_w, &start, &w);
        crop_axis(h, cfg->crop_h, &start, &h);
    }
    *out_w = w;
    *out_h = h;
}

/* Every stage after the crop maps one 8-bit value to one float, so a table per channel holds the
 * whole arithmetic, in the precision HF uses: rescale in float64 on the uint8 array, then cast to
 * float32 (with offset: (x - 127.5) * factor, 4.27's formula); normalize and include_top's second
 * division by std in float32. */
static void value_table(const preprocess_config *cfg, float table[3][256])
{
    for (int c = 0; c < 3; c++) {
        float mean = (float)cfg->image_mean[c], std = (float)cfg->image_std[c];
        for (int v = 0; v < 256; v++) {
            float x = (float)v;
            if (cfg->do_rescale && cfg->rescale_offset) x = (float)((v - 127.5) * cfg->rescale_factor);
            else if (cfg->do_rescale) x = (float)(v * cfg->rescale_factor);
            if (cfg->do_normalize) x = (x - mean) / std;
            if (cfg->include_top) x = x / std;
            table[c][v] = x;
        }
    }
}

align_status image_preprocess(const preprocess_config *cfg, const align_image *in, float *out,
                              align_error *err)
{
    if (!cfg || !in || !in->rgb || in->width <= 0 || in->height <= 0 || !out)
        return align_fail(err, ALIGN_ERR_ARG, "preprocess: empty image or output");
    int out_w, out_h;
    preprocess_output_size(cfg, in->width, in->height, &out_w, &out_h);
    if (out_w > MAX_SIDE || out_h > MAX_SIDE)
        return align_fail(err, ALIGN_ERR_LIMIT,
                          "%d x %d pixels would go to the model as they are (do_resize is off): at most %d x %d",
                          in->width, in->height, MAX_SIDE, MAX_SIDE);
    align_image resized = {0};
    const align_image *src = in;
    if (cfg->do_resize) {
        align_status s = image_resize(in, cfg->size_w, cfg->size_h, cfg->resample, &resized, err);
        if (s) return s;
        src = &resized;
    }
    int left = 0, top = 0, w = src->width, h = src->height;
    if (cfg->do_center_crop) {
        crop_axis(src->width, cfg->crop_w, &left, &w);
        crop_axis(src->height, cfg->crop_h, &top, &h);
    }
    float table[3][256];
    value_table(cfg, table);
    for (int y = 0; y < h; y++) {
        int sy = y + top;
        for (int x = 0; x < w; x++) {
            int sx = x + left;
            int inside = sy >= 0 && sy < src->height && sx >= 0 && sx < src->width;
            const uint8_t *px = inside ? src->rgb + ((size_t)sy * src->width + sx) * 3 : NULL;
            float *o = out + ((size_t)y * w + x) * 3;
            for (int c = 0; c < 3; c++) o[c] = table[c][px ? px[c] : 0];
        }
    }
    align_image_free(&resized);
    return ALIGN_OK;
}
