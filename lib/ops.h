/* ops.h: the kernels both towers share: activations, normalisations, and matrix products spread
 * over the thread pool. */
#ifndef ALIGN_OPS_H
#define ALIGN_OPS_H

#include <stddef.h>

#include "config.h"
#include "gemm_dot.h"
#include "parallel.h"

/* exp_fast's input range, [ln FLT_MIN, 127.5 ln 2): defined in ops.c, out of the compiler's sight,
 * because as visible constants GCC folds e^limit and splits every caller's division by 1 + e^x
 * into a constant case and a general one, two divisions per vector (SiLU 0.27 -> 0.48 ns per
 * float, measured). */
extern const float exp_fast_limits[2];

/* e^x to within 1 ulp where float has it (tests/test_ops.c), in a form GCC vectorises: no calls,
 * and every branch a select. Outside [ln FLT_MIN, 127.5 ln 2] it saturates at about the smallest
 * normal float or at about 2.4e38, which is all the activations need. Clamping x first keeps n and
 * r in range without clamping them, so the vector loop is about half as long as with clamps on
 * both. */
/* exp_fast's arithmetic on a clamped x, for a float or a vector of floats alike (depthwise.c runs
 * it on its tiles' vectors; zero is a 0 of x's type): t = x / ln 2 + 1.5 * 2^23, rounded to float,
 * holds n = x / ln 2 rounded to an integer in its low bits; r = x - n ln 2 (ln 2 in two parts), and
 * p = e^r by Cephes' expf polynomial; then e^x = p * 2^n, 2^n built from t's bits (EXP_FAST_SCALE). */
#define EXP_FAST_ROUND 12582912.0f /* 1.5 * 2^23: every sum with it in [2^23, 2^24), one ulp apart */
#define EXP_FAST_PARTS(x, zero, t, n, r, p)                 \
    do {                                                    \
        t = x * 1.44269504088896341f + EXP_FAST_ROUND;      \
        n = t - EXP_FAST_ROUND;                             \
        r = x - n * 0.693359375f + n * 2.12194440e-4f;      \
        p = zero + 1.9875691500e-4f;                        \
        p = p * r + 1.3981999507e-3f;                       \
        p = p * r + 8.3334519073e-3f;                       \
        p = p * r + 4.1665795894e-2f;                       \
        p = p * r + 1.6666665459e-1f;                       \
        p = p * r + 5.0000001201e-1f;                       \
        p = p * r * r + r + 1.0f;                           \
    } while (0)

/* The bits of 2^n from the bits tb of t (an unsigned integer or vector of them): tb minus the
 * bits of EXP_FAST_ROUND is n exactly. Not (int)n: converting a NaN to an integer is undefined,
 * and clang folded exp_fast(NAN) to a number that way; here a NaN's scale is some number, and
 * p, a NaN too, makes the result NaN. */
#define EXP_FAST_SCALE(tb) (((tb) - 0x4b400000u + 127u) << 23)

static inline float exp_fast(float x)
{
    x = x < exp_fast_limits[0] ? exp_fast_limits[0] : x;
    x = x > exp_fast_limits[1] ? exp_fast_limits[1] : x;
    float t, n, r, p;
    EXP_FAST_PARTS(x, 0.0f, t, n, r, p);
    union {
        float f;
        unsigned u;
    } scale = {t};
    scale.u = EXP_FAST_SCALE(scale.u);
    return p * scale.f;
}

/* erf(x) to within 2.5 ulp of float (tests/test_ops.c), in a form GCC vectorises like exp_fast: both
 * halves computed and one selected. Below 1, erf(x) / x as a polynomial in x^2; from 1, erfc(x) as
 * e^-x^2 times a polynomial in x mapped onto [-1, 1] over [1, 3.92]; past 3.92 erf rounds to 1.
 * The coefficients are Chebyshev interpolants of those two functions (degrees 6 and 10), fitted in
 * long double and rewritten in powers of the variable. */
