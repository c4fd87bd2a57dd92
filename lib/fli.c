/* fli.c: Autodesk Animator FLI/FLC animations as Pillow 9.4's FliImagePlugin reads them, then
 * convert("RGB"): the first frame, 8-bit indices through a 256-colour palette.
 *
 * Two readers of the first frame, as in Pillow. The palette comes from walking the chunks of the
 * frame header found after the 128-byte file header (or after a prefix chunk: then 16 bytes
 * further, whatever the prefix's size) to the first colour chunk (COLOR_256, or COLOR_64 with
 * each value shifted up 2 bits, kept to 8 bits); with none, the palette is the grey ramp. Where
 * that walk runs out of file or writes past colour 255, Pillow's _open fails and it tries the next
 * plugins: fli_opens says whether it would not. The pixels come from the frame at offset 128,
 * whatever a prefix chunk says (a file with one is refused: that is no frame), read within the
 * frame's own size: BLACK, BRUN, LC (byte delta), SS2 (word delta), COPY; colour chunks and
 * PSTAMP skipped; any other chunk type, a chunk size of 0 or one past the frame, under 10 bytes
 * left in the frame for a chunk, or chunk data running past it refuses the file, and so does a
 * frame longer than the file (by more than a pad byte). Pixels no chunk writes are 0. */
#include "image_decode.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"

#define FLI_HEADER 128
#define FLI_FRAME 0xF1FA
#define FLI_PREFIX 0xF100

enum { CHUNK_COLOR_256 = 4, CHUNK_SS2 = 7, CHUNK_COLOR_64 = 11, CHUNK_LC = 12, CHUNK_BLACK = 13, CHUNK_BRUN = 15,
       CHUNK_COPY = 16, CHUNK_PSTAMP = 18 };

/* A colour chunk's packets from q (a skip, a count with 0 meaning 256, the colours) into pal; 0
 * where Pillow's reading of it fails: the file ends inside a packet, or a colour goes past 255. */
static int fli_colours(const uint8_t *p, size_t n, uint64_t q, int shift, uint8_t pal[768])
{
    if (q + 2 > n) return 0;
    unsigned packets = le16(p + q), i = 0;
    for (q += 2; packets--; q += 2) {
        if (q + 2 > n) return 0;
        i += p[q];
        size_t count = p[q + 1] ? p[q + 1] : 256, got = 3 * count;
        if (got > n - (q + 2)) got = n - (q + 2);
        if (got % 3) return 0;
        for (size_t k = 0; k < got; k += 3, i++) {
            if (i > 255) return 0;
            for (int c = 0; c < 3; c++) pal[3 * i + c] = (uint8_t)(p[q + 2 + k + c] << shift);
        }
        q += got;
    }
    return 1;
}

/* Pillow's _open: its header checks and its walk to the first colour chunk, which fills pal. */
static int fli_open(const uint8_t *p, size_t n, uint8_t pal[768])
{
    if (n < 22 || (le16(p + 4) != 0xAF11 && le16(p + 4) != 0xAF12)) return 0;
    if ((le16(p + 14) != 0 && le16(p + 14) != 3) || p[20] || p[21]) return 0;
    if (!le16(p + 6) || !le16(p + 8) || !le16(p + 10)) return 0; /* no frames, or an empty image */
    for (int i = 0; i < 256; i++) pal[3 * i] = pal[3 * i + 1] = pal[3 * i + 2] = (uint8_t)i;
    uint64_t at = FLI_HEADER;
    if (n < at + 6) return 0;
    if (le16(p + at + 4) == FLI_PREFIX && n < (at += 16) + 6) return 0;
    if (le16(p + at + 4) != FLI_FRAME) return 1;
    if (n < at + 8) return 0;
    unsigned chunks = le16(p + at + 6);
    for (uint64_t q = at + 16; chunks--;) {
        if (q + 6 > n) return 0;
        unsigned type = le16(p + q + 4);
        if (type == CHUNK_COLOR_256 || type == CHUNK_COLOR_64)
            return fli_colours(p, n, q + 6, type == CHUNK_COLOR_64 ? 2 : 0, pal);
        uint32_t size = le32(p + q);
        if (!size) break;
        q += size;
    }
    return 1;
}

int fli_opens(const uint8_t *p, size_t n)
{
    uint8_t pal[768];
    return fli_open(p, n, pal);
}

/* The first frame's bytes, as Pillow hands them to its decoder, and the indices it writes. */
typedef struct {
    const uint8_t *b;
    size_t end;
    uint8_t *px;
    size_t w, h;
} fli_frame;

/* Word delta: a count of lines, each with flag words (lines to skip, or the last pixel of an odd
 * width) before its packets (a skip, then pairs repeated or copied). */
static int fli_ss2(fli_frame *f, size_t d)
{
    const uint8_t *b = f->b;
    unsigned lines = le16(b + d), l = 0;
    size_t y = 0;
    for (d += 2; l < lines && y < f->h; l++, y++) {
        if (d + 2 > f->end) return 0;
        unsigned packets = le16(b + d);
        for (d += 2; packets & 0x8000; d += 2) {
            if (packets & 0x4000) {
                y += 65536 - packets;
                if (y >= f->h) return 0;
            } else {
                f->px[y * f->w + f->w - 1] = (uint8_t)packets;
            }
            if (d + 2 > f->end) return 0;
            packets = le16(b + d);
        }
        uint8_t *row = f->px + y * f->w;
        for (size_t x = 0; packets--;) {
            if (d + 2 > f->end) return 0;
            x += b[d];
            if (b[d + 1] >= 128) {
                size_t i = 256 - b[d + 1];
                if (d + 4 > f->end || x + 2 * i > f->w) return 0;
                for (; i--; x += 2) row[x] = b[d + 2], row[x + 1] = b[d + 3];
                d += 4;
            } else {
                size_t i = 2 * (size_t)b[d + 1];
                if (x + i > f->w || d + 2 + i > f->end) return 0;
                memcpy(row + x, b + d + 2, i);
                d += 2 + i, x += i;
            }
        }
    }
    return l == lines;
}

