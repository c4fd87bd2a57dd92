/* epilogue.c: what a matrix product does to each row as it is written, bias (and batch norm's
 * scale), activation and residual, in one pass over the row. A kernel file (kernels.h): compiled
 * once per ISA level; SiLU's exp_fast and GELU's erf_fast vectorise at each level's width.
 * epilogue_reference (epilogue_reference.c) is the same arithmetic one value at a time, with the C
 * library's erff for GELU. */
#include <math.h>

#include "kernels.h"
#include "ops.h"
#include "vec.h"

/* The SiLU epilogue in one pass of whole vectors: the activations of a vision block's expansion
 * are a third of the tower's SiLUs, and as separate loops (scale, activation, residual) each
 * vector went through memory three times (0.51 -> 0.47 ns a float on AVX2, 0.36 -> 0.32 on
 * AVX-512, one thread; the same at SSE2). */
static size_t silu_vectors(float *c, const float *scale, const float *bias, const float *residual, size_t n)
{
    size_t i = 0;
    for (; i + VW <= n; i += VW) {
        vecf x = *(const vecf *)(c + i), b = *(const vecf *)(bias + i);
        x = silu_vec(scale ? x * *(const vecf *)(scale + i) + b : x + b);
        if (residual) x += *(const vecf *)(residual + i);
        *(vecf *)(c + i) = x;
    }
    return i;
}

void KERNEL(epilogue)(float *c, const float *scale, const float *bias, const float *residual, act_kind act,
                      size_t n)
{
    if (act == ACT_SILU) {
        size_t done = silu_vectors(c, scale, bias, residual, n);
        c += done, n -= done, bias += done;
        if (scale) scale += done;
        if (residual) residual += done;
    }
    if (scale)
        for (size_t i = 0; i < n; i++) c[i] = c[i] * scale[i] + bias[i];
    else
        for (size_t i = 0; i < n; i++) c[i] += bias[i];
    if (act == ACT_SILU)
        for (size_t i = 0; i < n; i++) c[i] = c[i] / (1.0f + exp_fast(-c[i]));
    else if (act == ACT_GELU)
        for (size_t i = 0; i < n; i++) c[i] = 0.5f * c[i] * (1.0f + erf_fast(c[i] * (float)M_SQRT1_2));
    else
        act_apply(act, c, n);
    if (residual)
        for (size_t i = 0; i < n; i++) c[i] += residual[i];
}
