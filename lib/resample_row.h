/* resample_row.h: the horizontal pass of PIL's resize, one row of 8-bit RGB at a time.
 *
 * resample_row_<level> (resample_row.c) is the tuned version, taps in vectors; resample_row_reference
 * (resample_row_reference.c) is Pillow's loop written plainly, what tests/test_kernels.c checks every
 * level against byte for byte. Both sum the same integer products, whose sum never leaves int32, so
 * the order they are added in cannot change a result. */
#ifndef ALIGN_RESAMPLE_ROW_H
#define ALIGN_RESAMPLE_ROW_H

#include <stddef.h>
#include <stdint.h>

/* 8-bit results, with two bits of headroom for filters whose weights go negative or above one. */
#define RESAMPLE_PRECISION_BITS (32 - 8 - 2)

/* Each output sample of one axis: the input range it reads and its fixed-point weights. A sample's
 * row of k holds count weights, then zeros to its end, at least RESAMPLE_KPAD of them, so that a
 * kernel may read whole vectors of weights past the last one. */
#define RESAMPLE_KPAD 8
typedef struct {
    int kstride;    /* weights per output sample (row stride of k) */
    int *first;     /* [out]: first input sample read */
    int *count;     /* [out]: input samples read, at most kstride - RESAMPLE_KPAD */
    int32_t *k;     /* [out][kstride]: weights in units of 2^-RESAMPLE_PRECISION_BITS */
} resample_weights;

/* dst[0, out_w) RGB = src's row (in_w RGB pixels) resampled with a's weights. */
typedef void (*resample_row_fn)(const uint8_t *src, int in_w, uint8_t *dst, int out_w, const resample_weights *a);

void resample_row_reference(const uint8_t *src, int in_w, uint8_t *dst, int out_w, const resample_weights *a);

/* sum[i] += src[i] * k for i < n: one tap of the horizontal pass for every row at once, when the
 * image arrives by columns (resample.c). */
typedef void (*resample_taps_fn)(int32_t *sum, const uint8_t *src, size_t n, int32_t k);

void resample_taps_reference(int32_t *sum, const uint8_t *src, size_t n, int32_t k);

/* A rounded fixed-point sum as an 8-bit value, as Pillow clips it. */
static inline uint8_t resample_clip8(int32_t ss)
{
    if (ss < 0) return 0;
    ss >>= RESAMPLE_PRECISION_BITS;
    return ss > 255 ? 255 : (uint8_t)ss;
}

#endif
