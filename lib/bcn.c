/* bcn.c: the blocks of BC1 to BC7 decoded as Pillow 9.4's BCn decoder (src/libImaging/BcnDecode.c)
 * decodes them, so that a DDS file gives PIL's very bytes (and BC1-BC3 as the BLP plugin's Python
 * decodes them, its 565 colours widened by a shift alone). What follows Pillow rather than the
 * specifications: BC1's interpolated colours are truncated thirds and halves of the 8-bit
 * endpoints; BC2 and BC3 colours always take the four-colour mode; the BC3/BC4/BC5 ramps are
 * truncated sevenths and fifths; a signed BC5 endpoint s becomes (s + 255) / 2, truncated, and is
 * interpolated unsigned, blue staying 0; BC7's and BC6H's index weights are rounded with
 * (x + 32) >> 6; a BC7 block with a first byte of 0 is opaque black and a BC6H block of a
 * reserved mode black; BC6H's half floats are clipped to 0..1 and scaled by 255 in float,
 * truncated. */
#include "bcn.h"

#include <math.h>
#include <string.h>

#include "byteorder.h"

size_t bcn_block_bytes(bcn_format f)
{
    return f == BCN_BC1 || f == BCN_BC4 ? 8 : 16;
}

/* ---- BC1-BC5 -------------------------------------------------------------------------------- */

/* A 565 colour widened to 8 bits a channel, its high bits repeated in the low ones unless
 * shift_only (Pillow's BLP plugin, in Python, only shifts). */
static void rgb565(unsigned v, int shift_only, uint8_t c[4])
{
    unsigned r = v >> 11, g = v >> 5 & 63, b = v & 31;
    c[0] = (uint8_t)(r << 3 | (shift_only ? 0 : r >> 2));
    c[1] = (uint8_t)(g << 2 | (shift_only ? 0 : g >> 4));
    c[2] = (uint8_t)(b << 3 | (shift_only ? 0 : b >> 2));
    c[3] = 255;
}

/* BC1's colour half: two 565 endpoints and 2-bit indices. */
static void bc1_colours(const uint8_t *b, int always_four, int shift_only, uint8_t px[16][4])
{
    unsigned c0 = le16(b), c1 = le16(b + 2);
    uint8_t pal[4][4];
    rgb565(c0, shift_only, pal[0]);
    rgb565(c1, shift_only, pal[1]);
    for (int ch = 0; ch < 3; ch++) {
        unsigned e0 = pal[0][ch], e1 = pal[1][ch];
        if (c0 > c1 || always_four) {
            pal[2][ch] = (uint8_t)((2 * e0 + e1) / 3);
            pal[3][ch] = (uint8_t)((e0 + 2 * e1) / 3);
        } else {
            pal[2][ch] = (uint8_t)((e0 + e1) / 2);
            pal[3][ch] = 0;
        }
    }
    pal[2][3] = 255;
    pal[3][3] = c0 > c1 || always_four ? 255 : 0;
    uint32_t idx = le32(b + 4);
    for (int i = 0; i < 16; i++) memcpy(px[i], pal[idx >> 2 * i & 3], 4);
}

/* BC3's alpha half, also BC4's and BC5's channels: two 8-bit endpoints and 3-bit indices into
 * their ramp, into channel ch. */
static void bc3_channel(const uint8_t *b, int is_signed, int ch, uint8_t px[16][4])
{
    unsigned a0 = b[0], a1 = b[1];
    if (is_signed) /* the signed byte s to (s + 255) / 2 */
        a0 = ((a0 ^ 0x80) + 127) / 2, a1 = ((a1 ^ 0x80) + 127) / 2;
    uint8_t ramp[8] = {(uint8_t)a0, (uint8_t)a1};
    if (a0 > a1) {
        for (unsigned k = 1; k <= 6; k++) ramp[k + 1] = (uint8_t)(((7 - k) * a0 + k * a1) / 7);
    } else {
        for (unsigned k = 1; k <= 4; k++) ramp[k + 1] = (uint8_t)(((5 - k) * a0 + k * a1) / 5);
        ramp[6] = 0;
        ramp[7] = 255;
    }
    uint64_t idx = le32(b + 2) | (uint64_t)le16(b + 6) << 32;
    for (int i = 0; i < 16; i++) px[i][ch] = ramp[idx >> 3 * i & 7];
}

