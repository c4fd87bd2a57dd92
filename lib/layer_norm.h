/* layer_norm.h: LayerNorm of a sum of rows, the sum and the statistics in double and the result
 * rounded to float once: out = (s - mean(s)) / sqrt(var(s) + eps) * weight + bias, with
 * s = (double)a + b (+ c when c is not NULL) over n values. out may be a. BERT normalises its
 * embeddings (word + token type + position) and each residual sum this way.
 *
 * layer_norm_<level> (layer_norm.c) is the tuned version; layer_norm_reference
 * (layer_norm_reference.c) is the plain one tests/test_kernels.c checks it against. */
#ifndef ALIGN_LAYER_NORM_H
#define ALIGN_LAYER_NORM_H

void layer_norm_reference(float *out, const float *a, const float *b, const float *c, int n, const float *weight,
                          const float *bias, double eps);

#endif
