/* gemm_dot_reference.c: the product of gemm_dot.h one dot product at a time, in order: the
 * reference the tuned kernels (gemm_dot.c) are tested against. */
#include <stddef.h>

#include "gemm_dot.h"

void gemm_dot_reference(const float *x, const float *w, float *c, long m, int n, int k, int ldc)
{
    for (long i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0;
            for (int q = 0; q < k; q++) s += x[(size_t)i * k + q] * w[(size_t)j * k + q];
            c[(size_t)i * ldc + j] = s;
        }
}