static void bc2_alpha(const uint8_t *b, uint8_t px[16][4])
{
    for (int i = 0; i < 16; i++) px[i][3] = (uint8_t)((b[i / 2] >> 4 * (i & 1) & 15) * 17);
}

/* ---- BPTC: BC6H and BC7 --------------------------------------------------------------------- */

/* The block's bits, least significant first; reads past its 128 bits give 0. */
typedef struct {
    const uint8_t *b;
    unsigned pos;
} bit_reader;

static unsigned bits_at(const uint8_t *b, unsigned pos, unsigned count)
{
    unsigned v = 0;
    for (unsigned i = 0; i < count && pos + i < 128; i++) v |= (unsigned)(b[(pos + i) / 8] >> (pos + i) % 8 & 1) << i;
    return v;
}

static unsigned take(bit_reader *r, unsigned count)
{
    unsigned v = bits_at(r->b, r->pos, count);
    r->pos += count;
    return v;
}

/* The partitions of the BPTC specification: two subsets a bit a pixel, three subsets two bits a
 * pixel (pixel 0 least significant), and each partition's anchor pixels (the second subset's; the
 * third's for three), whose indices lack their top bit. */
static const uint16_t partitions2[64] = {
    0xcccc, 0x8888, 0xeeee, 0xecc8, 0xc880, 0xfeec, 0xfec8, 0xec80, 0xc800, 0xffec, 0xfe80, 0xe800, 0xffe8,
    0xff00, 0xfff0, 0xf000, 0xf710, 0x008e, 0x7100, 0x08ce, 0x008c, 0x7310, 0x3100, 0x8cce, 0x088c, 0x3110,
    0x6666, 0x366c, 0x17e8, 0x0ff0, 0x718e, 0x399c, 0xaaaa, 0xf0f0, 0x5a5a, 0x33cc, 0x3c3c, 0x55aa, 0x9696,
    0xa55a, 0x73ce, 0x13c8, 0x324c, 0x3bdc, 0x6996, 0xc33c, 0x9966, 0x0660, 0x0272, 0x04e4, 0x4e40, 0x2720,
    0xc936, 0x936c, 0x39c6, 0x639c, 0x9336, 0x9cc6, 0x817e, 0xe718, 0xccf0, 0x0fcc, 0x7744, 0xee22,
};
static const uint32_t partitions3[64] = {
    0xaa685050, 0x6a5a5040, 0x5a5a4200, 0x5450a0a8, 0xa5a50000, 0xa0a05050, 0x5555a0a0, 0x5a5a5050,
    0xaa550000, 0xaa555500, 0xaaaa5500, 0x90909090, 0x94949494, 0xa4a4a4a4, 0xa9a59450, 0x2a0a4250,
    0xa5945040, 0x0a425054, 0xa5a5a500, 0x55a0a0a0, 0xa8a85454, 0x6a6a4040, 0xa4a45000, 0x1a1a0500,
    0x0050a4a4, 0xaaa59090, 0x14696914, 0x69691400, 0xa08585a0, 0xaa821414, 0x50a4a450, 0x6a5a0200,
    0xa9a58000, 0x5090a0a8, 0xa8a09050, 0x24242424, 0x00aa5500, 0x24924924, 0x24499224, 0x50a50a50,
    0x500aa550, 0xaaaa4444, 0x66660000, 0xa5a0a5a0, 0x50a050a0, 0x69286928, 0x44aaaa44, 0x66666600,
    0xaa444444, 0x54a854a8, 0x95809580, 0x96969600, 0xa85454a8, 0x80959580, 0xaa141414, 0x96960000,
    0xaaaa1414, 0xa05050a0, 0xa0a5a5a0, 0x96000000, 0x40804080, 0xa9a8a9a8, 0xaaaaaa44, 0x2a4a5254,
};
static const uint8_t anchor2[64] = {
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 2,  8, 2,  2, 8,  8, 15, 2,  8,  2,  2,
    8,  8,  2,  2,  15, 15, 6,  8,  2,  8,  15, 15, 2,  8,  2,  2,  2,  15, 15, 6, 6,  2, 6,  8, 15, 15, 2,  2,
    15, 15, 15, 15, 15, 2,  2,  15,
};
static const uint8_t anchor3_second[64] = {
    3,  3,  15, 15, 8,  3,  15, 15, 8, 8, 6,  6,  6,  5,  3,  3,  3,  3,  8,  15, 3,  3,
    6,  10, 5,  8,  8,  6,  8,  5,  15, 15, 8, 15, 3,  5,  6,  10, 8,  15, 15, 3,  15, 5,
    15, 15, 15, 15, 3,  15, 5,  5,  5,  8,  5,  10, 5,  10, 8,  13, 15, 12, 3,  3,
};
static const uint8_t anchor3_third[64] = {
    15, 8,  8,  3,  15, 15, 3,  8,  15, 15, 15, 15, 15, 15, 15, 8,  15, 8,  15, 3,  15, 8,
    15, 8,  3,  15, 6,  10, 15, 15, 10, 8,  15, 3,  15, 10, 10, 8,  9,  10, 6,  15, 8,  15,
    3,  6,  6,  8,  15, 3,  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 3,  15, 15, 8,
};

