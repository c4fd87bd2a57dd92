/* attention_reference.c: one query row of attention written for clarity, each sum in order. */
#include "attention.h"

#include <math.h>

void attention_probs_reference(const float *q, const float *k, size_t stride, int len, int d, double *probs)
{
    double scale = sqrt((double)d), max = -INFINITY, sum = 0;
    for (int c = 0; c < len; c++) {
        double dot = 0;
        for (int e = 0; e < d; e++) dot += (double)q[e] * k[c * stride + e];
        probs[c] = dot / scale;
        if (probs[c] > max) max = probs[c];
    }
    for (int c = 0; c < len; c++) {
        probs[c] = exp(probs[c] - max);
        sum += probs[c];
    }
    for (int c = 0; c < len; c++) probs[c] /= sum;
}

void attention_context_reference(const double *probs, const float *v, size_t stride, int len, int d,
                                 float *out)
{
    for (int e = 0; e < d; e++) {
        double acc = 0;
        for (int c = 0; c < len; c++) acc += probs[c] * v[c * stride + e];
        out[e] = (float)acc;
    }
}
