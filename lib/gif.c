/* gif.c: a GIF's first frame as Pillow 9.4's GifImagePlugin and its LZW decoder give it, then
 * convert("RGB"). What makes it Pillow's:
 *  - the canvas is the logical screen grown to hold the frame, filled with the frame's transparent
 *    index (0 when it has none); transparent pixels keep their palette colour;
 *  - the palette is the frame's own unless it is the grey ramp (entry i is i, i, i), then the
 *    global one unless that is, else the grey ramp; slots past a palette are the ramp's too;
 *  - the LZW table stops growing at 4096 codes and the stream goes on with it ("deferred clear",
 *    which stb_image refuses as "too many codes"); an end code before the frame is full only
 *    pauses Pillow, which reads the file in 64 KiB chunks: with no chunk left, it is truncated;
 *  - bytes that are no block between the header and the frame are skipped. */
#include "image_decode.h"

#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"

#define GIF_TABLE 4096
#define GIF_CHUNK 65536 /* ImageFile.MAXBLOCK: what Pillow feeds its decoder at a time */

typedef struct {
    int width, height;            /* the canvas */
    int x0, y0, fw, fh, interlace; /* the frame */
    int transparent;              /* -1: none */
    unsigned bits;                /* LZW minimum code size */
    size_t data;                  /* the frame's data sub-blocks */
    const uint8_t *global, *local; /* palettes (NULL: none), of global_len and local_len bytes */
    size_t global_len, local_len;
} gif_info;

static align_status gif_truncated(const char *name, align_error *err)
{
    return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated GIF (image data cut short)", name);
}

/* A sub-block as Pillow's data() reads it: its length byte, then up to that many bytes; NULL
 * (len 0) for a zero length or the end of the file. */
static const uint8_t *sub_block(const uint8_t *p, size_t n, size_t *pos, size_t *len)
{
    *len = 0;
    if (*pos >= n || !p[*pos]) {
        *pos += *pos < n;
        return NULL;
    }
    size_t want = p[(*pos)++];
    const uint8_t *b = p + *pos;
    *len = n - *pos < want ? n - *pos : want;
    *pos += *len;
    return b;
}

/* An extension after its introducer: the graphic control extension's transparent index is kept;
 * Pillow fails on a block it indexes past the end of. Returns 0 on such a block. */
static int gif_extension(const uint8_t *p, size_t n, size_t *pos, gif_info *g)
{
    if (*pos >= n) return 0;
    uint8_t label = p[(*pos)++];
    size_t len;
    const uint8_t *b = sub_block(p, n, pos, &len);
    if (label == 0xf9) {
        if (!b || len < 3 || ((b[0] & 1) && len < 4)) return 0;
        if (b[0] & 1) g->transparent = b[3];
    } else if (label == 0xff) {
        if (!b) return 0;
        if (len >= 11 && !memcmp(b, "NETSCAPE2.0", 11) && !sub_block(p, n, pos, &len)) return 0;
    } else if (label == 0xfe) {
        while (b) b = sub_block(p, n, pos, &len);
        return 1;
    }
    while (sub_block(p, n, pos, &len)) continue;
    return 1;
}

/* A palette of `bytes` bytes at *pos, as far as the file goes. */
static const uint8_t *gif_palette(const uint8_t *p, size_t n, size_t *pos, size_t bytes, size_t *len)
{
    const uint8_t *pal = p + *pos;
    *len = n - *pos < bytes ? n - *pos : bytes;
    *pos += *len;
    return pal;
}

/* The image descriptor after its ',': the frame, its palette, the LZW code size. */
static int gif_descriptor(const uint8_t *p, size_t n, size_t *pos, gif_info *g)
{
    if (n - *pos < 9) return 0;
    const uint8_t *d = p + *pos;
    *pos += 9;
    g->x0 = (int)le16(d), g->y0 = (int)le16(d + 2), g->fw = (int)le16(d + 4), g->fh = (int)le16(d + 6);
    g->interlace = d[8] >> 6 & 1;
    if (d[8] & 0x80) g->local = gif_palette(p, n, pos, (size_t)3 << ((d[8] & 7) + 1), &g->local_len);
    if (*pos >= n) return 0;
    g->bits = p[(*pos)++];
    g->data = *pos;
    return 1;
}

