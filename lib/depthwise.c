/* depthwise.c: the tuned depthwise convolution, in register tiles. A kernel file: compiled once per
 * ISA level (kernels.h), each level with vectors as wide as its registers (vec.h), so that a tile's
 * accumulators, a weight and an input fit in the register file. A 16-float vector on AVX2 takes
 * two ymm registers, and a tile of 8 of them spills. */
#include "depthwise.h"
#include "kernels.h"
#include "vec.h"

#define DW_TILE 8

/* What a tap off the left or right edge reads: zeros add nothing to a window sum, so such a tap
 * needs no branch of its own and a tile at the edge keeps all its accumulators. */
static const float zeros[VW];

/* n (at most DW_TILE) output pixels from x0 on, channels [c0, c0 + VW): the n accumulators stay
 * in registers and each weight is loaded once for all of them, where a pixel at a time reloads the
 * weights and waits on one chain of k * k adds. The window sums and the row sum run in the same
 * order as the reference's; the n activations are computed side by side, not each behind the
 * previous one's addition into rowsum. */
static inline __attribute__((always_inline)) void tile(const depthwise_job *j, const float *in, float *out, int y,
                                                       int x0, int c0, int k, int stride, int n, float *rowsum)
{
    int c = j->c, iy0 = y * stride - j->pad_y, ix0 = x0 * stride - j->pad_x;
    int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = j->h - iy0 < k ? j->h - iy0 : k;
    vecf acc[DW_TILE];
    for (int p = 0; p < n; p++) acc[p] = *(const vecf *)(j->b + c0);
    for (int ky = ky0; ky < ky1; ky++) {
        const float *row = in + (size_t)(iy0 + ky) * j->w_ * c + c0, *wt = j->w + (size_t)ky * k * c + c0;
        /* unrolled whatever the function's size, so that the taps of neighbouring pixels share
         * their loads */
#pragma GCC unroll 5
        for (int kx = 0; kx < k; kx++) {
            vecf wv = *(const vecf *)(wt + (size_t)kx * c);
#pragma GCC unroll 8
            for (int p = 0; p < n; p++) {
                int ix = ix0 + p * stride + kx;
                const float *tap = (unsigned)ix < (unsigned)j->w_ ? row + (size_t)ix * c : zeros;
                acc[p] += *(const vecf *)tap * wv;
            }
        }
    }
    for (int p = 0; p < n; p++) acc[p] = silu_vec(acc[p]);
    float *o = out + ((size_t)y * j->ow + x0) * c + c0;
    vecf sum = *(const vecf *)(rowsum + c0);
    for (int p = 0; p < n; p++) {
        *(vecf *)(o + (size_t)p * c) = acc[p];
        sum += acc[p];
    }
    *(vecf *)(rowsum + c0) = sum;
}

/* Tiles of n pixels across every channel vector, n a constant in each case so that the tile
 * unrolls. */
static inline __attribute__((always_inline)) void tile_column(const depthwise_job *j, const float *in, float *out,
                                                              int y, int x, int k, int stride, int n, float *rowsum)
{
#define DW_CASE(width)                                                                                 \
    case width:                                                                                        \
        for (int c0 = 0; c0 < j->c; c0 += VW) tile(j, in, out, y, x, c0, k, stride, width, rowsum);  \
        break;
    switch (n) {
        DW_CASE(1) DW_CASE(2) DW_CASE(3) DW_CASE(4) DW_CASE(5) DW_CASE(6) DW_CASE(7) DW_CASE(8)
    }
#undef DW_CASE
}

/* A row's output pixels in as few tiles as fit, their widths as even as can be (9 pixels: 5 and
 * 4, not 8 and 1): a narrow tile's few accumulators each wait on the previous tap's addition. k
 * and stride are constants at each call, so the window's loops unroll. */
static inline __attribute__((always_inline)) void row_tiles(const depthwise_job *j, const float *in, float *out,
                                                            int y, int k, int stride, float *rowsum)
{
    int tiles = (j->ow + DW_TILE - 1) / DW_TILE, narrow = j->ow / tiles, wide = j->ow % tiles;
    for (int t = 0, x = 0; t < tiles; t++) {
        int n = narrow + (t < wide);
        tile_column(j, in, out, y, x, k, stride, n, rowsum);
        x += n;
    }
}

/* One output row: in tiles where they apply (SiLU, a 3x3 or 5x5 window, stride 1 or 2, whole
 * vectors of channels), by the reference otherwise. */
void KERNEL(depthwise_row)(const depthwise_job *j, const float *in, float *out, int y, float *rowsum)
{
    int k = j->k, s = j->stride;
    if (j->act != ACT_SILU || j->c % VW || (k != 3 && k != 5) || (s != 1 && s != 2))
        depthwise_row_reference(j, in, out, y, rowsum);
    else if (k == 3 && s == 1)
        row_tiles(j, in, out, y, 3, 1, rowsum);
    else if (k == 3)
        row_tiles(j, in, out, y, 3, 2, rowsum);
    else if (s == 1)
        row_tiles(j, in, out, y, 5, 1, rowsum);
    else
        row_tiles(j, in, out, y, 5, 2, rowsum);
}
