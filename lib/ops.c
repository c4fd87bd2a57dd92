#include "ops.h"

#include <math.h>

float act_one(act_kind act, float x)
{
    switch (act) {
    case ACT_GELU: return 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
    case ACT_GELU_TANH: {
        const float k = 0.7978845608028654f; /* sqrt(2 / pi) */
        return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
    }
    case ACT_QUICK_GELU: return x / (1.0f + expf(-1.702f * x));
    case ACT_RELU: return x > 0 ? x : 0;
    case ACT_RELU6: return x < 0 ? 0 : x > 6 ? 6 : x;
    case ACT_SILU: return x / (1.0f + expf(-x));
    case ACT_TANH: return tanhf(x);
    case ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case ACT_LINEAR: return x;
    }
    return x;
}

void act_apply(act_kind act, float *x, size_t n)
{
    switch (act) {
    case ACT_SILU:
        for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
        break;
    case ACT_GELU:
        for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
        break;
    case ACT_LINEAR: break;
    default:
        for (size_t i = 0; i < n; i++) x[i] = act_one(act, x[i]);
    }
}

void layer_norm(float *x, int n, const float *weight, const float *bias, double eps)
{
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= n;
    double inv = 1.0 / sqrt(var + eps);
    for (int i = 0; i < n; i++) x[i] = (float)((x[i] - mean) * inv) * weight[i] + bias[i];
}

void layer_norm_d(const double *x, float *out, int n, const float *weight, const float *bias, double eps)
{
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= n;
    double inv = 1.0 / sqrt(var + eps);
    for (int i = 0; i < n; i++) out[i] = (float)((x[i] - mean) * inv * weight[i] + bias[i]);
}

void l2_normalize(float *x, int n)
{
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    if (ss == 0) return;
    float inv = (float)(1.0 / sqrt(ss));
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void softmax_inplace(float *x, int n)
{
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max) max = x[i];
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}
