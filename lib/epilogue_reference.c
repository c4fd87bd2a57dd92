/* epilogue_reference.c: a product's epilogue written for clarity, one value at a time: the
 * reference the tuned epilogues (epilogue.c) are tested against. */
#include "ops.h"

void epilogue_reference(float *c, const float *scale, const float *bias, const float *residual, act_kind act,
                        size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = scale ? c[i] * scale[i] + bias[i] : c[i] + bias[i];
        x = act_one(act, x);
        c[i] = residual ? x + residual[i] : x;
    }
}