static unsigned subset_of(unsigned subsets, unsigned partition, unsigned i)
{
    if (subsets == 2) return partitions2[partition] >> i & 1;
    if (subsets == 3) return partitions3[partition] >> 2 * i & 3;
    return 0;
}

/* An index's bits: one fewer at an anchor pixel. */
static unsigned index_bits(unsigned bits, unsigned subsets, unsigned partition, unsigned i)
{
    if (i == 0) return bits - 1;
    if (subsets == 2 && i == anchor2[partition]) return bits - 1;
    if (subsets == 3 && (i == anchor3_second[partition] || i == anchor3_third[partition])) return bits - 1;
    return bits;
}

static const uint8_t weights2[4] = {0, 21, 43, 64};
static const uint8_t weights3[8] = {0, 9, 18, 27, 37, 46, 55, 64};
static const uint8_t weights4[16] = {0, 4, 9, 13, 17, 21, 26, 30, 34, 38, 43, 47, 51, 55, 60, 64};

static const uint8_t *weights_for(unsigned bits)
{
    return bits == 2 ? weights2 : bits == 3 ? weights3 : weights4;
}

/* BC7's eight modes: subsets, bits of partition, rotation and index selector, bits of colour and
 * alpha endpoints, p-bits per endpoint or per subset, bits of the (first and second) indices. */
typedef struct {
    uint8_t subsets, partition_bits, rotation_bits, selector_bits, colour_bits, alpha_bits;
    uint8_t pbit_each, pbit_shared, index_bits, index2_bits;
} bc7_mode;

static const bc7_mode bc7_modes[8] = {
    {3, 4, 0, 0, 4, 0, 1, 0, 3, 0}, {2, 6, 0, 0, 6, 0, 0, 1, 3, 0}, {3, 6, 0, 0, 5, 0, 0, 0, 2, 0},
    {2, 6, 0, 0, 7, 0, 1, 0, 2, 0}, {1, 0, 2, 1, 5, 6, 0, 0, 2, 3}, {1, 0, 2, 0, 7, 8, 0, 0, 2, 2},
    {1, 0, 0, 0, 7, 7, 1, 0, 4, 0}, {2, 6, 0, 0, 5, 5, 1, 0, 2, 0},
};

/* A quantized value of `bits` bits to 8, its top bits repeated below. */
static uint8_t widen(unsigned v, unsigned bits)
{
    uint8_t top = (uint8_t)(v << (8 - bits));
    return (uint8_t)(top | top >> bits);
}

