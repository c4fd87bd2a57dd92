/* ops.h: element-wise kernels shared by both towers. */
#ifndef ALIGN_OPS_H
#define ALIGN_OPS_H

#include <stddef.h>

#include "config.h"

float act_one(act_kind act, float x);
void act_apply(act_kind act, float *x, size_t n);
/* y = LayerNorm(x) over n values with the given weight and bias, in place. */
void layer_norm(float *x, int n, const float *weight, const float *bias, double eps);
/* out = LayerNorm(x) of n doubles, rounded to float once at the end. */
void layer_norm_d(const double *x, float *out, int n, const float *weight, const float *bias, double eps);
/* Scales x to unit L2 norm (a zero vector stays zero, as Hugging Face's x / x.norm() would not:
 * it gives NaN, which no caller wants). */
void l2_normalize(float *x, int n);
void softmax_inplace(float *x, int n);

#endif
