/* The shared kernels against their definitions: exp_fast and erf_fast against the correctly
 * rounded e^x and erf, and the threaded matrix product, split by rows or by columns, against a double-precision sum
 * and, cut for any number of threads, against its own bits on one. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"
#include "ops.h"
#include "parallel.h"
#include "test.h"

/* Distance in units in the last place between two positive finite floats. */
static long ulps(float a, float b)
{
    int32_t x, y;
    memcpy(&x, &a, sizeof x);
    memcpy(&y, &b, sizeof y);
    return labs((long)x - (long)y);
}

TEST(exp_fast_is_within_one_ulp_over_its_range)
{
    if (test_skip_in_a_rerun()) return;
    float lo = exp_fast_limits[0], hi = exp_fast_limits[1];
    /* every 251st float of the range, both signs: every binade, about 18 million values */
    long worst = 0, checked = 0;
    float worst_x = 0;
    for (uint32_t u = 0; u < 0xff800000u; u += 251) {
        float x;
        memcpy(&x, &u, sizeof x);
        for (int sign = 0; sign < 2; sign++, x = -x) {
            if (!(x >= lo && x <= hi)) continue;
            long d = ulps(exp_fast(x), (float)exp((double)x));
            checked++;
            if (d > worst) worst = d, worst_x = x;
        }
    }
    CHECK(checked > 10000000);
    CHECK_MSG(worst <= 1, "exp_fast(%.9g) is %ld ulps from e^x", worst_x, worst);
    test_note("%ld values, at most %ld ulp from the correctly rounded e^x", checked, worst);
}

/* erf_fast, GELU's vectorised erf (the reference epilogue uses the C library's erff), against the
 * correctly rounded erf over every 97th float of [-4.5, 4.5]. */
TEST(erf_fast_is_within_three_ulps)
{
    if (test_skip_in_a_rerun()) return;
    long worst = 0, checked = 0;
    float worst_x = 0;
    for (uint32_t u = 0; u < 0x40900000u; u += 97) {
        float x;
        memcpy(&x, &u, sizeof x);
        for (int sign = 0; sign < 2; sign++, x = -x) {
            float got = erf_fast(x), want = (float)erf((double)x);
            long d = ulps(fabsf(got), fabsf(want)) + ((got < 0) != (want < 0) && got != want);
            checked++;
            if (d > worst) worst = d, worst_x = x;
        }
    }
    CHECK(erf_fast(0.0f) == 0.0f && erf_fast(10.0f) == 1.0f && erf_fast(-INFINITY) == -1.0f);
    CHECK_MSG(worst <= 3, "erf_fast(%.9g) is %ld ulps from erf", worst_x, worst);
    test_note("%ld values, at most %ld ulp from the correctly rounded erf", checked, worst);
}

TEST(exp_fast_saturates_past_its_range)
{
    /* below: about the smallest normal float, as at the lower limit; above: finite, as at the upper */
    float lo = exp_fast(exp_fast_limits[0]), hi = exp_fast(exp_fast_limits[1]);
    CHECK_MSG(lo > 0.9999f * FLT_MIN && lo < 1.0001f * FLT_MIN, "exp_fast(lower limit) = %g", lo);
    CHECK(isfinite(hi) && hi > 2e38f);
    const float below[] = {-88.0f, -1000.0f, -1e30f, -INFINITY}, above[] = {89.0f, 1000.0f, 1e30f, INFINITY};
    for (int i = 0; i < 4; i++) {
        CHECK_MSG(exp_fast(below[i]) == lo, "exp_fast(%g) = %g", below[i], exp_fast(below[i]));
        CHECK_MSG(exp_fast(above[i]) == hi, "exp_fast(%g) = %g", above[i], exp_fast(above[i]));
    }
    CHECK(isnan(exp_fast(NAN)));
    /* what the activations make of it: SiLU and the sigmoid reach their limits */
    CHECK(fabsf(act_one(ACT_SILU, -1000.0f)) < 1e-35f);
    CHECK(act_one(ACT_SILU, 1000.0f) == 1000.0f);
    CHECK(act_one(ACT_SIGMOID, -1000.0f) < 1e-37f);
    CHECK(act_one(ACT_SIGMOID, 1000.0f) == 1.0f);
}