/* BC7's endpoints (channel-major in the block), their p-bits appended, widened to 8 bits. */
static void bc7_endpoints(bit_reader *r, const bc7_mode *m, uint8_t ep[6][4])
{
    unsigned count = 2u * (m->subsets & 3), cbits = m->colour_bits, abits = m->alpha_bits; /* subsets <= 3 */
    for (unsigned ch = 0; ch < 4; ch++)
        for (unsigned e = 0; e < count; e++)
            ep[e][ch] = (uint8_t)(ch < 3 ? take(r, cbits) : abits ? take(r, abits) : 255);
    if (m->pbit_each || m->pbit_shared) {
        cbits++;
        if (abits) abits++;
        unsigned p = 0;
        for (unsigned e = 0; e < count; e++) {
            if (m->pbit_each || e % 2 == 0) p = take(r, 1);
            for (unsigned ch = 0; ch < (abits ? 4u : 3u); ch++) ep[e][ch] = (uint8_t)(ep[e][ch] << 1 | p);
        }
    }
    for (unsigned e = 0; e < count; e++) {
        for (unsigned ch = 0; ch < 3; ch++) ep[e][ch] = widen(ep[e][ch], cbits);
        if (abits) ep[e][3] = widen(ep[e][3], abits);
    }
}

static uint8_t mix64(unsigned e0, unsigned e1, unsigned w)
{
    return (uint8_t)(((64 - w) * e0 + w * e1 + 32) >> 6);
}

static void bc7_block(const uint8_t *b, uint8_t px[16][4])
{
    if (b[0] == 0) {
        for (int i = 0; i < 16; i++) px[i][0] = px[i][1] = px[i][2] = 0, px[i][3] = 255;
        return;
    }
    unsigned mode = 0;
    while (!(b[0] >> mode & 1)) mode++;
    const bc7_mode *m = &bc7_modes[mode];
    bit_reader r = {b, mode + 1};
    unsigned partition = take(&r, m->partition_bits);
    unsigned rotation = take(&r, m->rotation_bits);
    unsigned selector = take(&r, m->selector_bits);
    uint8_t ep[6][4];
    bc7_endpoints(&r, m, ep);
    int two_indices = m->alpha_bits && m->index2_bits;
    const uint8_t *cw = weights_for(m->index_bits), *aw = weights_for(two_indices ? m->index2_bits : m->index_bits);
    unsigned ci = r.pos, ai = ci + 16u * m->index_bits - m->subsets;
    for (unsigned i = 0; i < 16; i++) {
        const uint8_t *e0 = ep[2 * subset_of(m->subsets, partition, i)], *e1 = e0 + 4;
        unsigned nbits = index_bits(m->index_bits, m->subsets, partition, i);
        unsigned c = bits_at(b, ci, nbits), wc = cw[c], wa = wc;
        ci += nbits;
        if (two_indices) {
            unsigned abits = i == 0 ? m->index2_bits - 1u : m->index2_bits, a = bits_at(b, ai, abits);
            ai += abits;
            wc = selector ? aw[a] : cw[c];
            wa = selector ? cw[c] : aw[a];
        }
        for (int ch = 0; ch < 3; ch++) px[i][ch] = mix64(e0[ch], e1[ch], wc);
        px[i][3] = mix64(e0[3], e1[3], wa);
        if (rotation) {
            uint8_t t = px[i][rotation - 1];
            px[i][rotation - 1] = px[i][3];
            px[i][3] = t;
        }
    }
}

/* BC6H's fourteen modes: subsets, whether endpoints after the first are deltas, partition bits,
 * bits of the first endpoint and of the others' red, green, blue. */
typedef struct {
    uint8_t subsets, deltas, partition_bits, base_bits, rbits, gbits, bbits;
} bc6_mode;

static const bc6_mode bc6_modes[14] = {
    {2, 1, 5, 10, 5, 5, 5}, {2, 1, 5, 7, 6, 6, 6},  {2, 1, 5, 11, 5, 4, 4},   {2, 1, 5, 11, 4, 5, 4},
    {2, 1, 5, 11, 4, 4, 5}, {2, 1, 5, 9, 5, 5, 5},  {2, 1, 5, 8, 6, 5, 5},    {2, 1, 5, 8, 5, 6, 5},
    {2, 1, 5, 8, 5, 5, 6},  {2, 0, 5, 6, 6, 6, 6},  {1, 0, 0, 10, 10, 10, 10}, {1, 1, 0, 11, 9, 9, 9},
    {1, 1, 0, 12, 8, 8, 8}, {1, 1, 0, 16, 4, 4, 4},
};

