/* depthwise.c: the tuned depthwise convolution, in register tiles. A kernel file: compiled once per
 * ISA level (kernels.h), each level with vectors as wide as its registers, so that a tile's
 * accumulators, a weight and an input fit in the register file: 16 floats (zmm, 32 registers) for
 * AVX-512, 8 (ymm, 16 registers) for AVX2, 4 (xmm or NEON) otherwise. A 16-float vector on AVX2
 * takes two ymm registers, and a tile of 8 of them spills. */
#include "depthwise.h"
#include "kernels.h"
#include "ops.h"

#if defined(__AVX512F__)
#define VW 16
#elif defined(__AVX2__)
#define VW 8
#else
#define VW 4
#endif

/* VW channels in one vector; loads and stores through it need only float alignment. */
typedef float vecf __attribute__((vector_size(VW * sizeof(float)), aligned(4)));
typedef int veci __attribute__((vector_size(VW * sizeof(int)), aligned(4)));

/* x / (1 + exp_fast(-x)) on a vector, exp_fast's operations one for one (ops.h). Written out
 * because GCC left the loop over a tile's activations scalar for the one-pixel tiles at AVX2's
 * width, and those calls were 30% of the depthwise time there (perf, batch 8). */
static inline __attribute__((always_inline)) vecf silu_vec(vecf x)
{
    vecf lo = (vecf){0} + exp_fast_limits[0], hi = (vecf){0} + exp_fast_limits[1], m = -x;
    veci below = m < lo, above = m > hi;
    m = (vecf)((below & (veci)lo) | (~below & (veci)m));
    m = (vecf)((above & (veci)hi) | (~above & (veci)m));
    vecf n, r, p;
    EXP_FAST_PARTS(m, (vecf){0}, n, r, p);
    vecf scale = (vecf)((__builtin_convertvector(n, veci) + 127) << 23);
    return x / (1.0f + p * scale);
}

#define DW_TILE 8

/* n (at most DW_TILE) output pixels from x0 on, channels [c0, c0 + VW): the n accumulators stay
 * in registers and each weight is loaded once for all of them, where a pixel at a time reloads the
 * weights and waits on one chain of k * k adds. With clip, taps that fall off the left or right
 * edge are skipped, as the reference skips them. The window sums and the row sum run in the same
 * order as the reference's; the n activations are computed side by side, not each behind the
 * previous one's addition into rowsum. */
static inline __attribute__((always_inline)) void tile(const depthwise_job *j, const float *in, float *out, int y,
                                                       int x0, int c0, int k, int stride, int n, int clip,
                                                       float *rowsum)
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
                if (clip && (ix < 0 || ix >= j->w_)) continue;
                acc[p] += *(const vecf *)(row + (size_t)ix * c) * wv;
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

/* Output pixels [x0, x1) of a row in tiles of 8, 4 and 1 pixels, a vector of channels at a time;
 * with clip, one pixel at a time, for the pixels near the edges. k and stride are constants at
 * each call, so the window's loops unroll. */
static inline __attribute__((always_inline)) void tiles(const depthwise_job *j, const float *in, float *out, int y,
                                                        int x0, int x1, int k, int stride, int clip, float *rowsum)
{
    int x = x0;
    for (; !clip && x + 8 <= x1; x += 8)
        for (int c0 = 0; c0 < j->c; c0 += VW) tile(j, in, out, y, x, c0, k, stride, 8, 0, rowsum);
    for (; !clip && x + 4 <= x1; x += 4)
        for (int c0 = 0; c0 < j->c; c0 += VW) tile(j, in, out, y, x, c0, k, stride, 4, 0, rowsum);
    for (; x < x1; x++)
        for (int c0 = 0; c0 < j->c; c0 += VW) tile(j, in, out, y, x, c0, k, stride, 1, clip, rowsum);
}

/* A row's pixels in order: those whose windows cross the left edge, those inside, those crossing
 * the right edge. */
static inline __attribute__((always_inline)) void row_tiles(const depthwise_job *j, const float *in, float *out,
                                                            int y, int k, int stride, float *rowsum)
{
    /* the first and one past the last output pixel whose window lies inside the row (none when
     * the row is narrower than a window: C's division would round that negative count up to 0) */
    int last = j->w_ - k + j->pad_x;
    int xa = (j->pad_x + stride - 1) / stride, xb = last < 0 ? 0 : last / stride + 1;
    xa = xa < j->ow ? xa : j->ow;
    xb = xb < xa ? xa : xb < j->ow ? xb : j->ow;
    tiles(j, in, out, y, 0, xa, k, stride, 1, rowsum);
    tiles(j, in, out, y, xa, xb, k, stride, 0, rowsum);
    tiles(j, in, out, y, xb, j->ow, k, stride, 1, rowsum);
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
