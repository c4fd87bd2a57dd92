/* png_chunks.c: a PNG's chunks as Pillow 9.4's PngImagePlugin reads them, and the PNG stb_image is
 * given.
 *
 * Pillow opens a PNG by reading its chunks up to the first IDAT, each whole with its CRC checked.
 * It decodes the image from that IDAT and the ones right after it (a file may end inside them once
 * the image is complete). Then it reads the chunks left up to IEND, each whole but unchecked,
 * stopping quietly at a chunk header it cannot read. Of the chunks' content only what a chunk's
 * handler reads can make it refuse a file; nothing but IHDR and a palette image's PLTE changes the
 * RGB it gives. */
#include "png_chunks.h"

#include <stdlib.h>
#include <string.h>

#include "byteorder.h"

enum { PALETTE = 3 }; /* IHDR's colour type of a palette image */

/* Pillow's test of a chunk type: four bytes of ASCII letters, digits or _ (a regex's \w). */
static int is_chunk_type(const uint8_t *t)
{
    for (int i = 0; i < 4; i++) {
        uint8_t c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return 0;
    }
    return 1;
}

static int is(const uint8_t *chunk, const char *type)
{
    return memcmp(chunk + 4, type, 4) == 0;
}

/* The CRC-32 of ISO 3309, which PNG uses. */
static void crc_table(uint32_t table[256])
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
}

