/* sgi.c: SGI images (.sgi, .rgb, .rgba, .bw) as Pillow 9.4's SgiImagePlugin reads them, then
 * convert("RGB").
 *
 * Pillow knows four layouts: grey (1 channel, dimension 1 or 2), RGB and RGBA (3 or 4 channels,
 * dimension 3), of 1 or 2 bytes a sample; 16-bit samples become 8-bit modes by their high byte.
 * Channels are stored one after another, rows bottom-up, raw or RLE after a 512-byte header.
 * Pillow's RLE decoder is followed quirk for quirk, since a file it refuses is one Hugging Face
 * cannot load: a row's byte count is its count of packets (a C int), the last of which must be the
 * end marker or the image stops there, untouched rows black; a row's samples not written keep the
 * row before's; bounds are checked one byte short of the end of the file; offsets are unordered.
 * An SGI image keeps no EXIF orientation. */
#include "image_decode.h"

#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"

#define SGI_HEADER 512

typedef struct {
    unsigned compression, bpc, channels;
    int width, height;
} sgi_header;

/* Pillow's (bytes a sample, dimension, channels) triples; any other it refuses. */
static int sgi_layout_known(unsigned bpc, unsigned dimension, unsigned channels)
{
    if (bpc != 1 && bpc != 2) return 0;
    return channels == 1 ? dimension == 1 || dimension == 2 : dimension == 3 && (channels == 3 || channels == 4);
}

/* Samples in store order as RGB: grey is replicated, a fourth channel (alpha) dropped. */
static void sgi_put(uint8_t *rgb, const sgi_header *h, int y, unsigned channel, int x, uint8_t v)
{
    uint8_t *px = rgb + ((size_t)y * (size_t)h->width + (size_t)x) * 3;
    if (h->channels == 1) px[0] = px[1] = px[2] = v;
    else if (channel < 3) px[channel] = v;
}

/* Whether the file holds what Pillow reads before any pixel: every channel's every row when raw
 * (nothing is read from a file cut short), the RLE tables of offsets and lengths; checked before
 * the image is allocated. */
static align_status sgi_check_length(size_t n, const sgi_header *h, const char *name, align_error *err)
{
    uint64_t plane = (uint64_t)h->width * (uint64_t)h->height * h->bpc, entries = (uint64_t)h->channels * h->height;
    if (!h->compression && (n < SGI_HEADER || (n - SGI_HEADER) / h->channels < plane))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated SGI (its pixel data cut short)", name);
    if (h->compression && (n < SGI_HEADER || (n - SGI_HEADER) / 8 < entries))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated SGI (its RLE tables cut short)", name);
    return ALIGN_OK;
}

/* Uncompressed: the channels one after another. */
static void sgi_raw(const uint8_t *p, const sgi_header *h, uint8_t *rgb)
{
    const uint8_t *s = p + SGI_HEADER;
    for (unsigned c = 0; c < h->channels; c++)
        for (int y = h->height - 1; y >= 0; y--)
            for (int x = 0; x < h->width; x++, s += h->bpc) sgi_put(rgb, h, y, c, x, *s);
}

enum { ROW_DONE = 0, ROW_OVERRUN = -1, ROW_STOP = 1 };

/* One channel of one row from its RLE packets at data[at], into line (pixels of h->channels
 * samples, this one's at `channel`); data[0..end] is the file after the header. A packet is a count
 * atom (its low byte: high bit copy, low 7 bits the count; 0 ends the row) and a value or `count`
 * values, atoms of bpc bytes, whose high byte is the 8-bit sample. As Pillow, a copy or a run must
 * end before the file's last byte, and only `packets` packets are read, the last an end marker. */