/* The blocks up to the first image descriptor, as Pillow's _seek(0) walks them. */
static align_status gif_walk(const uint8_t *p, size_t n, const char *name, gif_info *g, align_error *err)
{
    if (n < 13) return gif_truncated(name, err);
    g->width = (int)le16(p + 6), g->height = (int)le16(p + 8), g->transparent = -1;
    size_t pos = 13;
    if (p[10] & 0x80) g->global = gif_palette(p, n, &pos, (size_t)3 << ((p[10] & 7) + 1), &g->global_len);
    for (;;) {
        if (pos >= n || p[pos] == ';') return gif_truncated(name, err);
        uint8_t c = p[pos++];
        if (c == ',') break;
        if (c == '!' && !gif_extension(p, n, &pos, g))
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt GIF image (a bad extension block)", name);
    }
    if (!gif_descriptor(p, n, &pos, g)) return gif_truncated(name, err);
    if (g->x0 + g->fw > g->width) g->width = g->x0 + g->fw;
    if (g->y0 + g->fh > g->height) g->height = g->y0 + g->fh;
    if (g->x0 == 0 && g->fw == 0) g->fw = g->width, g->fh = g->height, g->y0 = 0; /* Pillow's "whole image" tile */
    if (g->fw <= 0 || g->fh <= 0)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt GIF image (an empty frame)", name);
    if (g->bits > 12)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt GIF image (LZW code size %u)", name, g->bits);
    return ALIGN_OK;
}

/* Pillow uses a palette only when it is not the grey ramp; a short one it cannot test fails. */
static int palette_needed(const uint8_t *pal, size_t len)
{
    for (size_t i = 0; i < len; i += 3)
        if (i + 2 >= len || pal[i] != i / 3 || pal[i + 1] != i / 3 || pal[i + 2] != i / 3) return 1;
    return 0;
}

/* Index to RGB: the frame's palette, else the global one, then the grey ramp. */
static void gif_colours(const gif_info *g, uint8_t colours[256][3])
{
    const uint8_t *pal = NULL;
    size_t len = 0;
    if (g->local && palette_needed(g->local, g->local_len)) pal = g->local, len = g->local_len;
    else if (g->global && palette_needed(g->global, g->global_len)) pal = g->global, len = g->global_len;
    for (size_t i = 0; i < 256; i++)
        for (int c = 0; c < 3; c++) colours[i][c] = i * 3 + 2 < len ? pal[i * 3 + c] : (uint8_t)i;
}

/* ---- the LZW decoder, as Pillow's ---- */

typedef struct {
    const uint8_t *p;
    size_t n, pos, limit;       /* the file; what Pillow has read of it */
    size_t block_left;          /* bytes of the current sub-block */
    uint32_t bitbuf;
    unsigned bitcount;
    uint8_t *px;                /* the frame's indices, fw x fh */
    int fw, fh, x, y, step, pass; /* pass 0: not interlaced or the last one */
} lzw_stream;

/* Reading past what Pillow has read means its next chunk; 0 when the file has none. */
static int more(lzw_stream *s)
{
    if (s->limit == s->n) return 0;
    s->limit = s->n - s->limit < GIF_CHUNK ? s->n : s->limit + GIF_CHUNK;
    return 1;
}

/* The next code of `size` bits; -1 at the end of the data. A sub-block is only started when all
 * of it has been read. */
static int next_code(lzw_stream *s, unsigned size)
{
    while (s->bitcount < size) {
        if (s->block_left) {
            s->bitbuf |= (uint32_t)s->p[s->pos++] << s->bitcount;
            s->bitcount += 8;
            s->block_left--;
            continue;
        }
        while (s->pos >= s->limit || s->p[s->pos] + 1u > s->limit - s->pos)
            if (!more(s)) return -1;
        s->block_left = s->p[s->pos++];
    }
    int code = (int)(s->bitbuf & ((1u << size) - 1));
    s->bitbuf >>= size;
    s->bitcount -= size;
    return code;
}

/* Puts one index; 1 once the frame is full (interlaced rows in passes from 0, 4, 2, 1). */
static int put_index(lzw_stream *s, uint8_t v)
{
    s->px[(size_t)s->y * s->fw + s->x] = v;
    if (++s->x < s->fw) return 0;
    s->x = 0;
    s->y += s->step;
    while (s->y >= s->fh) {
        static const int start[] = {4, 2, 1}, step[] = {8, 4, 2};
        if (s->pass == 0 || s->pass > 3) return 1;
        s->y = start[s->pass - 1], s->step = step[s->pass - 1];
        s->pass++;
    }
    return 0;
}

typedef struct {
    uint16_t link[GIF_TABLE];
    uint8_t data[GIF_TABLE], string[GIF_TABLE];
} lzw_table;