static inline float erf_fast(float x)
{
    float a = x < 0 ? -x : x, t = a * a;
    float p = 7.875875063e-05f;
    p = p * t - 8.016864287e-04f;
    p = p * t + 5.189087423e-03f;
    p = p * t - 2.685421201e-02f;
    p = p * t + 1.128359472e-01f;
    p = p * t - 3.761262667e-01f;
    p = p * t + 1.128379166e+00f;
    float small = a * p;
    float m = a > 3.92f ? 3.92f : a < 1.0f ? 1.0f : a;
    float s = (2.0f * m - 4.92f) * (1.0f / 2.92f), e = exp_fast(-m * m);
    float q = 7.802067911e-05f;
    q = q * s - 2.097090403e-04f;
    q = q * s + 3.361408493e-04f;
    q = q * s - 8.343130588e-04f;
    q = q * s + 2.222521262e-03f;
    q = q * s - 5.249400777e-03f;
    q = q * s + 1.189763051e-02f;
    q = q * s - 2.616173669e-02f;
    q = q * s + 5.525618290e-02f;
    q = q * s - 1.115172003e-01f;
    q = q * s + 2.138206772e-01f;
    float large = a >= 3.92f ? 1.0f : 1.0f - e * q;
    float r = a < 1.0f ? small : large;
    return x < 0 ? -r : r;
}

float act_one(act_kind act, float x);
void act_apply(act_kind act, float *x, size_t n);
/* Scales x to unit L2 norm (a zero vector stays zero, as Hugging Face's x / x.norm() would not:
 * it gives NaN, which no caller wants). */
void l2_normalize(float *x, int n);
void softmax_inplace(float *x, int n);

/* c = act(c * scale + bias) + residual over n floats (NULL scale: 1, NULL residual: none): a
 * product's epilogue, one row. epilogue_reference (epilogue_reference.c) is the plain version; the
 * tuned ones are the kernel table's (epilogue.c). */
typedef void (*epilogue_fn)(float *c, const float *scale, const float *bias, const float *residual, act_kind act,
                            size_t n);
void epilogue_reference(float *c, const float *scale, const float *bias, const float *residual, act_kind act,
                        size_t n);

/* How a product is cut among the threads: by rows or by columns as suits a product of `rows`
 * rows (one image's, when images share the product, so that each is cut as it would be alone),
 * and row cuts on multiples of `align` rows (cpu.h, blas_row_period; with align > 1 always rows). */
typedef struct {
    long rows;
    int align;
} gemm_cut;
static inline gemm_cut gemm_cut_plain(long rows)
{
    return (gemm_cut){rows, 1};
}
/* One product alone, cut so that its bits do not depend on the thread count with OpenBLAS's
 * kernel of this row period (cpu.h, blas_row_period). */
static inline gemm_cut gemm_cut_alone(long rows, int row_period)
{
    return (gemm_cut){rows, row_period > 1 ? row_period : 1};
}

/* c[rows, n] = act(a[rows, k] w[n, k]^T + bias) by the kernel table's gemm_dot (gemm_dot.h): no
 * packing of w, and each row the same bits whatever rows share the product. The columns are
 * shared among the pool's threads. Faster than gemm_epilogue_cut up to GEMM_DOT_ROWS rows: the text
 * tower on labels of 10 tokens, Intel Xeon, since gemm_dot prefetches (gemm_dot.c), 120 rows 98-100
 * -> 83 ms, 160 rows 123 -> 108, 200 rows 150 -> 138, 240 rows 168-169 either way; at avx2 with
 * OpenBLAS's Haswell kernel 120 rows 136 -> 113, 200 rows 204 -> 192. (Before the prefetch, AMD
 * EPYC: 70 rows 58 -> 54 ms, 140 rows 74 -> 76.) */
#define GEMM_DOT_ROWS 192
void gemm_dot_epilogue(gemm_dot_fn dot, epilogue_fn epilogue, thread_pool *pool, long rows, int n, int k,
                       const float *a, const float *w, const float *bias, act_kind act, float *c);

/* c[rows, n] = a[rows, k] w[n, k]^T * scale + bias, then act, then + residual[rows, n] when not
 * NULL: a linear layer, or a 1x1 convolution with its batch norm as scale and bias (NULL scale: 1).
 * The rows or the columns, as `cut` says, are shared among the pool's threads, each running a
 * single-threaded sgemm on its part and the epilogue on its rows. */
void gemm_epilogue_cut(epilogue_fn epilogue, thread_pool *pool, gemm_cut cut, long rows, int n, int k,
                       const float *a, const float *w, const float *scale, const float *bias, act_kind act,
                       const float *residual, float *c);

#endif