/* Where each endpoint bit goes, in the order the block holds them (the specification's bit
 * layouts): 16 x the field (r0 g0 b0 r1 g1 b1 r2 ... b3) + the bit within it. */
static const uint8_t bc6_layout[14][75] = {
    {116, 132, 180, 0,   1,   2,   3,   4,   5,   6,   7,   8,   9,   16,  17,  18,  19,  20,  21,
     22,  23,  24,  25,  32,  33,  34,  35,  36,  37,  38,  39,  40,  41,  48,  49,  50,  51,  52,
     164, 112, 113, 114, 115, 64,  65,  66,  67,  68,  176, 160, 161, 162, 163, 80,  81,  82,  83,
     84,  177, 128, 129, 130, 131, 96,  97,  98,  99,  100, 178, 144, 145, 146, 147, 148, 179},
    {117, 164, 165, 0,   1,   2,   3,   4,   5,   6,   176, 177, 132, 16,  17,  18,  19,  20,  21,
     22,  133, 178, 116, 32,  33,  34,  35,  36,  37,  38,  179, 181, 180, 48,  49,  50,  51,  52,
     53,  112, 113, 114, 115, 64,  65,  66,  67,  68,  69,  160, 161, 162, 163, 80,  81,  82,  83,
     84,  85,  128, 129, 130, 131, 96,  97,  98,  99,  100, 101, 144, 145, 146, 147, 148, 149},
    {0,   1,   2,   3,   4,   5,   6,   7,   8,   9,   16,  17,  18,  19,  20,  21,  22,  23,  24,
     25,  32,  33,  34,  35,  36,  37,  38,  39,  40,  41,  48,  49,  50,  51,  52,  10,  112, 113,
     114, 115, 64,  65,  66,  67,  26,  176, 160, 161, 162, 163, 80,  81,  82,  83,  42,  177, 128,
     129, 130, 131, 96,  97,  98,  99,  100, 178, 144, 145, 146, 147, 148, 179},
    {0,   1,   2,   3,   4,   5,   6,   7,   8,   9,   16,  17,  18,  19,  20,  21,  22,  23,  24,
     25,  32,  33,  34,  35,  36,  37,  38,  39,  40,  41,  48,  49,  50,  51,  10,  164, 112, 113,
     114, 115, 64,  65,  66,  67,  68,  26,  160, 161, 162, 163, 80,  81,  82,  83,  42,  177, 128,
     129, 130, 131, 96,  97,  98,  99,  176, 178, 144, 145, 146, 147, 116, 179},
    {0,   1,   2,   3,   4,   5,   6,   7,   8,   9,   16,  17,  18,  19,  20,  21,  22,  23,  24,
     25,  32,  33,  34,  35,  36,  37,  38,  39,  40,  41,  48,  49,  50,  51,  10,  132, 112, 113,
     114, 115, 64,  65,  66,  67,  26,  176, 160, 161, 162, 163, 80,  81,  82,  83,  84,  42,  128,
     129, 130, 131, 96,  97,  98,  99,  177, 178, 144, 145, 146, 147, 180, 179},
    {0,   1,   2,   3,   4,   5,   6,   7,   8,   132, 16,  17,  18,  19,  20,  21,  22,  23,  24,
     116, 32,  33,  34,  35,  36,  37,  38,  39,  40,  180, 48,  49,  50,  51,  52,  164, 112, 113,
     114, 115, 64,  65,  66,  67,  68,  176, 160, 161, 162, 163, 80,  81,  82,  83,  84,  177, 128,
     129, 130, 131, 96,  97,  98,  99,  100, 178, 144, 145, 146, 147, 148, 179},
    {0,   1,   2,   3,   4,   5,   6,   7,   164, 132, 16,  17,  18,  19,  20,  21,  22,  23,  178,
     116, 32,  33,  34,  35,  36,  37,  38,  39,  179, 180, 48,  49,  50,  51,  52,  53,  112, 113,
     114, 115, 64,  65,  66,  67,  68,  176, 160, 161, 162, 163, 80,  81,  82,  83,  84,  177, 128,
     129, 130, 131, 96,  97,  98,  99,  100, 101, 144, 145, 146, 147, 148, 149},
    {0,   1,   2,   3,   4,   5,   6,   7,   176, 132, 16,  17,  18,  19,  20,  21,  22,  23,  117,
     116, 32,  33,  34,  35,  36,  37,  38,  39,  165, 180, 48,  49,  50,  51,  52,  164, 112, 113,
     114, 115, 64,  65,  66,  67,  68,  69,  160, 161, 162, 163, 80,  81,  82,  83,  84,  177, 128,
     129, 130, 131, 96,  97,  98,  99,  100, 178, 144, 145, 146, 147, 148, 179},
    {0,   1,   2,   3,   4,   5,   6,   7,   177, 132, 16,  17,  18,  19,  20,  21,  22,  23,  133,
     116, 32,  33,  34,  35,  36,  37,  38,  39,  181, 180, 48,  49,  50,  51,  52,  164, 112, 113,
     114, 115, 64,  65,  66,  67,  68,  176, 160, 161, 162, 163, 80,  81,  82,  83,  84,  85,  128,
     129, 130, 131, 96,  97,  98,  99,  100, 178, 144, 145, 146, 147, 148, 179},
    {0,   1,   2,   3,   4,   5,   164, 176, 177, 132, 16,  17,  18,  19,  20,  21,  117, 133, 178,
     116, 32,  33,  34,  35,  36,  37,  165, 179, 181, 180, 48,  49,  50,  51,  52,  53,  112, 113,
     114, 115, 64,  65,  66,  67,  68,  69,  160, 161, 162, 163, 80,  81,  82,  83,  84,  85,  128,
     129, 130, 131, 96,  97,  98,  99,  100, 101, 144, 145, 146, 147, 148, 149},
    {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
     32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57,
     64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89},
    {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
     32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 48, 49, 50, 51, 52, 53, 54, 55, 56, 10,
     64, 65, 66, 67, 68, 69, 70, 71, 72, 26, 80, 81, 82, 83, 84, 85, 86, 87, 88, 42},
    {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
     32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 48, 49, 50, 51, 52, 53, 54, 55, 11, 10,
     64, 65, 66, 67, 68, 69, 70, 71, 27, 26, 80, 81, 82, 83, 84, 85, 86, 87, 43, 42},
    {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
     32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 48, 49, 50, 51, 15, 14, 13, 12, 11, 10,
     64, 65, 66, 67, 31, 30, 29, 28, 27, 26, 80, 81, 82, 83, 47, 46, 45, 44, 43, 42},
};