/* The string of code c (which is at most next) after the previous code's, put from its first
 * index on; *root gets its first index. Returns -1 for a string longer than Pillow's buffer,
 * else 1 once the frame is full. */
static int put_string(lzw_stream *s, lzw_table *t, int c, int last, uint8_t last_root, int clear, uint8_t *root)
{
    int len = 0;
    if (c == -1) { /* the code not yet in the table: the previous string and its first index */
        t->string[GIF_TABLE - ++len] = last_root;
        c = last;
    }
    while (c >= clear) {
        if (len >= GIF_TABLE || c >= GIF_TABLE) return -1;
        t->string[GIF_TABLE - ++len] = t->data[c];
        c = t->link[c];
    }
    *root = (uint8_t)c;
    if (put_index(s, *root)) return 1;
    for (int i = GIF_TABLE - len; i < GIF_TABLE; i++)
        if (put_index(s, t->string[i])) return 1;
    return 0;
}

/* Decodes until the frame is full. Codes grow from bits + 1 to 12 bits; the table is reset by a
 * clear code, an end code makes Pillow wait for its next chunk. */
static align_status lzw_decode(lzw_stream *s, unsigned bits, const char *name, align_error *err)
{
    lzw_table *t = malloc(sizeof *t);
    if (!t) return image_out_of_memory(name, s->fw, s->fh, err);
    int clear = 1 << bits, next = clear + 2, last = 0, fresh = 1, r = 0;
    unsigned size = bits + 1;
    uint8_t last_root = 0;
    while (!r) {
        int c = next_code(s, size);
        if (c < 0) break;
        if (c == clear) {
            next = clear + 2, size = bits + 1, fresh = 1;
            continue;
        }
        if (c == clear + 1) {
            if (!more(s)) break;
            continue;
        }
        if (fresh) {
            if (c > clear) r = -1;
            else last = c, last_root = (uint8_t)c, fresh = 0, r = put_index(s, (uint8_t)c);
            continue;
        }
        if (c > next) {
            r = -1;
            break;
        }
        uint8_t root = 0;
        if ((r = put_string(s, t, c == next ? -1 : c, last, last_root, clear, &root)) < 0) break;
        if (next < GIF_TABLE) {
            t->data[next] = root, t->link[next] = (uint16_t)last;
            if (next == (1 << size) - 1 && size < 12) size++;
            next++;
        }
        last = c, last_root = root;
    }
    free(t);
    if (r < 0) return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt GIF image (a bad LZW code)", name);
    return r ? ALIGN_OK : gif_truncated(name, err);
}

/* The canvas: the frame's indices where it is, the fill index elsewhere, through the palette. */
static void gif_paint(const gif_info *g, const uint8_t *px, uint8_t *rgb)
{
    uint8_t colours[256][3];
    gif_colours(g, colours);
    uint8_t fill = (uint8_t)(g->transparent >= 0 ? g->transparent : 0);
    for (int y = 0; y < g->height; y++)
        for (int x = 0; x < g->width; x++) {
            int inside = x >= g->x0 && x < g->x0 + g->fw && y >= g->y0 && y < g->y0 + g->fh;
            uint8_t v = inside ? px[(size_t)(y - g->y0) * g->fw + (x - g->x0)] : fill;
            memcpy(rgb + ((size_t)y * g->width + x) * 3, colours[v], 3);
        }
}

align_status gif_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    gif_info g = {0};
    align_status s = gif_walk(p, n, name, &g, err);
    if (!s) s = image_check_size(name, "GIF", g.width, g.height, max_pixels, err);
    if (s) return s;
    size_t limit = n - g.data < GIF_CHUNK ? n : g.data + GIF_CHUNK;
    lzw_stream z = {p, n, g.data, limit, 0, 0, 0, NULL, g.fw, g.fh, 0, 0, g.interlace ? 8 : 1, g.interlace};
    uint8_t *rgb = big_malloc((size_t)g.width * g.height * 3);
    z.px = big_malloc((size_t)g.fw * g.fh);
    if (!rgb || !z.px) s = image_out_of_memory(name, g.width, g.height, err);
    if (!s) s = lzw_decode(&z, g.bits, name, err);
    if (!s) gif_paint(&g, z.px, rgb);
    free(z.px);
    if (s) {
        free(rgb);
        return s;
    }
    out->rgb = rgb, out->width = g.width, out->height = g.height;
    return ALIGN_OK;
}
