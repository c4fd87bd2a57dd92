/* bcn.h: one 4x4 block of a block-compressed texture (BC1-BC7: S3TC/DXTn, RGTC, BPTC) to pixels, as
 * Pillow 9.4's BCn decoder gives them (bcn.c). */
#ifndef ALIGN_BCN_H
#define ALIGN_BCN_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    BCN_BC1,   /* DXT1: 565 colours, transparent black in its three-colour mode */
    BCN_BC2,   /* DXT3: BC1 colours and 4-bit alpha */
    BCN_BC3,   /* DXT5: BC1 colours and interpolated alpha */
    BCN_BC4,   /* one channel, interpolated: grey */
    BCN_BC5,   /* two channels, interpolated: red and green */
    BCN_BC5S,  /* the same, signed */
    BCN_BC6H,  /* HDR colour, half floats clipped to 0..1 */
    BCN_BC6HS, /* the same, signed */
    BCN_BC7,   /* colour and alpha */
} bcn_format;

/* Bytes a block takes: 8 or 16. */
size_t bcn_block_bytes(bcn_format f);

/* The block's 16 pixels, row by row, as RGBA: what PIL's convert("RGB") gives for each (a grey BC4
 * pixel in all three), then the alpha PIL keeps (255 where the format has none). */
void bcn_decode_block(bcn_format f, const uint8_t *block, uint8_t px[16][4]);

/* A BC1, BC2 or BC3 block as Pillow 9.4's BLP plugin decodes it (in Python, not by the BCn
 * decoder): as above, but the 565 endpoints widened by a shift alone, their low bits 0. */
void bcn_decode_blp_block(bcn_format f, const uint8_t *block, uint8_t px[16][4]);

#endif