static int sgi_rle_row(const uint8_t *data, uint64_t end, uint64_t at, int32_t packets, const sgi_header *h,
                       uint8_t *line, unsigned channel)
{
    uint64_t s = at, bpc = h->bpc;
    int x = 0;
    for (; packets > 0; packets--) {
        if (s + bpc - 1 > end) return ROW_OVERRUN;
        uint8_t atom = data[s + bpc - 1];
        s += bpc;
        if (packets == 1 && atom) return ROW_STOP;
        int count = atom & 0x7f;
        if (!count) return ROW_DONE;
        if (x + count > h->width) return ROW_OVERRUN;
        if (atom & 0x80) {
            if (s + (uint64_t)count * bpc > end) return ROW_OVERRUN;
            for (int i = 0; i < count; i++, s += bpc) line[(size_t)(x + i) * h->channels + channel] = data[s];
        } else {
            if (s + (bpc == 2 ? 2 : 0) > end) return ROW_OVERRUN; /* a 16-bit value: Pillow wants a byte more */
            for (int i = 0; i < count; i++) line[(size_t)(x + i) * h->channels + channel] = data[s];
            s += bpc;
        }
        x += count;
    }
    return ROW_DONE;
}

/* RLE: a table of every channel's rows' offsets (from the start of the file), then one of their
 * packet counts, then the packets anywhere after the header. Rows go bottom-up, every channel of
 * a row before the next; a row is stored once all its channels are decoded. */
static align_status sgi_rle(const uint8_t *p, size_t n, const sgi_header *h, const char *name, uint8_t *rgb,
                            align_error *err)
{
    const uint8_t *data = p + SGI_HEADER, *lengths = data + 4 * (size_t)h->channels * (size_t)h->height;
    uint64_t last = n - SGI_HEADER - 1; /* the tables' 8 bytes at least follow the header */
    uint8_t *line = calloc((size_t)h->width * h->channels, 1);
    if (!line) return image_out_of_memory(name, h->width, h->height, err);
    int status = ROW_DONE;
    for (int row = 0; row < h->height; row++) {
        for (unsigned c = 0; c < h->channels && status == ROW_DONE; c++) {
            size_t i = (size_t)c * (size_t)h->height + (size_t)row;
            uint32_t at = be32(data + 4 * i), count = be32(lengths + 4 * i);
            int32_t packets = count > INT32_MAX ? -1 : (int32_t)count; /* Pillow's C int: none below 0 */
            status = at < SGI_HEADER ? ROW_OVERRUN : sgi_rle_row(data, last, at - SGI_HEADER, packets, h, line, c);
        }
        if (status != ROW_DONE) break;
        for (int x = 0; x < h->width; x++)
            for (unsigned c = 0; c < h->channels; c++)
                sgi_put(rgb, h, h->height - 1 - row, c, x, line[(size_t)x * h->channels + c]);
    }
    free(line);
    if (status == ROW_OVERRUN)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: SGI RLE data past the end of the file or of a row", name);
    return ALIGN_OK;
}

align_status sgi_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    /* a header too short to unpack is not an SGI to Pillow, which goes on to its other plugins */
    if (n < 12) return tga_or_refuse(p, n, name, max_pixels, out, err, "an SGI header cut short");
    sgi_header h = {p[2], p[3], be16(p + 10), (int)be16(p + 6), (int)be16(p + 8)};
    unsigned dimension = be16(p + 4);
    if (!sgi_layout_known(h.bpc, dimension, h.channels))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: SGI image of a layout Pillow does not read "
                          "(%u bytes a sample, dimension %u, %u channels)", name, h.bpc, dimension, h.channels);
    /* Pillow's opening takes an empty image for no SGI at all */
    if (!h.width || !h.height)
        return tga_or_refuse(p, n, name, max_pixels, out, err, "an SGI image of no pixels");
    align_status s = image_check_size(name, "SGI", h.width, h.height, max_pixels, err);
    if (s) return s;
    if (h.compression > 1)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: SGI compression %u, which Pillow does not read", name,
                          h.compression);
    if ((s = sgi_check_length(n, &h, name, err))) return s;
    size_t bytes = (size_t)h.width * (size_t)h.height * 3;
    uint8_t *rgb = big_malloc(bytes);
    if (!rgb) return image_out_of_memory(name, h.width, h.height, err);
    memset(rgb, 0, bytes); /* the rows an RLE image stops before are black */
    if (h.compression) s = sgi_rle(p, n, &h, name, rgb, err);
    else sgi_raw(p, &h, rgb);
    if (s) {
        free(rgb);
        return s;
    }
    out->rgb = rgb;
    out->width = h.width;
    out->height = h.height;
    return ALIGN_OK;
}