/* Byte delta: a first line and a count of lines, each with its packets (a skip, then a run or a
 * copy); every line counted must be in the image (the first line need not, for a count of 0). */
static int fli_lc(fli_frame *f, size_t d)
{
    const uint8_t *b = f->b;
    size_t y = le16(b + d), ymax = y + le16(b + d + 2);
    if (ymax > y && ymax > f->h) return 0;
    for (d += 4; y < ymax; y++) {
        uint8_t *row = f->px + y * f->w;
        if (d + 1 > f->end) return 0;
        size_t x = 0;
        for (unsigned packets = b[d++]; packets--;) {
            if (d + 2 > f->end) return 0;
            x += b[d];
            size_t i = b[d + 1] & 0x80 ? 256 - b[d + 1] : b[d + 1];
            if (x + i > f->w) return 0;
            if (b[d + 1] & 0x80) {
                if (d + 3 > f->end) return 0;
                memset(row + x, b[d + 2], i);
                d += 3;
            } else {
                if (d + 2 + i > f->end) return 0;
                memcpy(row + x, b + d + 2, i);
                d += 2 + i;
            }
            x += i;
        }
    }
    return 1;
}

/* Byte run length, every line: a packet count (ignored), then runs and copies filling the line
 * exactly. */
static int fli_brun(fli_frame *f, size_t d)
{
    const uint8_t *b = f->b;
    for (size_t y = 0; y < f->h; y++) {
        uint8_t *row = f->px + y * f->w;
        size_t x = 0;
        for (d++; x < f->w;) {
            if (d + 2 > f->end) return 0;
            size_t i = b[d] & 0x80 ? 256 - b[d] : b[d];
            if (x + i > f->w) return 0;
            if (b[d] & 0x80) {
                if (d + 1 + i > f->end) return 0;
                memcpy(row + x, b + d + 1, i);
                d += 1 + i;
            } else {
                memset(row + x, b[d + 1], i);
                d += 2;
            }
            x += i;
        }
    }
    return 1;
}

/* The frame's chunks in order; NULL, or what is wrong. */
static const char *fli_chunks(fli_frame *f)
{
    if (f->end < 8) return "first frame cut short";
    if (le16(f->b + 4) == FLI_PREFIX) return "prefix chunk where Pillow 9.4 decodes the first frame";
    if (le16(f->b + 4) != FLI_FRAME) return "first frame is no frame chunk";
    unsigned chunks = le16(f->b + 6);
    for (size_t at = 16; chunks--;) {
        if (at > f->end || f->end - at < 10) return "chunk cut short";
        size_t d = at + 6, left = f->end - at;
        int ok = 1;
        switch (le16(f->b + at + 4)) {
        case CHUNK_COLOR_256: case CHUNK_COLOR_64: case CHUNK_PSTAMP: break;
        case CHUNK_SS2: ok = fli_ss2(f, d); break;
        case CHUNK_LC: ok = fli_lc(f, d); break;
        case CHUNK_BRUN: ok = fli_brun(f, d); break;
        case CHUNK_BLACK: memset(f->px, 0, f->w * f->h); break;
        case CHUNK_COPY:
            if (f->w * f->h > left - 6) return "COPY chunk cut short";
            memcpy(f->px, f->b + d, f->w * f->h);
            break;
        default: return "chunk of a type Pillow does not decode";
        }
        if (!ok) return "chunk data overruns the frame or the image";
        int32_t advance = (int32_t)le32(f->b + at);
        if (!advance) return "chunk of size 0";
        if (advance < 0 || (size_t)advance > left) return "chunk runs past the frame";
        at += (size_t)advance;
    }
    return NULL;
}

align_status fli_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    uint8_t pal[768];
    if (!fli_open(p, n, pal)) return align_fail(err, ALIGN_ERR_FORMAT, "%s: not an FLI/FLC file", name);
    int w = (int)le16(p + 8), h = (int)le16(p + 10);
    align_status s = image_check_size(name, "FLI", w, h, max_pixels, err);
    if (s) return s;
    size_t pixels = (size_t)w * (size_t)h, frame = le32(p + FLI_HEADER), left = n - FLI_HEADER;
    /* Pillow's decoder waits for the whole frame (but for a pad byte after an odd length, or a size
     * it reads as negative: then it has the rest of the file) */
    if (frame <= INT32_MAX && frame > left + (left & 1))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: FLI first frame cut short", name);
    fli_frame f = {p + FLI_HEADER, frame < left ? frame : left, calloc(pixels, 1), (size_t)w, (size_t)h};
    uint8_t *rgb = big_malloc(pixels * 3);
    const char *wrong = NULL;
    if (!f.px || !rgb)
        s = image_out_of_memory(name, w, h, err);
    else if ((wrong = fli_chunks(&f)))
        s = align_fail(err, ALIGN_ERR_FORMAT, "%s: FLI %s", name, wrong);
    else
        for (size_t i = 0; i < pixels; i++) memcpy(rgb + 3 * i, pal + 3 * f.px[i], 3);
    free(f.px);
    if (s) {
        free(rgb);
        return s;
    }
    out->rgb = rgb, out->width = w, out->height = h;
    return ALIGN_OK;
}
