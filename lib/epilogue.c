/* epilogue.c: what a matrix product does to each row as it is written, bias (and batch norm's
 * scale), activation and residual, in one pass over the row. A kernel file (kernels.h): compiled
 * once per ISA level; SiLU's exp_fast and GELU's erf_fast vectorise at each level's width.
 * epilogue_reference (epilogue_reference.c) is the same arithmetic one value at a time, with the C
 * library's erff for GELU. */
#include <math.h>

#include "kernels.h"
#include "ops.h"

void KERNEL(epilogue)(float *c, const float *scale, const float *bias, const float *residual, act_kind act,
                      size_t n)
{
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
