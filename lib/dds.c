/* dds.c: DirectDraw Surface files as Pillow 9.4's DdsImagePlugin reads them, then convert("RGB").
 *
 * Pillow reads the 124-byte header and then the pixels right after it, whatever the header's
 * pitch, depth, mipmap count or flags say: the top-level image only. Its pixel format flags pick
 * the kind: luminance (one byte of grey a pixel, two with alpha), else RGB (three bytes a pixel,
 * four with alpha, whatever the bit count, laid out as the bit masks say, which must name whole
 * bytes in an order Pillow has an unpacker for), else a block-compressed format by its FourCC
 * (DXT1, DXT3, DXT5, ATI1, ATI2, BC5S) or by the DXGI format of a DX10 header extension (BC5,
 * BC6H, BC7, and R8G8B8A8 uncompressed), whether or not the FourCC flag is set. Blocks are
 * decoded by bcn.c; those past the right and bottom edges are cut off. Alpha is dropped. */
#include "image_decode.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcn.h"
#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"

enum {
    DDS_HEADER_END = 128,   /* "DDS " and the 124-byte header */
    DDS_DX10_END = 148,     /* and the 20-byte DX10 extension */
    DDPF_ALPHAPIXELS = 0x1,
    DDPF_RGB = 0x40,
    DDPF_LUMINANCE = 0x20000,
};

typedef struct {
    uint32_t width, height;
    size_t data_at;
    int blocks;            /* block-compressed (format), else raw pixels */
    bcn_format format;
    unsigned bytes_pp;     /* raw: bytes a pixel */
    unsigned at[3];        /* raw: where red, green and blue lie in a pixel */
} dds_layout;

/* How a header parse ends: read, refused (Pillow raises an error Image.open lets through), or not a DDS
 * (Pillow's open raises struct.error or KeyError, so Image.open tries the other formats). */
typedef enum { DDS_READ, DDS_REFUSED, DDS_NOT_DDS } dds_verdict;

static const struct {
    const char *fourcc;
    bcn_format format;
} dds_fourccs[] = {
    {"DXT1", BCN_BC1}, {"DXT3", BCN_BC2}, {"DXT5", BCN_BC3},
    {"ATI1", BCN_BC4}, {"ATI2", BCN_BC5}, {"BC5S", BCN_BC5S},
};

static const struct {
    uint32_t dxgi;
    bcn_format format;
} dds_dxgi_formats[] = {
    {82, BCN_BC5},   {83, BCN_BC5},   {84, BCN_BC5S}, {95, BCN_BC6H},
    {96, BCN_BC6HS}, {97, BCN_BC7},   {98, BCN_BC7},  {99, BCN_BC7},
};

/* The RGB layouts Pillow unpacks: the channel (0 red, 1 green, 2 blue, 3 alpha) of each byte. */
static const uint8_t dds_rgb_orders[2][3] = {{0, 1, 2}, {2, 1, 0}};
static const uint8_t dds_rgba_orders[4][4] = {{0, 1, 2, 3}, {2, 1, 0, 3}, {3, 0, 1, 2}, {3, 2, 1, 0}};

/* Pillow maps each mask to the channel of the last of the four that has it; the masks 0xff,
 * 0xff00, 0xff0000 (and 0xff000000 with alpha) name the channel of bytes 0 to 3. */
static dds_verdict dds_rgb_layout(const uint8_t *h, dds_layout *l, char *why, size_t why_len)
{
    unsigned bytes = le32(h + 80) & DDPF_ALPHAPIXELS ? 4 : 3;
    uint8_t order[4];
    for (unsigned i = 0; i < bytes; i++) {
        int channel = -1;
        for (unsigned c = 0; c < 4; c++)
            if (le32(h + 92 + 4 * c) == 0xffu << 8 * i) channel = (int)c;
        if (channel < 0) { /* Pillow's KeyError, which its open takes for "not this format" */
            snprintf(why, why_len, "DDS bit masks without one for byte %u", i);
            return DDS_NOT_DDS;
        }
        order[i] = (uint8_t)channel;
    }
    l->blocks = 0;
    l->bytes_pp = bytes;
    for (unsigned k = 0; k < (bytes == 4 ? 4u : 2u); k++) {
        const uint8_t *o = bytes == 4 ? dds_rgba_orders[k] : dds_rgb_orders[k];
        if (memcmp(o, order, bytes)) continue;
        for (unsigned i = 0; i < bytes; i++)
            if (o[i] < 3) l->at[o[i]] = i;
        return DDS_READ;
    }
    snprintf(why, why_len, "DDS bit masks in a channel order Pillow does not unpack");
    return DDS_REFUSED;
}

