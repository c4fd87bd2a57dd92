/* ops.h: the kernels both towers share: activations, normalisations, and matrix products spread
 * over the thread pool. */
#ifndef ALIGN_OPS_H
#define ALIGN_OPS_H

#include <stddef.h>

#include "config.h"
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
static inline float exp_fast(float x)
{
    x = x < exp_fast_limits[0] ? exp_fast_limits[0] : x;
    x = x > exp_fast_limits[1] ? exp_fast_limits[1] : x;
    /* x / ln 2 rounded to an integer by adding and removing 1.5 * 2^23 */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f; /* ln 2 in two parts */
    float p = 1.9875691500e-4f; /* Cephes' expf polynomial */
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union {
        int i;
        float f;
    } scale = {((int)n + 127) << 23};
    return p * scale.f;
}

float act_one(act_kind act, float x);
void act_apply(act_kind act, float *x, size_t n);
/* out = LayerNorm(x) of n doubles, rounded to float once at the end. */
void layer_norm_d(const double *x, float *out, int n, const float *weight, const float *bias, double eps);
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

/* c[rows, n] = a[rows, k] w[n, k]^T * scale + bias, then act, then + residual[rows, n] when not
 * NULL: a linear layer, or a 1x1 convolution with its batch norm as scale and bias (NULL scale: 1).
 * The rows (or, when there are few, the columns) are shared among the pool's threads, each running
 * a single-threaded sgemm on its part and the epilogue on its rows. gemm_bias_act runs
 * epilogue_reference. */
void gemm_epilogue(epilogue_fn epilogue, thread_pool *pool, long rows, int n, int k, const float *a, const float *w,
                   const float *scale, const float *bias, act_kind act, const float *residual, float *c);
void gemm_bias_act(thread_pool *pool, long rows, int n, int k, const float *a, const float *w, const float *scale,
                   const float *bias, act_kind act, const float *residual, float *c);

#endif
