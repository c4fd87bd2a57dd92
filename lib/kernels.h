/* kernels.h: the hot loops at one ISA level, as a table of function pointers.
 *
 * Each kernel file (KERNEL_SRC in the Makefile) is compiled once per level with that level's
 * flags and -DKERNEL_LEVEL=<level>, which suffixes its functions (depthwise_row_avx2). The model
 * handle picks a table at load: the CPU's level, capped by ALIGN_ISA. On x86-64 the levels are
 * baseline (x86-64, SSE2), avx2 (AVX2 + FMA) and avx512 (AVX-512 F/DQ/BW/VL); elsewhere only
 * one, generic, compiled with the target's defaults. */
#ifndef ALIGN_KERNELS_H
#define ALIGN_KERNELS_H

#include <stddef.h>

#include "align.h"
#include "config.h"
#include "depthwise.h"
#include "gemm_dot.h"
#include "resample_row.h"

#define KERNEL_PASTE(f, level) f##_##level
#define KERNEL_SUFFIX(f, level) KERNEL_PASTE(f, level)
/* A kernel's name at the level being compiled: KERNEL(depthwise_row) is depthwise_row_avx2. */
#define KERNEL(f) KERNEL_SUFFIX(f, KERNEL_LEVEL)

typedef struct {
    const char *isa; /* "baseline", "avx2", "avx512" or "generic" */
    /* one output row of a depthwise convolution (depthwise.c) */
    void (*depthwise_row)(const depthwise_job *j, const float *in, float *out, int y, float *rowsum);
    /* c = x w^T, weights unpacked (gemm_dot.c) */
    void (*gemm_dot)(const float *x, const float *w, float *c, long m, int n, int k, int ldc);
    /* c = act(c * scale + bias) + residual over n floats: a product's epilogue (epilogue.c) */
    void (*epilogue)(float *c, const float *scale, const float *bias, const float *residual, act_kind act,
                     size_t n);
    /* x[p][ch] *= gate[ch] for pixels p (channel_scale.c) */
    void (*scale_pixels)(float *x, const float *gate, long pixels, int c);
    /* dst[o][ch] = w[o][ch] * gate[ch] (channel_scale.c) */
    void (*scale_columns)(float *dst, const float *w, const float *gate, int rows, int c);
    /* one query row's attention probabilities, and its context (attention.c) */
    void (*attention_probs)(const float *q, const float *k, size_t stride, int len, int d, double *probs);
    void (*attention_context)(const double *probs, const float *v, size_t stride, int len, int d, float *out);
    /* out = LayerNorm(a + b (+ c)) over n values, in double (layer_norm.c) */
    void (*layer_norm)(float *out, const float *a, const float *b, const float *c, int n, const float *weight,
                       const float *bias, double eps);
    /* one row of PIL's horizontal resize pass (resample_row.c) */
    resample_row_fn resample_row;
    /* one tap of it over a column of rows (resample_row.c) */
    resample_taps_fn resample_taps;
} kernel_table;

#define KERNEL_DECLARE(level)                                                                      \
    void depthwise_row_##level(const depthwise_job *j, const float *in, float *out, int y, float *rowsum); \
    void gemm_dot_##level(const float *x, const float *w, float *c, long m, int n, int k, int ldc);      \
    void epilogue_##level(float *c, const float *scale, const float *bias, const float *residual, act_kind act, \
                          size_t n);                                                               \
    void scale_pixels_##level(float *x, const float *gate, long pixels, int c);                    \
    void scale_columns_##level(float *dst, const float *w, const float *gate, int rows, int c);     \
    void attention_probs_##level(const float *q, const float *k, size_t stride, int len, int d, double *probs); \
    void attention_context_##level(const double *probs, const float *v, size_t stride, int len, int d,    \
                                   float *out);                                                    \
    void layer_norm_##level(float *out, const float *a, const float *b, const float *c, int n,     \
                            const float *weight, const float *bias, double eps);                   \
    void resample_row_##level(const uint8_t *src, int in_w, uint8_t *dst, int out_w, const resample_weights *a); \
    void resample_taps_##level(int32_t *sum, const uint8_t *src, size_t n, int32_t k);

/* a level's table, named by its level */
#define KERNEL_TABLE(level)                                                                        \
    {#level, depthwise_row_##level, gemm_dot_##level, epilogue_##level, scale_pixels_##level,          \
     scale_columns_##level, attention_probs_##level, attention_context_##level, layer_norm_##level,  \
     resample_row_##level, resample_taps_##level}

#if defined(__x86_64__)
KERNEL_DECLARE(baseline)
KERNEL_DECLARE(avx2)
KERNEL_DECLARE(avx512)
#else
KERNEL_DECLARE(generic)
#endif

/* The highest level this CPU runs (0: the lowest compiled in), and a level's table (clamped to the
 * levels compiled in). */
int kernel_cpu_level(void);
const kernel_table *kernel_table_at(int level);
/* The table for min(the CPU's level, cap), cap being a level's name ("baseline", "avx2",
 * "avx512"), or NULL or empty for no cap. An unknown name is an ALIGN_ERR_ARG naming `variable`. */
align_status kernel_table_choose(const char *cap, const char *variable, const kernel_table **table,
                                 align_error *err);

#endif
