/* layer_norm_reference.c: LayerNorm of a sum of rows (layer_norm.h) written for clarity, each sum
 * in order. */
#include "layer_norm.h"

#include <math.h>

static double sum_at(const float *a, const float *b, const float *c, int i)
{
    double s = (double)a[i] + b[i];
    return c ? s + c[i] : s;
}

void layer_norm_reference(float *out, const float *a, const float *b, const float *c, int n, const float *weight,
                          const float *bias, double eps)
{
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += sum_at(a, b, c, i);
    mean /= n;
    for (int i = 0; i < n; i++) {
        double dev = sum_at(a, b, c, i) - mean;
        var += dev * dev;
    }
    var /= n;
    double inv = 1.0 / sqrt(var + eps);
    for (int i = 0; i < n; i++) out[i] = (float)((sum_at(a, b, c, i) - mean) * inv * weight[i] + bias[i]);
}
