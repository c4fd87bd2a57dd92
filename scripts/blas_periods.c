/* blas-periods: the row period of the OpenBLAS kernel that loads (lib/cpu.c, blas_row_period).
 *
 *     for k in Prescott Core2 Nehalem Sandybridge Haswell Zen SkylakeX; do
 *         OPENBLAS_CORETYPE=$k build/blas-periods
 *     done
 *
 * A product C = A W^T (align's form: rows of pixels or tokens, W as the checkpoint stores it) cut
 * into row blocks, each computed alone, gives the bits of the whole product only if every cut
 * falls on a whole number of the kernel's row groups. Prints the kernel's name and the smallest
 * period P such that cuts at every multiple of P leave every bit as it was, on small products cut
 * at each such row and on the towers' large ones cut in 2 and 3 (as threads cut them); and
 * for period 1, whether column cuts leaving 32 or more columns a side do too (align cuts few-row
 * products by columns on such kernels, ops.c). "none" when no period up to 24 holds. Under qemu
 * (qemu-aarch64-static build/aarch64-linux-gnu/blas-periods) it measures the ARM kernels. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

typedef struct {
    int rows, n, k;
    float *a, *w, *whole, *cut;
} product;

static void multiply(const product *p, int r0, int r1, int c0, int c1, float *c)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, c1 - c0, p->k, 1.0f, p->a + (size_t)r0 * p->k,
                p->k, p->w + (size_t)c0 * p->k, p->k, 0.0f, c + (size_t)r0 * p->n + c0, p->n);
}

static float next_value(unsigned *seed)
{
    *seed = *seed * 1664525u + 1013904223u;
    return (float)((*seed >> 8) & 0xffff) / 65536.0f - 0.5f;
}

static int make(product *p, int rows, int n, int k, unsigned *seed)
{
    *p = (product){rows, n, k, malloc(sizeof(float) * rows * k), malloc(sizeof(float) * n * k),
                   malloc(sizeof(float) * rows * n), malloc(sizeof(float) * rows * n)};
    if (!p->a || !p->w || !p->whole || !p->cut) return 0;
    for (size_t i = 0; i < (size_t)rows * k; i++) p->a[i] = next_value(seed);
    for (size_t i = 0; i < (size_t)n * k; i++) p->w[i] = next_value(seed);
    multiply(p, 0, rows, 0, n, p->whole);
    return 1;
}

static void release(product *p)
{
    free(p->a), free(p->w), free(p->whole), free(p->cut);
}

static int same(const product *p)
{
    return memcmp(p->whole, p->cut, sizeof(float) * p->rows * p->n) == 0;
}

/* rows cut at each row in cuts[0..count), ascending */
static int rows_cut_keep_bits(product *p, const int *cuts, int count)
{
    for (int i = 0, r0 = 0; i <= count; i++) {
        int r1 = i < count ? cuts[i] : p->rows;
        multiply(p, r0, r1, 0, p->n, p->cut);
        r0 = r1;
    }
    return same(p);
}

/* A period of 1 is only ever relied on for blocks of BLAS_INDEPENDENT_ROWS or more (SkylakeX's
 * small-matrix path computes fewer rows another way); a longer one for blocks of any size. */
static int period_holds(product *small, int n_small, product *large, int n_large, int period)
{
    int least = period == 1 ? BLAS_INDEPENDENT_ROWS : period;
    for (int s = 0; s < n_small; s++)
        for (int b = least; b <= small[s].rows - (period == 1 ? least : 1); b += period)
            if (!rows_cut_keep_bits(&small[s], &b, 1)) return 0;
    for (int s = 0; s < n_large; s++)
        for (int parts = 2; parts <= 3; parts++) {
            int cuts[2], groups = large[s].rows / period;
            for (int i = 1; i < parts; i++) cuts[i - 1] = groups * i / parts * period;
            if (cuts[0] > 0 && !rows_cut_keep_bits(&large[s], cuts, parts - 1)) return 0;
        }
    return 1;
}

static int columns_cut_keep_bits(product *p)
{
    for (int b = 32; b + 32 <= p->n; b++) {
        multiply(p, 0, p->rows, 0, b, p->cut);
        multiply(p, 0, p->rows, b, p->n, p->cut);
        if (!same(p)) return 0;
    }
    return 1;
}

int main(void)
{
    openblas_set_num_threads(1); /* as align runs it */
    /* small: cut at every multiple of the period; large: the towers' products (one image, or ten
     * labels' tokens), cut as threads cut them */
    static const int small_shapes[][3] = {
        {150, 288, 48}, {150, 48, 288}, {150, 480, 80},  {150, 80, 480},  {150, 232, 72}, {150, 96, 40},
        {150, 600, 24}, {150, 64, 27},  {150, 27, 64},   {150, 7, 5},     {150, 100, 3},  {150, 192, 32},
        {150, 32, 192}, {150, 96, 24},  {150, 224, 136}, {150, 136, 224}, {150, 40, 600}, {81, 384, 96}};
    static const int large_shapes[][3] = {{21025, 32, 8},   {5184, 288, 48}, {1296, 80, 480}, {324, 1344, 224},
                                          {81, 3840, 640},  {81, 640, 3840}, {130, 768, 768}, {130, 3072, 768},
                                          {130, 768, 3072}};
    enum { N_SMALL = sizeof small_shapes / sizeof small_shapes[0], N_LARGE = sizeof large_shapes / sizeof large_shapes[0] };
    product small[N_SMALL], large[N_LARGE];
    unsigned seed = 1;
    int made = 1;
    for (int i = 0; i < N_SMALL; i++) made &= make(&small[i], small_shapes[i][0], small_shapes[i][1], small_shapes[i][2], &seed);
    for (int i = 0; i < N_LARGE; i++) made &= make(&large[i], large_shapes[i][0], large_shapes[i][1], large_shapes[i][2], &seed);
    if (!made) {
        fprintf(stderr, "blas-periods: out of memory for the test products\n");
        return 1;
    }
    static const int candidates[] = {1, 2, 3, 4, 6, 8, 12, 16, 24};
    int period = 0;
    for (int i = 0; i < (int)(sizeof candidates / sizeof candidates[0]) && !period; i++)
        if (period_holds(small, N_SMALL, large, N_LARGE, candidates[i])) period = candidates[i];
    printf("%s: ", openblas_get_corename());
    if (!period)
        printf("none\n");
    else if (period > 1)
        printf("period %d\n", period);
    else {
        int columns = 1;
        for (int i = 0; i < N_SMALL && columns; i++) columns = columns_cut_keep_bits(&small[i]);
        printf("period 1, column cuts %s\n", columns ? "keep the bits" : "change bits");
    }
    for (int i = 0; i < N_SMALL; i++) release(&small[i]);
    for (int i = 0; i < N_LARGE; i++) release(&large[i]);
    return 0;
}