/* c = silu((a w^T) * scale + bias) + residual in double, for rows x n from a rows x k, w n x k. */
static void reference_product(const float *a, const float *w, const float *scale, const float *bias,
                              const float *residual, int rows, int n, int k, double *c)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int i = 0; i < k; i++) s += (double)a[(size_t)r * k + i] * w[(size_t)j * k + i];
            s = s * scale[j] + bias[j];
            c[(size_t)r * n + j] = s / (1 + exp(-s)) + residual[(size_t)r * n + j];
        }
}

TEST(threaded_products_match_a_double_sum)
{
    /* rows on both sides of the split between rows and columns (256 a thread), and fewer columns
     * than threads can share */
    const int row_counts[] = {1, 14, 70, 513, 1100}, col_counts[] = {96, 24};
    const int k = 40;
    for (int threads = 1; threads <= 3; threads++) {
        thread_pool *pool = pool_create(threads);
        for (int ri = 0; ri < 5; ri++)
            for (int ci = 0; ci < 2; ci++) {
                int rows = row_counts[ri], n = col_counts[ci];
                float *a = malloc(sizeof(float) * rows * k), *w = malloc(sizeof(float) * n * k);
                float *scale = malloc(sizeof(float) * n), *bias = malloc(sizeof(float) * n);
                float *res = malloc(sizeof(float) * rows * n), *c = malloc(sizeof(float) * rows * n);
                double *want = malloc(sizeof(double) * rows * n);
                for (int i = 0; i < rows * k; i++) a[i] = (float)((i * 37 % 101) - 50) / 50;
                for (int i = 0; i < n * k; i++) w[i] = (float)((i * 53 % 89) - 44) / 88;
                for (int j = 0; j < n; j++) scale[j] = 0.5f + j % 7 * 0.25f, bias[j] = (j % 5 - 2) * 0.1f;
                for (int i = 0; i < rows * n; i++) res[i] = (float)(i % 13) / 13;
                reference_product(a, w, scale, bias, res, rows, n, k, want);
                gemm_epilogue_cut(epilogue_reference, pool, gemm_cut_plain(rows), rows, n, k, a, w, scale, bias,
                                  ACT_SILU, res, c);
                double worst = 0;
                for (int i = 0; i < rows * n; i++) worst = fmax(worst, fabs(c[i] - want[i]));
                /* terms up to 1 in magnitude, 40 of them: a few float roundings */
                CHECK_MSG(worst < 2e-5, "%d threads, %d x %d: off by %g", threads, rows, n, worst);
                free(a), free(w), free(scale), free(bias), free(res), free(c), free(want);
            }
        pool_free(pool);
    }
}

/* Products cut among any number of threads as gemm_cut_alone cuts them for the loaded OpenBLAS
 * kernel's row period give the bits of one thread (what lets one-CPU Slurm shards and a many-core
 * process write the same index). Rows on both sides of the split between rows and columns, and
 * counts that are no multiple of any period. */
TEST(product_cuts_change_no_bit_under_the_loaded_kernel)
{
    const int row_counts[] = {81, 130, 601, 1103}, col_counts[] = {232, 600};
    const int k = 72;
    int period = measured_blas_period();
    if (!period) return;
    openblas_set_num_threads(1); /* as a model load leaves it: align's threads cut, OpenBLAS's do not */
    for (int ri = 0; ri < 4; ri++)
        for (int ci = 0; ci < 2; ci++) {
            int rows = row_counts[ri], n = col_counts[ci];
            float *a = malloc(sizeof(float) * rows * k), *w = malloc(sizeof(float) * n * k);
            float *bias = calloc((size_t)n, sizeof(float));
            float *one = malloc(sizeof(float) * rows * n), *many = malloc(sizeof(float) * rows * n);
            for (int i = 0; i < rows * k; i++) a[i] = (float)((i * 37 % 101) - 50) / 47;
            for (int i = 0; i < n * k; i++) w[i] = (float)((i * 53 % 89) - 44) / 83;
            for (int threads = 1; threads <= 6; threads++) {
                thread_pool *pool = pool_create(threads);
                gemm_epilogue_cut(epilogue_reference, pool, gemm_cut_alone(rows, period), rows, n, k, a, w, NULL,
                                  bias, ACT_LINEAR, NULL, threads == 1 ? one : many);
                pool_free(pool);
                if (threads > 1)
                    CHECK_MSG(memcmp(one, many, sizeof(float) * rows * n) == 0, "%s kernel, %d threads, %d x %d",
                              align_blas_core(), threads, rows, n);
            }
            free(a), free(w), free(bias), free(one), free(many);
        }
}
