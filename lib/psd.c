/* psd.c: Photoshop documents as Pillow 9.4's PsdImagePlugin opens them, then convert("RGB"). Only
 * the composite image is read, in the modes Pillow maps: bitmap, grey, palette, RGB (RGBA with
 * exactly four channels), CMYK, multichannel and duotone (their first channel) and LAB, 8 bits a
 * channel (bitmap 1), raw or PackBits. Pillow walks the image resources and parses the layer
 * records when it opens a file, and refuses the file when a step fails; those walks are repeated
 * here step for step, quirks included, since a file Pillow refuses is one Hugging Face cannot
 * load. Each read is one of Pillow's: a short one is a refusal where Pillow unpacks or insists on
 * the bytes, and is taken as it comes where Pillow takes it so. */
#include "image_decode.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"
#include "pil_convert.h"

typedef enum { PSD_BITMAP, PSD_GREY, PSD_PALETTE, PSD_RGB, PSD_CMYK, PSD_LAB } psd_kind;

/* Pillow's MODES table: (Photoshop colour mode, bits) to the mode it opens and the channels that
 * mode takes. */
static const struct {
    unsigned mode, bits;
    psd_kind kind;
    unsigned channels;
} psd_modes[] = {
    {0, 1, PSD_BITMAP, 1}, {0, 8, PSD_GREY, 1}, {1, 8, PSD_GREY, 1}, {2, 8, PSD_PALETTE, 1}, {3, 8, PSD_RGB, 3},
    {4, 8, PSD_CMYK, 4},   {7, 8, PSD_GREY, 1}, {8, 8, PSD_GREY, 1}, {9, 8, PSD_LAB, 3},
};

/* A position as Python's file objects keep one: a seek may leave it past the end, where a read
 * gets nothing. */
typedef struct {
    const uint8_t *p;
    size_t n;
    long long pos; /* >= 0 */
} cursor;

/* A plain read of up to k bytes: how many there were. */
static size_t take(cursor *c, size_t k)
{
    size_t left = c->pos < (long long)c->n ? c->n - (size_t)c->pos : 0;
    if (k > left) k = left;
    c->pos += (long long)k;
    return k;
}

/* A read whose k bytes are unpacked or insisted on; NULL (Pillow refuses) when fewer are left. */
static const uint8_t *need(cursor *c, size_t k)
{
    if (c->pos > (long long)c->n || c->n - (size_t)c->pos < k) return NULL;
    const uint8_t *at = c->p + c->pos;
    c->pos += (long long)k;
    return at;
}

static int read16(cursor *c, unsigned *v)
{
    const uint8_t *at = need(c, 2);
    if (at) *v = be16(at);
    return at != NULL;
}

static int read32(cursor *c, uint32_t *v)
{
    const uint8_t *at = need(c, 4);
    if (at) *v = be32(at);
    return at != NULL;
}

/* Where a channel's data starts once _maketile has read its header: the bytes after its
 * compression word for a raw channel, after the byte counts of every row of every channel for a
 * PackBits one, plus the lengths of the channels before. The cursor is left where Pillow leaves
 * the file. 0, or -1 where Pillow's arithmetic fails (a short read it unpacks, an offset below 0 or
 * past Python's ssize_t). */
static int maketile(cursor *c, long long xsize, long long ysize, unsigned channels, unsigned *compression,
                    long long *offsets)
{
    if (!read16(c, compression)) return -1;
    long long offset = c->pos, span;
    if (*compression == 0) {
        if (__builtin_mul_overflow(xsize, ysize, &span)) return -1;
        for (unsigned ch = 0; ch < channels; ch++) {
            if (offsets) offsets[ch] = offset;
            if (__builtin_add_overflow(offset, span, &offset)) return -1;
        }
    } else if (*compression == 1 && ysize < 0) {
        take(c, SIZE_MAX); /* read() of a negative count reads to the end */
        offset = c->pos;
    } else if (*compression == 1) {
        size_t want = (size_t)ysize * 2 * channels;
        const uint8_t *counts = c->p + (c->pos < (long long)c->n ? c->pos : (long long)c->n);
        if (take(c, want) < want) return -1;
        offset = c->pos;
        for (unsigned ch = 0; ch < channels; ch++) {
            if (offsets) offsets[ch] = offset;
            for (long long y = 0; y < ysize; y++, counts += 2) offset += be16(counts);
        }
    }
    if (offset < 0) return -1;
    c->pos = offset;
    if (offset & 1) take(c, 1);
    return 0;
}

/* The channels of a layer's mode, from its channel letters: Pillow sorts them and knows R (L), BGR
 * (RGB) and ABGR (RGBA); 0 for any other set. */
