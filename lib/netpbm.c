/* netpbm.c: PBM, PGM and PPM, plain (P1, P2, P3) and binary (P4, P5, P6), as Pillow 9.4's
 * PpmImagePlugin reads them, then convert("RGB"). Pillow's reading is kept where it is odd, since
 * the point is its pixels: a comment ends at CR or LF and is cut out together with that byte, so
 * the digits either side of it make one token; a plain file is read in blocks of 1 MiB, every
 * byte of a block read is checked (P1), and a token the file ends in without whitespace after it
 * is read again until the image is full; samples scale by v / maxval * 255 with round half to
 * even, 16-bit grey by v / maxval * 65535 (Pillow's mode I) and then clipped at 255. */
#include "image_decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"
#include "pyint.h"

#define PLAIN_BLOCK ((size_t)1 << 20) /* Pillow's ImageFile.SAFEBLOCK */
#define MAX_TOKEN 10                  /* longer header or data tokens Pillow refuses */

typedef struct {
    char kind;                 /* '1' to '6' */
    long long width, height, maxval;
    int channels, wide;        /* 1 or 3; 16-bit grey is Pillow's mode I: scaled to 65535 */
    size_t data;               /* where the samples start */
} pnm_header;

/* One header token as Pillow reads it, from *pos on: whitespace before it skipped, a comment
 * skipped up to and including its CR or LF (the token goes on after it), one whitespace byte
 * after it consumed. */
static int header_token(const uint8_t *p, size_t n, size_t *pos, long long *v)
{
    uint8_t t[MAX_TOKEN + 1];
    size_t len = 0;
    while (len <= MAX_TOKEN && *pos < n) {
        uint8_t c = p[(*pos)++];
        if (py_space(c)) {
            if (len) break;
        } else if (c == '#') {
            while (*pos < n && p[*pos] != '\r' && p[*pos] != '\n') (*pos)++;
            if (*pos < n) (*pos)++;
        } else {
            t[len++] = c;
        }
    }
    return len && len <= MAX_TOKEN && py_int(t, len, 10, v, NULL);
}

static int pnm_parse(const uint8_t *p, size_t n, pnm_header *h)
{
    if (n > 2 && !py_space(p[2])) return 0; /* the magic is P1 to P6 alone */
    size_t pos = 3;
    h->kind = (char)p[1];
    h->maxval = 1;
    if (!header_token(p, n, &pos, &h->width) || !header_token(p, n, &pos, &h->height)) return 0;
    int bits = h->kind == '1' || h->kind == '4';
    if (!bits && (!header_token(p, n, &pos, &h->maxval) || h->maxval < 1 || h->maxval > 65535)) return 0;
    h->channels = h->kind == '3' || h->kind == '6' ? 3 : 1;
    h->wide = h->channels == 1 && h->maxval > 255;
    h->data = pos < n ? pos : n;
    return 1;
}

/* A sample scaled as Pillow scales it, then as convert("RGB") takes it. */
static uint8_t scaled(long long v, const pnm_header *h)
{
    if (h->maxval == 255 && v <= 255) return (uint8_t)v;
    double s = nearbyint((double)v / (double)h->maxval * (h->wide ? 65535.0 : 255.0));
    if (h->wide) return s > 255.0 ? 255 : (uint8_t)s;
    return (uint8_t)((long long)s & 255); /* Pillow keeps a negative plain sample's low byte */
}

static void put_sample(uint8_t *rgb, size_t i, uint8_t v, int channels)
{
    if (channels == 3) rgb[i] = v;
    else rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = v;
}

/* P4, P5 and P6: the raster right after the header; samples over maxval are clipped. */
static align_status pnm_binary(const uint8_t *p, size_t n, const char *name, const pnm_header *h, uint8_t *rgb,
                               align_error *err)
{
    size_t w = (size_t)h->width, samples = w * h->height * h->channels, bytes = h->maxval > 255 ? 2 : 1;
    size_t size = h->kind == '4' ? (w + 7) / 8 * h->height : samples * bytes;
    if (n - h->data < size)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated PNM (%zu of %zu pixel bytes)", name, n - h->data,
                          size);
    const uint8_t *d = p + h->data;
    for (size_t i = 0; i < samples; i++) {
        if (h->kind == '4') {
            size_t x = i % w, y = i / w;
            put_sample(rgb, i, d[y * ((w + 7) / 8) + x / 8] >> (7 - x % 8) & 1 ? 0 : 255, 1);
            continue;
        }
        long long v = bytes == 2 ? be16(d + 2 * i) : d[i];
        put_sample(rgb, i, scaled(v > h->maxval ? h->maxval : v, h), h->channels);
    }
    return ALIGN_OK;
}

/* ---- plain files, read block by block as Pillow's PpmPlainDecoder reads them ---- */

typedef struct {
    const uint8_t *p;
    size_t n, pos;       /* the file, and where its next block starts */
    int comment_open;    /* the last block ended inside a comment */
    uint8_t *text;       /* a held token, then the block with its comments cut out */
    size_t held, len;    /* the held token's length (P2, P3); the text's */
    const pnm_header *h;
    uint8_t *rgb;
    size_t done, total;  /* samples written and wanted */
} plain_reader;

/* Where the comment from start on ends: its first LF or CR, except that Pillow, looking from
 * the block's start for a comment's continuation, takes the later of the two when one is there. */
static long comment_end(const uint8_t *b, size_t len, size_t start)
{
    const uint8_t *lf = memchr(b + start, '\n', len - start), *cr = memchr(b + start, '\r', len - start);
    long a = lf ? lf - b : -1, c = cr ? cr - b : -1;
    return a * c > 0 ? (a < c ? a : c) : (a > c ? a : c);
}

