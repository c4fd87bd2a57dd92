/* gemm_dot.h: c[i][j] = sum over k of x[i][k] w[j][k], for i < m, j < n: a product against weights
 * in their checkpoint's layout ([n][k], a row per output), with no packing.
 *
 * gemm_dot_<level> (gemm_dot.c) is the tuned version, whose additions run in an order fixed by k
 * alone, so that a row's results do not depend on the rows, columns or threads it is computed
 * with; gemm_dot_reference (gemm_dot_reference.c) is the plain one tests/test_kernels.c checks it
 * against. Rows of x and w are k floats apart, rows of c ldc floats apart. It is fastest with x at
 * the same offset from a 64-byte boundary as w (and k a multiple of 16): it then reads both in
 * whole aligned vectors, with the same bits. */
#ifndef ALIGN_GEMM_DOT_H
#define ALIGN_GEMM_DOT_H

typedef void (*gemm_dot_fn)(const float *x, const float *w, float *c, long m, int n, int k, int ldc);

void gemm_dot_reference(const float *x, const float *w, float *c, long m, int n, int k, int ldc);

#endif