static int layer_mode_channels(char *letters, unsigned n)
{
    for (unsigned i = 1; i < n; i++)
        for (unsigned j = i; j > 0 && letters[j - 1] > letters[j]; j--) {
            char t = letters[j];
            letters[j] = letters[j - 1], letters[j - 1] = t;
        }
    letters[n] = 0;
    return !strcmp(letters, "R") ? 1 : !strcmp(letters, "BGR") ? 3 : !strcmp(letters, "ABGR") ? 4 : 0;
}

typedef struct {
    int channels; /* of its mode: 1, 3 or 4; 0 for a set Pillow knows no mode for */
    long long xsize, ysize;
} layer_record;

/* One layer record at the cursor into *l; 1 when Pillow keeps it, 0 when it skips it (more than
 * four channels: the rest of the record is then read as the next one), -1 where it raises. */
static int layer_record_read(cursor *c, layer_record *l)
{
    const uint8_t *box = need(c, 16);
    unsigned types, type;
    if (!box || !read16(c, &types)) return -1;
    if (types > 4) return 0;
    char letters[5];
    for (unsigned t = 0; t < types; t++) {
        if (!read16(c, &type) || (type != 65535 && type > 3) || !need(c, 4)) return -1; /* "RGBA"[type] */
        letters[t] = type == 65535 ? 'A' : "RGBA"[type];
    }
    uint32_t extra, len;
    if (!need(c, 12) || !read32(c, &extra)) return -1;
    if (extra) { /* the mask and blending ranges, skipped by their lengths (the first less 16), the name */
        long long data_end = c->pos + (long long)extra;
        if (!read32(c, &len)) return -1;
        if (len) c->pos = c->pos + (long long)len - 16 < 0 ? 0 : c->pos + (long long)len - 16;
        if (!read32(c, &len)) return -1;
        c->pos += len;
        const uint8_t *name_len = need(c, 1);
        if (!name_len || (*name_len && !need(c, *name_len))) return -1;
        c->pos = data_end;
    }
    l->channels = layer_mode_channels(letters, types);
    l->xsize = (long long)be32(box + 12) - be32(box + 4);
    l->ysize = (long long)be32(box + 8) - be32(box);
    return 1;
}

/* _layerinfo over the layer block (size bytes): the records, then a _maketile for each channel of
 * each layer kept. 0, -1 where Pillow raises, or -2 when out of memory. */
static int layer_records(const uint8_t *block, size_t size)
{
    cursor c = {block, size, 0};
    unsigned raw_count;
    if (!read16(&c, &raw_count)) return -1;
    unsigned count = (unsigned)abs((int16_t)raw_count);
    if (size < (size_t)count * 20) return -1;
    layer_record *layers = malloc(sizeof *layers * (count ? count : 1));
    if (!layers) return -2;
    unsigned kept = 0;
    int rc = 0;
    for (unsigned i = 0; rc >= 0 && i < count; i++)
        if ((rc = layer_record_read(&c, &layers[kept])) > 0) kept++;
    for (unsigned i = 0; rc >= 0 && i < kept; i++) {
        if (!layers[i].channels) rc = -1; /* iterating the mode None */
        for (int ch = 0; rc >= 0 && ch < layers[i].channels; ch++) {
            unsigned compression;
            rc = maketile(&c, layers[i].xsize, layers[i].ysize, 1, &compression, NULL);
        }
    }
    free(layers);
    return rc < 0 ? -1 : 0;
}

/* What the decode needs of the file: the composite's mode, size and where its channels are. */
typedef struct {
    psd_kind kind;
    uint32_t width, height;
    unsigned channels;      /* those Pillow reads: its mode's (RGBA: 4) */
    unsigned compression;   /* 0 raw, 1 PackBits */
    const uint8_t *palette; /* 768 bytes, the reds, greens then blues; NULL: PIL's grey ramp */
    long long offsets[4];   /* where each channel's data starts */
} psd_info;

static align_status truncated(const char *name, align_error *err)
{
    return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated PSD", name);
}