static dds_verdict dds_fourcc_layout(const uint8_t *p, size_t n, dds_layout *l, char *why, size_t why_len)
{
    const uint8_t *fourcc = p + 84;
    l->blocks = 1;
    for (size_t i = 0; i < sizeof dds_fourccs / sizeof dds_fourccs[0]; i++)
        if (memcmp(fourcc, dds_fourccs[i].fourcc, 4) == 0) {
            l->format = dds_fourccs[i].format;
            return DDS_READ;
        }
    if (memcmp(fourcc, "DX10", 4)) {
        int text = 1;
        for (int i = 0; i < 4; i++) text &= fourcc[i] >= 0x20 && fourcc[i] < 0x7f;
        if (text) snprintf(why, why_len, "DDS pixel format \"%.4s\" that Pillow 9.4 does not read", (const char *)fourcc);
        else snprintf(why, why_len, "DDS pixel format 0x%08x that Pillow 9.4 does not read", (unsigned)le32(fourcc));
        return DDS_REFUSED;
    }
    if (n < DDS_HEADER_END + 4) {
        snprintf(why, why_len, "DDS DX10 header cut short");
        return DDS_NOT_DDS;
    }
    uint32_t dxgi = le32(p + DDS_HEADER_END);
    l->data_at = DDS_DX10_END;
    if (dxgi >= 27 && dxgi <= 29) { /* R8G8B8A8, typeless, unsigned or sRGB */
        l->blocks = 0, l->bytes_pp = 4, l->at[0] = 0, l->at[1] = 1, l->at[2] = 2;
        return DDS_READ;
    }
    for (size_t i = 0; i < sizeof dds_dxgi_formats / sizeof dds_dxgi_formats[0]; i++)
        if (dxgi == dds_dxgi_formats[i].dxgi) {
            l->format = dds_dxgi_formats[i].format;
            return DDS_READ;
        }
    snprintf(why, why_len, "DDS DXGI format %u that Pillow 9.4 does not read", (unsigned)dxgi);
    return DDS_REFUSED;
}

static dds_verdict dds_header(const uint8_t *p, size_t n, dds_layout *l, char *why, size_t why_len)
{
    if (n < 8) {
        snprintf(why, why_len, "DDS header cut short");
        return DDS_NOT_DDS;
    }
    if (le32(p + 4) != 124) {
        snprintf(why, why_len, "DDS header size %u, not 124", (unsigned)le32(p + 4));
        return DDS_REFUSED;
    }
    if (n < DDS_HEADER_END) {
        snprintf(why, why_len, "DDS header cut short");
        return DDS_REFUSED;
    }
    l->height = le32(p + 12);
    l->width = le32(p + 16);
    l->data_at = DDS_HEADER_END;
    uint32_t flags = le32(p + 80);
    if (flags & DDPF_LUMINANCE) {
        l->blocks = 0, l->bytes_pp = flags & DDPF_ALPHAPIXELS ? 2 : 1;
        l->at[0] = l->at[1] = l->at[2] = 0;
        return DDS_READ;
    }
    if (flags & DDPF_RGB) return dds_rgb_layout(p, l, why, why_len);
    return dds_fourcc_layout(p, n, l, why, why_len);
}

/* The pixel data's bytes: whole rows, or whole blocks (4 x 4 pixels, the last row and column of
 * blocks counted whole). Sides below 2^31 keep it below 2^64. */
static uint64_t dds_data_bytes(const dds_layout *l)
{
    uint64_t w = l->width, h = l->height;
    if (!l->blocks) return w * h * l->bytes_pp;
    return ((w + 3) / 4) * ((h + 3) / 4) * bcn_block_bytes(l->format);
}

static void dds_raw(const uint8_t *data, const dds_layout *l, uint8_t *rgb)
{
    size_t count = (size_t)l->width * l->height;
    for (size_t i = 0; i < count; i++, data += l->bytes_pp)
        for (int c = 0; c < 3; c++) rgb[3 * i + c] = data[l->at[c]];
}

static void dds_blocks(const uint8_t *data, const dds_layout *l, uint8_t *rgb)
{
    size_t w = l->width, h = l->height, step = bcn_block_bytes(l->format);
    uint8_t px[16][4];
    for (size_t by = 0; by < h; by += 4)
        for (size_t bx = 0; bx < w; bx += 4, data += step) {
            bcn_decode_block(l->format, data, px);
            for (size_t y = by; y < by + 4 && y < h; y++)
                for (size_t x = bx; x < bx + 4 && x < w; x++)
                    memcpy(rgb + 3 * (y * w + x), px[4 * (y - by) + x - bx], 3);
        }
}

align_status dds_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    dds_layout l = {0};
    char why[96];
    dds_verdict v = dds_header(p, n, &l, why, sizeof why);
    if (v == DDS_NOT_DDS) return tga_or_refuse(p, n, name, max_pixels, out, err, why);
    if (v == DDS_REFUSED) return align_fail(err, ALIGN_ERR_FORMAT, "%s: %s", name, why);
    /* Pillow takes an empty image for "not this format" and tries the others */
    if (!l.width || !l.height)
        return tga_or_refuse(p, n, name, max_pixels, out, err, "DDS image of no pixels");
    if (l.width > INT_MAX || l.height > INT_MAX || (uint64_t)l.width * l.height > max_pixels)
        return image_over_limit(name, l.width, l.height, max_pixels, err);
    uint64_t bytes = dds_data_bytes(&l);
    if (l.data_at > n || n - l.data_at < bytes)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated DDS (pixel data cut short)", name);
    uint8_t *rgb = big_malloc((size_t)l.width * l.height * 3);
    if (!rgb) return image_out_of_memory(name, (int)l.width, (int)l.height, err);
    if (l.blocks) dds_blocks(p + l.data_at, &l, rgb);
    else dds_raw(p + l.data_at, &l, rgb);
    out->rgb = rgb, out->width = (int)l.width, out->height = (int)l.height;
    return ALIGN_OK;
}
