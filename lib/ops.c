#include "ops.h"

#include <math.h>
#include <string.h>

#include <cblas.h>

/* n = round(x / ln 2) is -126 at the lower limit and 127 at the upper: 2^n stays a normal float */
const float exp_fast_limits[2] = {-87.33654475f, 88.37626266f};

float act_one(act_kind act, float x)
{
    switch (act) {
    case ACT_GELU: return 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
    case ACT_GELU_TANH: {
        const float k = 0.7978845608028654f; /* sqrt(2 / pi) */
        return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
    }
    case ACT_QUICK_GELU: return x / (1.0f + exp_fast(-1.702f * x));
    case ACT_RELU: return x > 0 ? x : 0;
    case ACT_RELU6: return x < 0 ? 0 : x > 6 ? 6 : x;
    case ACT_SILU: return x / (1.0f + exp_fast(-x));
    case ACT_TANH: return tanhf(x);
    case ACT_SIGMOID: return 1.0f / (1.0f + exp_fast(-x));
    case ACT_LINEAR: return x;
    }
    return x;
}

void act_apply(act_kind act, float *x, size_t n)
{
    switch (act) {
    case ACT_SILU:
        for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + exp_fast(-x[i]));
        break;
    case ACT_LINEAR: break;
    default:
        for (size_t i = 0; i < n; i++) x[i] = act_one(act, x[i]);
    }
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

/* ---- matrix products -------------------------------------------------------------------------- */

typedef struct {
    long rows;
    int n, k, parts, by_rows, align;
    const float *a, *w, *scale, *bias, *residual;
    float *c;
    act_kind act;
    epilogue_fn epilogue;
} gemm_job;

static void gemm_part(void *arg, int part)
{
    const gemm_job *j = arg;
    long r0 = 0, r1 = j->rows, c0 = 0, c1 = j->n;
    if (j->by_rows) {
        /* in whole groups of align rows, the remainder with the last part */
        split_range(j->rows / j->align, j->parts, part, &r0, &r1);
        r0 *= j->align;
        r1 = part == j->parts - 1 ? j->rows : r1 * j->align;
    } else
        split_range(j->n, j->parts, part, &c0, &c1);
    long rows = r1 - r0;
    int cols = (int)(c1 - c0);
    if (rows <= 0 || cols <= 0) return;
    float *c = j->c + r0 * j->n + c0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, cols, j->k, 1.0f, j->a + r0 * j->k, j->k,
                j->w + c0 * j->k, j->k, 0.0f, c, j->n);
    for (long r = 0; r < rows; r++)
        j->epilogue(c + r * j->n, j->scale ? j->scale + c0 : NULL, j->bias + c0, j->residual ? j->residual + (r0 + r) * j->n + c0 : NULL, j->act,
                 (size_t)cols);
}

void gemm_epilogue_cut(epilogue_fn epilogue, thread_pool *pool, gemm_cut cut, long rows, int n, int k,
                       const float *a, const float *w, const float *scale, const float *bias, act_kind act,
                       const float *residual, float *c)
{
    int threads = pool_threads(pool);
    /* Rows when each thread gets a tall block. Below a few hundred rows a thread's share of the
     * weights costs as much to pack as to multiply, so columns: each thread packs only its half
     * (measured with 2 threads: 70 x 768 x 3072 at 94 -> 131 GFLOP/s, 14 rows 52 -> 88). But on
     * OpenBLAS's AVX2 kernels (align > 1) always rows, on multiples of align: there a column cut
     * changes the bits of the columns after it, and a result would depend on the thread count
     * (cpu.h). */
    int by_rows = cut.align > 1 || cut.rows >= 256L * threads || n < 32 * threads;
    gemm_job j = {rows, n, k, threads, by_rows, cut.align, a, w, scale, bias, residual, c, act, epilogue};
    pool_run(pool, threads, gemm_part, &j);
}

typedef struct {
    gemm_dot_fn dot;
    epilogue_fn epilogue;
    long rows;
    int n, k, parts;
    const float *a, *w, *bias;
    float *c;
    act_kind act;
} dot_job;

/* Whole groups of 24 columns to each part, a multiple of every level's tile width (6, 3 and 4),
 * so that no part but the last ends in a partial tile. */
static void dot_part(void *arg, int part)
{
    const dot_job *j = arg;
    long c0, c1;
    split_range((j->n + 23) / 24, j->parts, part, &c0, &c1);
    c0 *= 24;
    c1 = c1 * 24 < j->n ? c1 * 24 : j->n;
    if (c1 <= c0) return;
    float *c = j->c + c0;
    j->dot(j->a, j->w + c0 * j->k, c, j->rows, (int)(c1 - c0), j->k, j->n);
    for (long r = 0; r < j->rows; r++)
        j->epilogue(c + r * j->n, NULL, j->bias + c0, NULL, j->act, (size_t)(c1 - c0));
}

void gemm_dot_epilogue(gemm_dot_fn dot, epilogue_fn epilogue, thread_pool *pool, long rows, int n, int k,
                       const float *a, const float *w, const float *bias, act_kind act, float *c)
{
    dot_job j = {dot, epilogue, rows, n, k, pool_threads(pool), a, w, bias, c, act};
    pool_run(pool, j.parts, dot_part, &j);
}

