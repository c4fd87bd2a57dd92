/* stb_checks.c: what stb_image 2.27 (Debian 12's libstb) would decode differently from PIL or
 * unsafely, found in the file before stb_image sees it. */
#include "stb_checks.h"

#include <stdio.h>
#include <string.h>

#include "byteorder.h"
#include "orientation.h"

/* The tables of a DHT segment whose data starts at t, len - 2 bytes, read as stb_image reads them:
 * while the length is not used up, with zeros past the file's end. Marks each in defined. */
static const char *dht_tables(const uint8_t *p, size_t n, size_t t, size_t len, int defined[2][4], char *why,
                              size_t cap)
{
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
    return NULL;
}

/* A scan header h (len bytes, all in the file): the tables of the coefficients it codes (a
 * progressive scan codes DC or AC only) must be defined. */
static const char *scan_tables(const uint8_t *h, size_t len, int progressive, int defined[2][4], char *why,
                               size_t cap)
{
    size_t ns = h[0];
    if (len != 6 + 2 * ns) return NULL;
    const uint8_t *tail = h + 1 + 2 * ns; /* Ss, Se, Ah Al */
    int dc = progressive <= 0 || (tail[0] == 0 && (tail[2] >> 4) == 0);
    int ac = progressive <= 0 || tail[0] > 0;
    for (size_t c = 0; c < ns; c++) {
        unsigned td = h[2 + 2 * c] >> 4, ta = h[2 + 2 * c] & 15;
        if ((dc && td <= 3 && !defined[0][td]) || (ac && ta <= 3 && !defined[1][ta])) {
            int dc_missing = dc && td <= 3 && !defined[0][td];
            snprintf(why, cap, "a scan uses Huffman table %s%u, which no DHT segment defines",
                     dc_missing ? "DC " : "AC ", dc_missing ? td : ta);
            return why;
        }
    }
    return NULL;
}

/* Past a scan's entropy-coded data, from pos to its next marker. */
static size_t skip_entropy_data(const uint8_t *p, size_t n, size_t pos)
{
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
    return pos;
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
const char *jpeg_bad_tables(const uint8_t *p, size_t n, char *why, size_t cap)
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
        const char *bad = NULL;
        if (m == 0xc4) bad = dht_tables(p, n, pos + 2, len, defined, why, cap);
        else if ((m == 0xc0 || m == 0xc1 || m == 0xc2) && progressive < 0) progressive = m == 0xc2;
        else if (m == 0xda && len >= 6 && n - pos >= len)
            bad = scan_tables(p + pos + 2, len, progressive, defined, why, cap);
        if (bad) return bad;
        pos += len;
        if (m == 0xda) pos = skip_entropy_data(p, n, pos);
    }
    return NULL;
}

/* libjpeg (so PIL) refuses a JPEG that ends before its end-of-image marker; stb_image would
 * decode the missing part as grey. Entropy-coded data cannot contain FF D9, so any FF D9 after the
 * first scan header is the end. */
int jpeg_truncated(const uint8_t *p, size_t n)
{
    int orientation;
    size_t scan = jpeg_segments(p, n, &orientation);
    if (!scan) return 1;
    if (n - scan >= 2 && p[n - 2] == 0xff && p[n - 1] == 0xd9) return 0;
    for (size_t i = scan; i + 1 < n; i++) {
        const uint8_t *ff = memchr(p + i, 0xff, n - 1 - i);
        if (!ff) return 1;
        i = (size_t)(ff - p);
        if (ff[1] == 0xd9) return 0;
    }
    return 1;
}

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