/* v's low `bits` bits as a signed number, kept in 16 bits as Pillow keeps it. */
static uint16_t sign_extend16(uint16_t v, unsigned bits)
{
    return v >> (bits - 1) & 1 ? (uint16_t)(v | 0xffffu << bits) : v;
}

/* An endpoint to Pillow's 16-bit scale (unsigned: 0..0xffff; signed: -0x7fff..0x7fff). */
static int bc6_unquantize(uint16_t v, unsigned bits, int is_signed)
{
    if (!is_signed) {
        if (bits >= 15 || v == 0) return v;
        if (v == (1u << bits) - 1) return 0xffff;
        return (int)(((uint32_t)v << 15) + 0x4000) >> (bits - 1);
    }
    int x = (int16_t)v;
    if (bits >= 16) return x;
    int negative = x < 0, mag = negative ? -x : x;
    if (mag >= (1 << (bits - 1)) - 1) mag = 0x7fff;
    else if (mag) mag = ((mag << 15) + 0x4000) >> (bits - 1);
    return negative ? -mag : mag;
}

/* A half float's magnitude bits (below the infinities: the ranges here stop at 0x7bff). */
static float half_magnitude(unsigned h)
{
    unsigned e = h >> 10, m = h & 1023;
    return e ? ldexpf((float)(m | 1024), (int)e - 25) : ldexpf((float)m, -24);
}

/* An interpolated value to a byte: scaled to a half float's bits as Pillow scales it (31/64
 * unsigned, 31/32 signed, truncated), then clipped to 0..1 and times 255, truncated. */
