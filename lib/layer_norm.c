/* layer_norm.c: LayerNorm of a sum of rows (layer_norm.h) in vectors. A kernel file (kernels.h):
 * compiled once per ISA level. The mean and the variance run in eight partial sums, a vector of
 * doubles at AVX-512, instead of one chain of n dependent additions. */
#include <math.h>

#include "kernels.h"
#include "layer_norm.h"

#define LANES 8

static inline double sum_at(const float *a, const float *b, const float *c, int i)
{
    double s = (double)a[i] + b[i];
    return c ? s + c[i] : s;
}

static double mean_of(const float *a, const float *b, const float *c, int n)
{
    double part[LANES] = {0}, sum = 0;
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) part[l] += sum_at(a, b, c, i + l);
    for (; i < n; i++) sum += sum_at(a, b, c, i);
    for (int l = 0; l < LANES; l++) sum += part[l];
    return sum / n;
}

static double variance_of(const float *a, const float *b, const float *c, int n, double mean)
{
    double part[LANES] = {0}, sum = 0;
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            double dev = sum_at(a, b, c, i + l) - mean;
            part[l] += dev * dev;
        }
    for (; i < n; i++) {
        double dev = sum_at(a, b, c, i) - mean;
        sum += dev * dev;
    }
    for (int l = 0; l < LANES; l++) sum += part[l];
    return sum / n;
}

static inline __attribute__((always_inline)) void normalise(float *out, const float *a, const float *b,
                                                            const float *c, int n, const float *weight,
                                                            const float *bias, double eps)
{
    double mean = mean_of(a, b, c, n), inv = 1.0 / sqrt(variance_of(a, b, c, n, mean) + eps);
    for (int i = 0; i < n; i++) out[i] = (float)((sum_at(a, b, c, i) - mean) * inv * weight[i] + bias[i]);
}

/* One copy with c and one without, so that no loop reads c under a mask of c != NULL: clang's had
 * vectorised sum_at into a masked load from c, which the hardware never faults on for a null c, but
 * qemu 7.2 does (make test EMULATE=..., CC=clang). */
void KERNEL(layer_norm)(float *out, const float *a, const float *b, const float *c, int n, const float *weight,
                        const float *bias, double eps)
{
    if (c)
        normalise(out, a, b, c, n, weight, bias, eps);
    else
        normalise(out, a, b, NULL, n, weight, bias, eps);
}
