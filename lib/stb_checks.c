/* stb_checks.c: what stb_image 2.27 (Debian 12's libstb) would decode differently from PIL or
 * unsafely, found in the file before stb_image sees it. */
#include "stb_checks.h"

#include <string.h>

#include "byteorder.h"

/* PIL reads a PNG that ends early once the image data is complete: it does not need the last
 * chunk's CRC, nor IEND, nor a whole chunk header after the data. stb_image insists on all three.
 * For such a file, returns how many bytes to keep and (in *crc_pad) how many CRC bytes to add
 * before appending IEND; returns 0 when the file has its IEND or is cut where PIL refuses it too
 * (inside a chunk's data, or before any image data), and then sets *refused in the second case:
 * stb_image would name a symptom, such as a chunk named by the three bytes left of its type. */
size_t png_cut_short(const uint8_t *p, size_t n, size_t *crc_pad, int *refused)
{
    size_t pos = 8;
    int idat = 0;
    *crc_pad = 0;
    *refused = 0;
    while (n - pos >= 12) {
        size_t len = be32(p + pos);
        if (!memcmp(p + pos + 4, "IEND", 4)) return 0; /* PIL stops at its name, whatever its length */
        if (len > n - pos - 12) break;
        if (!memcmp(p + pos + 4, "IDAT", 4)) idat = 1;
        pos += 12 + len;
    }
    size_t rest = n - pos, len = rest < 8 ? 0 : be32(p + pos);
    if (rest >= 8 && !memcmp(p + pos + 4, "IEND", 4)) return 0;
    *refused = rest < 8 ? !idat : len > rest - 8 || (!idat && memcmp(p + pos + 4, "IDAT", 4));
    if (*refused) return 0;
    if (rest < 8) return pos;
    *crc_pad = 12 + len - rest;
    return n;
}

/* stb_image grows its buffer to the length such a chunk claims, up to 2 GB for a file of a few
 * hundred bytes, before it finds the data missing, so the callers look first. */
size_t png_chunk_overruns(const uint8_t *p, size_t n, int *first_idat)
{
    size_t pos = 8;
    int idat = 0;
    while (n - pos >= 8) {
        size_t len = be32(p + pos);
        int is_idat = !memcmp(p + pos + 4, "IDAT", 4);
        if (!memcmp(p + pos + 4, "IEND", 4)) return 0;
        if (len > n - pos - 8) {
            *first_idat = is_idat && !idat;
            return pos;
        }
        if (n - pos - 8 - len < 4) return 0; /* only the CRC is cut: png_cut_short's case */
        idat |= is_idat;
        pos += 12 + len;
    }
    return 0;
}

size_t png_short_palette(const uint8_t *p, size_t n)
{
    if (n < 33 || p[25] != 3) return 0;
    for (size_t at = 8; at + 12 <= n;) {
        size_t len = be32(p + at);
        if (len > n - at - 12 || !memcmp(p + at + 4, "IDAT", 4)) return 0;
        if (!memcmp(p + at + 4, "PLTE", 4)) return len < 768 && len % 3 == 0 ? at : 0;
        at += len + 12;
    }
    return 0;
}
