/* attention.c: one query row of attention (attention.h) in vectors. A kernel file (kernels.h):
 * compiled once per ISA level. The dot products run in eight partial sums, a vector of doubles at
 * AVX-512 and two at AVX2, instead of one chain of d dependent additions; the context takes the
 * value rows a block of 16 columns at a time, each column summed in the reference's order. */
#include <math.h>

#include "attention.h"
#include "kernels.h"

#define DOT_LANES 8
#define CONTEXT_BLOCK 16

static double dot(const float *a, const float *b, int d)
{
    double part[DOT_LANES] = {0}, sum = 0;
    int e = 0;
    for (; e + DOT_LANES <= d; e += DOT_LANES)
        for (int i = 0; i < DOT_LANES; i++) part[i] += (double)a[e + i] * b[e + i];
    for (; e < d; e++) sum += (double)a[e] * b[e];
    for (int i = 0; i < DOT_LANES; i++) sum += part[i];
    return sum;
}

void KERNEL(attention_probs)(const float *q, const float *k, size_t stride, int len, int d, double *probs)
{
    double scale = sqrt((double)d), max = -INFINITY, sum = 0;
    for (int c = 0; c < len; c++) {
        probs[c] = dot(q, k + c * stride, d) / scale;
        max = probs[c] > max ? probs[c] : max;
    }
    for (int c = 0; c < len; c++) sum += probs[c] = exp(probs[c] - max);
    for (int c = 0; c < len; c++) probs[c] /= sum;
}

void KERNEL(attention_context)(const double *probs, const float *v, size_t stride, int len, int d, float *out)
{
    for (int e0 = 0; e0 < d; e0 += CONTEXT_BLOCK) {
        int width = d - e0 < CONTEXT_BLOCK ? d - e0 : CONTEXT_BLOCK;
        double acc[CONTEXT_BLOCK] = {0};
        if (width == CONTEXT_BLOCK)
            for (int c = 0; c < len; c++)
                for (int i = 0; i < CONTEXT_BLOCK; i++) acc[i] += probs[c] * v[c * stride + e0 + i];
        else
            for (int c = 0; c < len; c++)
                for (int i = 0; i < width; i++) acc[i] += probs[c] * v[c * stride + e0 + i];
        for (int i = 0; i < width; i++) out[e0 + i] = (float)acc[i];
    }
}
