/* stb_checks.c: what stb_image 2.27 (Debian 12's libstb) would decode differently from PIL or
 * unsafely, found in the file before stb_image sees it. */
#include "stb_checks.h"

#include <string.h>

#include "byteorder.h"

/* PIL reads a PNG that ends early once the image data is complete: it does not need the last
 * chunk's CRC, nor IEND, nor a whole chunk header after the data. stb_image insists on all three.
 * For such a file, returns how many bytes to keep and (in *crc_pad) how many CRC bytes to add
 * before appending IEND; returns 0 when the file has its IEND or is cut where PIL refuses it too
 * (inside a chunk's data, or before any image data). */
size_t png_cut_short(const uint8_t *p, size_t n, size_t *crc_pad)
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

/* stb_image leaves the unread part of a truncated BMP black; PIL refuses the file. For the
 * uncompressed layouts (the only ones stb_image reads) the raster size follows from the header. */
int bmp_truncated(const uint8_t *p, size_t n)
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
int tga_truncated(const uint8_t *p, size_t n)
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
int gif_truncated(const uint8_t *p, size_t n)
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