/* The header: mode, channels and size. */
static align_status psd_header(const uint8_t *p, size_t n, const char *name, psd_info *d, align_error *err)
{
    if (n < 26) return truncated(name, err);
    unsigned version = be16(p + 4), channels = be16(p + 12), bits = be16(p + 22), mode = be16(p + 24);
    if (version == 2)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: unsupported image format (PSB, the large-document PSD)", name);
    if (version != 1) return align_fail(err, ALIGN_ERR_FORMAT, "%s: not a PSD (version %u)", name, version);
    size_t m = 0, count = sizeof psd_modes / sizeof psd_modes[0];
    while (m < count && !(psd_modes[m].mode == mode && psd_modes[m].bits == bits)) m++;
    static const char *const mode_names[] = {"Bitmap", "Grayscale", "Indexed", "RGB", "CMYK", NULL, NULL,
                                             "Multichannel", "Duotone", "Lab"};
    const char *known = mode < 10 ? mode_names[mode] : NULL;
    char mode_name[32];
    if (known)
        snprintf(mode_name, sizeof mode_name, "%s", known);
    else
        snprintf(mode_name, sizeof mode_name, "colour mode %u", mode);
    if (m == count)
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: PSD in %s at %u bits a channel, which Pillow does not read (save it at 8 bits, or as "
                          "PNG or JPEG)", name, mode_name, bits);
    if (psd_modes[m].channels > channels)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: PSD with fewer channels than its colour mode needs", name);
    d->kind = psd_modes[m].kind;
    d->channels = d->kind == PSD_RGB && channels == 4 ? 4 : psd_modes[m].channels;
    d->width = be32(p + 18), d->height = be32(p + 14);
    return ALIGN_OK;
}

/* The sections Pillow walks before the image data: the colour mode data (a palette's), the image
 * resources record by record, the layer block (layer_records); then the composite's _maketile. */
static align_status psd_sections(const uint8_t *p, size_t n, const char *name, psd_info *d, align_error *err)
{
    cursor c = {p, n, 26};
    uint32_t size;
    if (!read32(&c, &size)) return truncated(name, err);
    const uint8_t *colours = c.p + c.pos;
    if (take(&c, size) == 768 && d->kind == PSD_PALETTE) d->palette = colours;
    if (!read32(&c, &size)) return truncated(name, err);
    for (long long end = c.pos + (long long)size; size && c.pos < end;) {
        uint32_t len;
        const uint8_t *name_len;
        take(&c, 4); /* the signature */
        if (!need(&c, 2) || !(name_len = need(&c, 1))) return truncated(name, err);
        if (!(take(&c, *name_len) & 1)) take(&c, 1);
        if (!read32(&c, &len)) return truncated(name, err);
        if (take(&c, len) & 1) take(&c, 1);
    }
    if (!read32(&c, &size)) return truncated(name, err);
    if (size) {
        long long end = c.pos + (long long)size;
        uint32_t layers;
        const uint8_t *block = NULL;
        if (!read32(&c, &layers) || (layers && !(block = need(&c, layers)))) return truncated(name, err);
        int rc = layers ? layer_records(block, layers) : 0;
        if (rc == -2) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", name);
        if (rc) return align_fail(err, ALIGN_ERR_FORMAT, "%s: PSD layer records that Pillow cannot read", name);
        c.pos = end;
    }
    if (maketile(&c, d->width, d->height, d->channels, &d->compression, d->offsets)) return truncated(name, err);
    if (d->compression > 1)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: PSD compressed with %s (method %u), which Pillow does not read",
                          name, d->compression == 2 ? "ZIP" : d->compression == 3 ? "ZIP with prediction" : "an unknown method",
                          d->compression);
    return ALIGN_OK;
}

/* Pillow's PackBits decoder over the bytes from at to the end of the file (it does not stop at a
 * row's byte count): h rows of row_bytes. A row ends only where a packet does; a packet that
 * would cross its end fills the row and the rest is dropped. 1, or 0 when the file ends first. */
static int packbits(const uint8_t *p, size_t n, size_t at, uint8_t *out, size_t row_bytes, uint32_t h)
{
    size_t x = 0;
    for (uint32_t y = 0; at < n;) {
        unsigned b = p[at];
        if (b == 0x80) { /* no operation */
            at++;
            continue;
        }
        size_t count = b & 0x80 ? 257 - b : b + 1, packet = b & 0x80 ? 2 : count + 1;
        if (n - at < packet) return 0;
        if (count > row_bytes - x) count = row_bytes - x;
        if (b & 0x80)
            memset(out + x, p[at + 1], count);
        else
            memcpy(out + x, p + at + 1, count);
        at += packet;
        if ((x += count) == row_bytes) {
            x = 0, out += row_bytes;
            if (++y == h) return 1;
        }
    }
    return 0;
}