static uint8_t bc6_byte(int v, int is_signed)
{
    if (is_signed && v < 0) return 0; /* a negative half, or -0.0, which also gives 0 */
    float f = half_magnitude((unsigned)(is_signed ? v * 31 / 32 : v * 31 / 64));
    return f > 1.0f ? 255 : (uint8_t)(f * 255.0f);
}

static void bc6_block(const uint8_t *b, int is_signed, uint8_t px[16][4])
{
    unsigned mode = b[0] & 3, start = 2, fields = 75, ib = 3;
    if (mode == 2) mode = 2 + (b[0] >> 2 & 7), start = 5, fields = 72;
    else if (mode == 3) mode = 10 + (b[0] >> 2 & 7), start = 5, fields = 60, ib = 4;
    memset(px, 0, 16 * sizeof px[0]);
    if (mode >= 14) return;
    const bc6_mode *m = &bc6_modes[mode];
    uint16_t ep[12] = {0};
    for (unsigned i = 0; i < fields; i++)
        ep[bc6_layout[mode][i] >> 4] |= (uint16_t)(bits_at(b, start + i, 1) << (bc6_layout[mode][i] & 15));
    bit_reader r = {b, start + fields};
    unsigned partition = take(&r, m->partition_bits), count = m->subsets == 2 ? 12 : 6;
    const uint8_t delta_bits[3] = {m->rbits, m->gbits, m->bbits};
    if (is_signed)
        for (unsigned c = 0; c < 3; c++) ep[c] = sign_extend16(ep[c], m->base_bits);
    if (is_signed || m->deltas)
        for (unsigned i = 3; i < count; i++) ep[i] = sign_extend16(ep[i], delta_bits[i % 3]);
    if (m->deltas)
        for (unsigned i = 3; i < count; i++) ep[i] = (uint16_t)((ep[i] + ep[i % 3]) & ((1u << m->base_bits) - 1));
    int q[12];
    for (unsigned i = 0; i < count; i++) q[i] = bc6_unquantize(ep[i], m->base_bits, is_signed);
    const uint8_t *w = weights_for(ib);
    for (unsigned i = 0; i < 16; i++) {
        const int *e0 = q + 6 * subset_of(m->subsets, partition, i), *e1 = e0 + 3;
        unsigned k = take(&r, index_bits(ib, m->subsets, partition, i));
        for (int ch = 0; ch < 3; ch++) {
            /* Pillow shifts the (possibly negative) sum: a floor division by 64 */
            int sum = e0[ch] * (64 - w[k]) + e1[ch] * w[k];
            px[i][ch] = bc6_byte(sum >= 0 ? sum / 64 : -((-sum + 63) / 64), is_signed);
        }
        px[i][3] = 255;
    }
}

void bcn_decode_block(bcn_format f, const uint8_t *b, uint8_t px[16][4])
{
    memset(px, 0, 16 * sizeof px[0]);
    switch (f) {
    case BCN_BC1: bc1_colours(b, 0, 0, px); break;
    case BCN_BC2: bc1_colours(b + 8, 1, 0, px), bc2_alpha(b, px); break;
    case BCN_BC3: bc1_colours(b + 8, 1, 0, px), bc3_channel(b, 0, 3, px); break;
    case BCN_BC4:
        bc3_channel(b, 0, 0, px);
        for (int i = 0; i < 16; i++) px[i][1] = px[i][2] = px[i][0], px[i][3] = 255;
        break;
    case BCN_BC5:
    case BCN_BC5S:
        bc3_channel(b, f == BCN_BC5S, 0, px), bc3_channel(b + 8, f == BCN_BC5S, 1, px);
        for (int i = 0; i < 16; i++) px[i][3] = 255;
        break;
    case BCN_BC6H:
    case BCN_BC6HS: bc6_block(b, f == BCN_BC6HS, px); break;
    case BCN_BC7: bc7_block(b, px); break;
    }
}

void bcn_decode_blp_block(bcn_format f, const uint8_t *b, uint8_t px[16][4])
{
    if (f == BCN_BC1) bc1_colours(b, 0, 1, px);
    else if (f == BCN_BC2) bc1_colours(b + 8, 1, 1, px), bc2_alpha(b, px);
    else bc1_colours(b + 8, 1, 1, px), bc3_channel(b, 0, 3, px);
}
