/* msp.c: Microsoft Paint files as Pillow 9.4's MspImagePlugin reads them, then convert("RGB"): 1 bit
 * a pixel (a set bit white), version 1 ("DanM") raw, version 2 ("LinS") run-length encoded. The
 * 32-byte header's sixteen little-endian words must XOR to 0. A version 2 file has a map of each
 * row's encoded length after the header, then the rows: a length of 0 is a white row; in a row a
 * byte 0 is followed by a count and the byte to repeat, any other byte is a count of bytes to copy
 * (as many as the row still has). Pillow decodes every row before it looks at the result, so a bad
 * row anywhere refuses the file; it then reads the bytes as one stream, whatever each row gave,
 * and refuses it only when there are too few. */
#include "image_decode.h"

#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"

#define MSP_HEADER 32

/* The decoded stream: bytes past the image's are counted, not kept. */
typedef struct {
    uint8_t *bits;
    size_t size, filled;
} msp_stream;

static void msp_put(msp_stream *s, const uint8_t *bytes, int value, size_t count)
{
    size_t room = s->size - s->filled, k = count < room ? count : room;
    if (bytes)
        memcpy(s->bits + s->filled, bytes, k);
    else
        memset(s->bits + s->filled, value, k);
    s->filled += k;
}

/* One encoded row; 0 where Pillow finds a run with its count or value missing. */
static int msp_row(const uint8_t *row, size_t len, msp_stream *s)
{
    for (size_t i = 0; i < len;) {
        size_t count = row[i++];
        if (count) {
            size_t k = count < len - i ? count : len - i;
            msp_put(s, row + i, 0, k);
            i += count;
        } else {
            if (len - i < 2) return 0;
            msp_put(s, NULL, row[i + 1], row[i]);
            i += 2;
        }
    }
    return 1;
}

/* Version 2: the row map, then every row, into s. */
static align_status msp_rle(const uint8_t *p, size_t n, const char *name, unsigned height, size_t row_bytes,
                            msp_stream *s, align_error *err)
{
    size_t at = MSP_HEADER + 2 * (size_t)height;
    if (n < at) return align_fail(err, ALIGN_ERR_FORMAT, "%s: MSP row map cut short", name);
    for (unsigned y = 0; y < height; y++) {
        size_t len = le16(p + MSP_HEADER + 2 * y);
        if (!len) {
            msp_put(s, NULL, 0xff, row_bytes);
            continue;
        }
        if (n - at < len) return align_fail(err, ALIGN_ERR_FORMAT, "%s: MSP row %u cut short", name, y);
        if (!msp_row(p + at, len, s))
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: MSP row %u ends inside a run", name, y);
        at += len;
    }
    if (s->filled < s->size) return align_fail(err, ALIGN_ERR_FORMAT, "%s: MSP rows too short for the image", name);
    return ALIGN_OK;
}

static void msp_to_rgb(const uint8_t *bits, size_t row_bytes, unsigned w, unsigned h, uint8_t *rgb)
{
    for (size_t y = 0; y < h; y++, bits += row_bytes)
        for (size_t x = 0; x < w; x++, rgb += 3) rgb[0] = rgb[1] = rgb[2] = bits[x / 8] >> (7 - x % 8) & 1 ? 255 : 0;
}

align_status msp_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    if (n < MSP_HEADER) return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated MSP header", name);
    unsigned sum = 0;
    for (size_t i = 0; i < MSP_HEADER; i += 2) sum ^= le16(p + i);
    if (sum) return align_fail(err, ALIGN_ERR_FORMAT, "%s: bad MSP checksum", name);
    unsigned w = le16(p + 4), h = le16(p + 6);
    align_status s = image_check_size(name, "MSP", (int)w, (int)h, max_pixels, err);
    if (s) return s;
    size_t row_bytes = (w + 7) / 8, size = row_bytes * h;
    int raw = p[0] == 'D'; /* "DanM"; "LinS" is run-length encoded */
    if (raw && n - MSP_HEADER < size) return align_fail(err, ALIGN_ERR_FORMAT, "%s: MSP data cut short", name);
    msp_stream stream = {raw ? NULL : malloc(size), size, 0};
    uint8_t *rgb = big_malloc((size_t)w * h * 3);
    if (!rgb || (!raw && !stream.bits))
        s = image_out_of_memory(name, (int)w, (int)h, err);
    else if (!raw)
        s = msp_rle(p, n, name, h, row_bytes, &stream, err);
    if (!s) msp_to_rgb(raw ? p + MSP_HEADER : stream.bits, row_bytes, w, h, rgb);
    free(stream.bits);
    if (s) {
        free(rgb);
        return s;
    }
    out->rgb = rgb, out->width = (int)w, out->height = (int)h;
    return ALIGN_OK;
}