/* The next block, or an empty one at the end of the file. */
static const uint8_t *next_block(plain_reader *r, size_t *len)
{
    const uint8_t *b = r->p + r->pos;
    *len = r->n - r->pos < PLAIN_BLOCK ? r->n - r->pos : PLAIN_BLOCK;
    r->pos += *len;
    return b;
}

/* Appends a block to r->text (after the held token) with its comments cut out. */
static void clean_block(plain_reader *r, const uint8_t *b, size_t len)
{
    while (r->comment_open && len) {
        long end = comment_end(b, len, 0);
        if (end >= 0) {
            b += end + 1, len -= (size_t)end + 1;
            break;
        }
        b = next_block(r, &len);
    }
    r->comment_open = 0;
    r->len = r->held;
    for (size_t i = 0; i < len; i++) {
        if (b[i] != '#') {
            r->text[r->len++] = b[i];
            continue;
        }
        long end = comment_end(b, len, i);
        if (end < 0) {
            r->comment_open = 1;
            break;
        }
        i = (size_t)end;
    }
}

/* P1: every non-space byte of a block must be 0 or 1; those past the image are dropped. */
static align_status plain_bits(plain_reader *r, const char *name, align_error *err)
{
    while (r->done < r->total) {
        size_t len;
        const uint8_t *b = next_block(r, &len);
        if (!len) break;
        clean_block(r, b, len);
        for (size_t i = 0; i < r->len; i++) {
            uint8_t c = r->text[i];
            if (py_space(c)) continue;
            if (c != '0' && c != '1')
                return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt PBM (a byte 0x%02x among the pixels)", name, c);
            if (r->done < r->total) put_sample(r->rgb, r->done++, c == '0' ? 255 : 0, 1);
        }
    }
    return ALIGN_OK;
}

/* One P2 or P3 sample token; 0 when Pillow refuses it. */
static int plain_value(plain_reader *r, const uint8_t *t, size_t len)
{
    long long v;
    if (len > MAX_TOKEN || !py_int(t, len, 10, &v, NULL) || v > r->h->maxval || (v < 0 && r->h->wide)) return 0;
    put_sample(r->rgb, r->done++, scaled(v, r->h), r->h->channels);
    return 1;
}

/* The tokens of r->text; one it ends in, not followed by whitespace, is held for the next block
 * (and kept held after it, as Pillow keeps it). */
static int plain_tokens(plain_reader *r)
{
    size_t i = 0, end = r->len;
    if (r->len && !py_space(r->text[r->len - 1])) {
        while (end && !py_space(r->text[end - 1])) end--;
        if (r->len - end > MAX_TOKEN) return 0;
    }
    while (i < end && r->done < r->total) {
        while (i < end && py_space(r->text[i])) i++;
        size_t start = i;
        while (i < end && !py_space(r->text[i])) i++;
        if (i > start && !plain_value(r, r->text + start, i - start)) return 0;
    }
    if (end < r->len) {
        memmove(r->text, r->text + end, r->len - end);
        r->held = r->len - end;
    }
    return 1;
}

/* At the end of the file Pillow reads a held token again, and again, until the image is full. */
static int plain_held_repeats(plain_reader *r)
{
    if (!plain_value(r, r->text, r->held)) return 0;
    int c = r->h->channels;
    uint8_t v = r->rgb[c == 3 ? r->done - 1 : 3 * (r->done - 1)];
    while (r->done < r->total) put_sample(r->rgb, r->done++, v, c);
    return 1;
}

/* P2 and P3. */
static align_status plain_samples(plain_reader *r, const char *name, align_error *err)
{
    int ok = 1;
    while (ok && r->done < r->total) {
        size_t len;
        const uint8_t *b = next_block(r, &len);
        if (!len) {
            if (r->held) ok = plain_held_repeats(r);
            break;
        }
        clean_block(r, b, len);
        ok = plain_tokens(r);
    }
    if (!ok) return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt PNM (a sample token Pillow refuses)", name);
    return ALIGN_OK;
}

static align_status pnm_plain(const uint8_t *p, size_t n, const char *name, const pnm_header *h, uint8_t *rgb,
                              align_error *err)
{
    plain_reader r = {p, n, h->data, 0, malloc(PLAIN_BLOCK + MAX_TOKEN + 1), 0, 0, h, rgb, 0, 0};
    if (!r.text) return image_out_of_memory(name, (int)h->width, (int)h->height, err);
    r.total = (size_t)h->width * h->height * h->channels;
    align_status s = h->kind == '1' ? plain_bits(&r, name, err) : plain_samples(&r, name, err);
    if (!s && r.done < r.total)
        s = align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated PNM (%zu of %zu samples)", name, r.done, r.total);
    free(r.text);
    return s;
}

align_status netpbm_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                           align_error *err)
{
    pnm_header h = {0};
    if (!pnm_parse(p, n, &h)) return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt PNM header", name);
    if (h.width > 0x7fffffff || h.height > 0x7fffffff)
        return image_over_limit(name, (uint64_t)h.width, (uint64_t)h.height, max_pixels, err);
    align_status s = image_check_size(name, "PNM", (int)h.width, (int)h.height, max_pixels, err);
    if (s) return s;
    uint8_t *rgb = big_malloc((size_t)h.width * h.height * 3);
    if (!rgb) return image_out_of_memory(name, (int)h.width, (int)h.height, err);
    s = h.kind <= '3' ? pnm_plain(p, n, name, &h, rgb, err) : pnm_binary(p, n, name, &h, rgb, err);
    if (s) {
        free(rgb);
        return s;
    }
    out->rgb = rgb, out->width = (int)h.width, out->height = (int)h.height;
    return ALIGN_OK;
}