static uint32_t crc(const uint32_t table[256], const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* A chunk whose handler reads more bytes than the chunk has (Pillow's "Truncated IHDR chunk" and
 * the like, or an integer read past the data). colour: IHDR's colour type, -1 before IHDR. */
static int too_short(const uint8_t *chunk, size_t len, int colour)
{
    static const struct {
        char type[5];
        unsigned need;
    } needs[] = {{"IHDR", 13}, {"gAMA", 4}, {"sRGB", 1}, {"pHYs", 9}, {"acTL", 8}, {"fcTL", 26}};
    for (size_t i = 0; i < sizeof needs / sizeof needs[0]; i++)
        if (is(chunk, needs[i].type)) return len < needs[i].need;
    /* a transparent grey level or RGB colour: one or three 16-bit samples */
    if (is(chunk, "tRNS")) return (colour == 0 && len < 2) || (colour == 2 && len < 6);
    return 0;
}

static void name_chunk(png_view *v, const uint8_t *chunk)
{
    memcpy(v->chunk, chunk + 4, 4);
    v->chunk[4] = 0;
}

typedef struct {
    const uint8_t *ihdr, *plte; /* the last of each before the image data (Pillow keeps the last) */
    int colour, animated;
    size_t data_at;             /* where the first IDAT starts */
} png_head;

/* The chunks before the image data, each whole with its CRC. */
static png_walk walk_head(const uint8_t *p, size_t n, png_head *h, png_view *v)
{
    uint32_t table[256];
    crc_table(table);
    size_t pos = 8;
    for (;;) {
        if (n - pos < 8) return PNG_ENDS_BEFORE_DATA;
        const uint8_t *c = p + pos;
        size_t len = be32(c);
        name_chunk(v, c);
        if (!is_chunk_type(c + 4)) return PNG_BAD_CHUNK_TYPE;
        if (is(c, "IDAT")) break;
        if (is(c, "IEND")) return PNG_ENDS_BEFORE_DATA;
        if (len > n - pos - 8) return PNG_CHUNK_PAST_END;
        if (n - pos - 8 - len < 4) return PNG_ENDS_BEFORE_DATA;
        if (crc(table, c + 4, len + 4) != be32(c + 8 + len)) return PNG_BAD_CRC;
        if (too_short(c, len, h->colour)) return PNG_CHUNK_TOO_SHORT;
        if (is(c, "IHDR")) h->ihdr = c, h->colour = c[8 + 9];
        if (is(c, "PLTE")) h->plte = c;
        if (is(c, "acTL")) h->animated = be32(c + 8) > 1;
        pos += 12 + len;
    }
    h->data_at = pos;
    return PNG_READ;
}

/* The run of IDAT chunks from h->data_at: its data's length (a cut last chunk's bytes counted only
 * with keep_cut) and where the run ends. */
static size_t measure_data(const uint8_t *p, size_t n, const png_head *h, int keep_cut, png_view *v, size_t *end)
{
    size_t pos = h->data_at, total = 0;
    int chunks = 0;
    while (n - pos >= 8 && is(p + pos, "IDAT")) {
        size_t len = be32(p + pos), have = n - pos - 8;
        if (len > have) {
            v->data_cut = 1, v->later_cut = chunks > 0;
            total += keep_cut ? have : 0;
            pos = n;
            break;
        }
        total += len, chunks++;
        pos += 8 + len;
        pos += n - pos < 4 ? n - pos : 4; /* its CRC, unchecked */
    }
    *end = pos;
    return total;
}

/* The chunks after the image data, up to IEND: each read whole, unchecked. Pillow stops at a header
 * it cannot read, and in an animation at the next frame's control chunk. */
static png_walk walk_tail(const uint8_t *p, size_t n, size_t pos, const png_head *h, png_view *v)
{
    while (n - pos >= 8) {
        const uint8_t *c = p + pos;
        size_t len = be32(c);
        if (!is_chunk_type(c + 4) || is(c, "IEND") || (h->animated && is(c, "fcTL"))) break;
        name_chunk(v, c);
        if (len > n - pos - 8) return PNG_CHUNK_PAST_END;
        if (too_short(c, len, h->colour)) return PNG_CHUNK_TOO_SHORT;
        pos += 8 + len;
        pos += n - pos < 4 ? n - pos : 4;
    }
    return PNG_READ;
}

static uint8_t *put_chunk_head(uint8_t *o, size_t len, const char *type)
{
    for (int i = 0; i < 4; i++) o[i] = (uint8_t)(len >> (24 - 8 * i));
    memcpy(o + 4, type, 4);
    return o + 8;
}

/* A palette of fewer than 256 entries gets PIL's grey ramp after them (entry i is i, i, i), and no
 * PLTE at all is that ramp whole; one of another length stb_image refuses as it is. The CRCs
 * written are zeros: stb_image checks none. */
static uint8_t *put_palette(uint8_t *o, const uint8_t *plte)
{
    size_t len = plte ? be32(plte) : 0, full = len < 768 && len % 3 == 0 ? 768 : len;
    o = put_chunk_head(o, full, "PLTE");
    if (len) memcpy(o, plte + 8, len);
    for (size_t i = len / 3; i < full / 3; i++) memset(o + 3 * i, (int)i, 3);
    memset(o + full, 0, 4);
    return o + full + 4;
}

static void put_view(const uint8_t *p, const png_head *h, size_t data_len, size_t data_end, png_view *v)
{
    uint8_t *o = v->data;
    memcpy(o, p, 8);
    o += 8;
    if (h->ihdr) { /* its first 13 bytes, all Pillow reads of it */
        o = put_chunk_head(o, 13, "IHDR");
        memcpy(o, h->ihdr + 8, 13);
        o[10] = 0;             /* compression method: Pillow never looks */
        o[12] = o[12] ? 1 : 0; /* interlace: any nonzero value is Adam7 to Pillow */
        memset(o + 13, 0, 4);
        o += 17;
    }
    if (h->colour == PALETTE) o = put_palette(o, h->plte);
    o = put_chunk_head(o, data_len, "IDAT");
    for (size_t pos = h->data_at; data_len && pos < data_end;) {
        size_t len = be32(p + pos), take = len < data_len ? len : data_len;
        memcpy(o, p + pos + 8, take);
        o += take, data_len -= take;
        pos += 12 + len;
    }
    memset(o, 0, 4);
    memcpy(o + 4, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
    v->size = (size_t)(o + 16 - v->data);
}

png_walk png_view_make(const uint8_t *p, size_t n, int keep_cut, png_view *v)
{
    memset(v, 0, sizeof *v);
    png_head h = {NULL, NULL, -1, 0, 0};
    png_walk w = walk_head(p, n, &h, v);
    if (w) return w;
    size_t end, data_len = measure_data(p, n, &h, keep_cut, v, &end);
    if (!v->data_cut && (w = walk_tail(p, n, end, &h, v))) return w;
    size_t plte_len = h.plte && h.colour == PALETTE ? be32(h.plte) : 0;
    v->data = malloc(8 + 25 + 12 + (plte_len < 768 ? 768 : plte_len) + 12 + data_len + 12);
    if (!v->data) return PNG_NO_MEMORY;
    put_view(p, &h, data_len, end, v);
    return PNG_READ;
}
