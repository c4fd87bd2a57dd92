/* channel_scale.c: the excitation's products by the gate, per channel. A kernel file (kernels.h):
 * compiled once per ISA level. Plain loops, one multiplication each, so they are their own
 * reference: tests/test_kernels.c checks each level against the baseline bit for bit. */
#include "kernels.h"

void KERNEL(scale_pixels)(float *x, const float *gate, long pixels, int c)
{
    for (long p = 0; p < pixels; p++)
        for (int ch = 0; ch < c; ch++) x[p * c + ch] *= gate[ch];
}

void KERNEL(scale_columns)(float *dst, const float *w, const float *gate, int rows, int c)
{
    for (int o = 0; o < rows; o++)
        for (int ch = 0; ch < c; ch++) dst[(size_t)o * c + ch] = w[(size_t)o * c + ch] * gate[ch];
}
