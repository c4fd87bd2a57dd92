/* depthwise.c: the tuned depthwise convolution, in register tiles. A kernel file: compiled once per
 * ISA level (kernels.h), each level with vectors as wide as its registers (vec.h), so that a tile's
 * accumulators, a weight and an input fit in the register file. A 16-float vector on AVX2 takes
 * two ymm registers, and a tile of 8 of them spills. */
#include "depthwise.h"
#include "kernels.h"
#include "vec.h"

#define DW_TILE 8

/* A loop over a tile's pixels or a window's columns unrolled in full, whatever the function's
 * size: GCC's pragma takes a count, clang's "GCC unroll" left the loops rolled and the
 * accumulators on the stack, so it gets its own. */
#if defined(__clang__)
#define UNROLL_ALL _Pragma("clang loop unroll(full)")
#else
#define UNROLL_ALL _Pragma("GCC unroll 8")
#endif

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
    vecf acc[DW_TILE]; /* in registers only if every loop over it unrolls */
    UNROLL_ALL
    for (int p = 0; p < n; p++) acc[p] = *(const vecf *)(j->b + c0);
    for (int ky = ky0; ky < ky1; ky++) {
        const float *row = in + (size_t)(iy0 + ky) * j->w_ * c + c0, *wt = j->w + (size_t)ky * k * c + c0;
        /* unrolled, so that the taps of neighbouring pixels share their loads */
        UNROLL_ALL
        for (int kx = 0; kx < k; kx++) {
            vecf wv = *(const vecf *)(wt + (size_t)kx * c);
            UNROLL_ALL
            for (int p = 0; p < n; p++) {
                int ix = ix0 + p * stride + kx;
                const float *tap = (unsigned)ix < (unsigned)j->w_ ? row + (size_t)ix * c : zeros;
                acc[p] += *(const vecf *)tap * wv;
            }
        }
    }
    UNROLL_ALL
    for (int p = 0; p < n; p++) acc[p] = silu_vec(acc[p]);
    float *o = out + ((size_t)y * j->ow + x0) * c + c0;
    vecf sum = *(const vecf *)(rowsum + c0);
    UNROLL_ALL
    for (int p = 0; p < n; p++) {
        *(vecf *)(o + (size_t)p * c) = acc[p];
        sum += acc[p];
    }
    *(vecf *)(rowsum + c0) = sum;
}

/* A column of tiles of n pixels across every channel vector, one function for each window size,
 * stride and n, so that all three are constants in its body and every loop over the window and
 * the tile unrolls, whatever the compiler: GCC carried them through a switch over n, clang did not
 * (its tiles kept their accumulators on the stack, 2-3x slower). */
typedef void (*tile_column_fn)(const depthwise_job *j, const float *in, float *out, int y, int x, float *rowsum);

#define DW_COLUMN(k, s, n)                                                                              \
    static void column_##k##_##s##_##n(const depthwise_job *j, const float *in, float *out, int y, int x, \
                                       float *rowsum)                                                   \
    {                                                                                                   \
        for (int c0 = 0; c0 < j->c; c0 += VW) tile(j, in, out, y, x, c0, k, s, n, rowsum);             \
    }
#define DW_COLUMNS(k, s)                                                                                \
    DW_COLUMN(k, s, 1) DW_COLUMN(k, s, 2) DW_COLUMN(k, s, 3) DW_COLUMN(k, s, 4) DW_COLUMN(k, s, 5)    \
    DW_COLUMN(k, s, 6) DW_COLUMN(k, s, 7) DW_COLUMN(k, s, 8)                                            \
    static const tile_column_fn columns_##k##_##s[DW_TILE + 1] = {                                      \
        NULL, column_##k##_##s##_1, column_##k##_##s##_2, column_##k##_##s##_3, column_##k##_##s##_4,   \
        column_##k##_##s##_5, column_##k##_##s##_6, column_##k##_##s##_7, column_##k##_##s##_8};
DW_COLUMNS(3, 1)
DW_COLUMNS(3, 2)
DW_COLUMNS(5, 1)
DW_COLUMNS(5, 2)
#undef DW_COLUMNS
#undef DW_COLUMN

/* A row's output pixels in as few tiles as fit, their widths as even as can be (9 pixels: 5 and
 * 4, not 8 and 1): a narrow tile's few accumulators each wait on the previous tap's addition. */
static void row_tiles(const depthwise_job *j, const float *in, float *out, int y, const tile_column_fn *columns,
                      float *rowsum)
{
    int tiles = (j->ow + DW_TILE - 1) / DW_TILE, narrow = j->ow / tiles, wide = j->ow % tiles;
    for (int t = 0, x = 0; t < tiles; t++) {
        int n = narrow + (t < wide);
        columns[n](j, in, out, y, x, rowsum);
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
        row_tiles(j, in, out, y, columns_3_1, rowsum);
    else if (k == 3)
        row_tiles(j, in, out, y, columns_3_2, rowsum);
    else if (s == 1)
        row_tiles(j, in, out, y, columns_5_1, rowsum);
    else
        row_tiles(j, in, out, y, columns_5_2, rowsum);
}