/* Channel ch's rows (row_bytes each) in *rows: in the file when raw, else decoded into plane. */
static align_status psd_channel(const uint8_t *p, size_t n, const psd_info *d, unsigned ch, size_t row_bytes,
                                uint8_t *plane, const uint8_t **rows, const char *name, align_error *err)
{
    long long at = d->offsets[ch];
    if (d->compression == 0) {
        if (at > (long long)n || n - (size_t)at < row_bytes * d->height) return truncated(name, err);
        *rows = p + at;
        return ALIGN_OK;
    }
    *rows = plane;
    int whole = at < (long long)n && packbits(p, n, (size_t)at, plane, row_bytes, d->height);
    return whole ? ALIGN_OK : truncated(name, err);
}

/* The channels' rows (row_bytes each, bitmap rows packed 8 pixels a byte) to RGB as
 * convert("RGB") makes them; LAB through 4-byte pixels in rgb4 (w x h x 4 bytes). */
static int psd_to_rgb(const psd_info *d, const uint8_t *const c[4], size_t row_bytes, uint8_t *rgb, uint8_t *rgb4)
{
    size_t w = d->width, count = w * d->height;
    const uint8_t *c0 = c[0], *c1 = c[1], *c2 = c[2], *c3 = c[3];
    for (size_t y = 0, i = 0; y < d->height; y++)
        for (size_t x = 0; x < w; x++, i++) {
            uint8_t *o = rgb + 3 * i;
            switch (d->kind) {
            case PSD_BITMAP: /* PIL's "1" unpacking: a set bit is white */
                o[0] = o[1] = o[2] = c0[y * row_bytes + x / 8] >> (7 - x % 8) & 1 ? 255 : 0;
                break;
            case PSD_GREY:
                o[0] = o[1] = o[2] = c0[i];
                break;
            case PSD_PALETTE:
                for (int k = 0; k < 3; k++) o[k] = d->palette ? d->palette[256 * k + c0[i]] : c0[i];
                break;
            case PSD_RGB:
                o[0] = c0[i], o[1] = c1[i], o[2] = c2[i];
                break;
            case PSD_CMYK: /* stored inverted: 255 is no ink */
                o[0] = pil_cmyk_channel(255u - c0[i], 255u - c3[i]);
                o[1] = pil_cmyk_channel(255u - c1[i], 255u - c3[i]);
                o[2] = pil_cmyk_channel(255u - c2[i], 255u - c3[i]);
                break;
            case PSD_LAB: /* a and b stored with 128 for 0, as PIL keeps them */
                rgb4[4 * i] = c0[i], rgb4[4 * i + 1] = c1[i], rgb4[4 * i + 2] = c2[i], rgb4[4 * i + 3] = 0;
                break;
            }
        }
    if (d->kind != PSD_LAB) return 1;
    if (pil_lab_to_rgba(rgb4, 4 * w, (int)w, (int)d->height) < 0) return -1;
    for (size_t i = 0; i < count; i++) memcpy(rgb + 3 * i, rgb4 + 4 * i, 3);
    return 1;
}

align_status psd_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    psd_info d = {0};
    align_status s = psd_header(p, n, name, &d, err);
    if (s) return s;
    if (d.width > INT_MAX || d.height > INT_MAX) return image_over_limit(name, d.width, d.height, max_pixels, err);
    if ((s = image_check_size(name, "PSD", (int)d.width, (int)d.height, max_pixels, err))) return s;
    if ((s = psd_sections(p, n, name, &d, err))) return s;
    size_t row_bytes = d.kind == PSD_BITMAP ? (d.width + 7) / 8 : d.width;
    size_t pixels = (size_t)d.width * d.height;
    /* a raw channel is read where it lies in the file; PackBits ones are decoded into planes */
    uint8_t *planes = d.compression ? big_malloc(row_bytes * d.height * d.channels) : NULL;
    uint8_t *rgb = big_malloc(pixels * 3), *rgb4 = d.kind == PSD_LAB ? big_malloc(pixels * 4) : NULL;
    if ((d.compression && !planes) || !rgb || (d.kind == PSD_LAB && !rgb4))
        s = image_out_of_memory(name, (int)d.width, (int)d.height, err);
    const uint8_t *channels[4] = {NULL};
    for (unsigned ch = 0; !s && ch < d.channels; ch++)
        s = psd_channel(p, n, &d, ch, row_bytes, planes ? planes + ch * row_bytes * d.height : NULL, &channels[ch],
                        name, err);
    if (!s && psd_to_rgb(&d, channels, row_bytes, rgb, rgb4) < 0)
        s = image_out_of_memory(name, (int)d.width, (int)d.height, err);
    free(planes);
    free(rgb4);
    if (s) {
        free(rgb);
        return s;
    }
    out->rgb = rgb, out->width = (int)d.width, out->height = (int)d.height;
    return ALIGN_OK;
}
