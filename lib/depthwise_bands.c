/* depthwise_bands.c: a depthwise convolution over the thread pool. The output rows are cut into
 * bands; each band keeps its own channel sums (for the squeeze) so that no two threads add into
 * the same place. */
#include <string.h>

#include "depthwise.h"

int depthwise_output_size(int in, int k, int stride, int adjust_padding, int *pad_before)
{
    int half = k / 2;
    if (stride == 1) {
        *pad_before = half;
        return in;
    }
    int before = adjust_padding ? half - 1 : half, after = half;
    *pad_before = before;
    return (in + before + after - k) / 2 + 1;
}

int depthwise_rows_per_band(int oh)
{
    return (oh + DEPTHWISE_BANDS - 1) / DEPTHWISE_BANDS;
}

typedef struct {
    const depthwise_job *j;
    depthwise_row_fn row;
} band_job;

static void run_band(void *arg, int task)
{
    const band_job *bj = arg;
    const depthwise_job *j = bj->j;
    int image = task / j->bands, band = task % j->bands;
    int y0 = band * j->rows_per_band, y1 = y0 + j->rows_per_band < j->oh ? y0 + j->rows_per_band : j->oh;
    /* a row's sum in float (a few hundred values at most), the band's in double: as exact as
     * PyTorch's own mean over the map */
    double *sums = j->sums + (size_t)task * j->c;
    float *rowsum = j->rowsums + (size_t)task * j->c;
    memset(sums, 0, sizeof(double) * (size_t)j->c);
    memset(rowsum, 0, sizeof(float) * (size_t)j->c);
    const float *in = j->in + (size_t)image * j->h * j->w_ * j->c;
    float *out = j->out + (size_t)image * j->oh * j->ow * j->c;
    for (int y = y0; y < y1; y++) {
        bj->row(j, in, out, y, rowsum);
        for (int ch = 0; ch < j->c; ch++) {
            sums[ch] += rowsum[ch];
            rowsum[ch] = 0;
        }
    }
}

void depthwise_run(thread_pool *pool, depthwise_row_fn row, const depthwise_job *j, int images)
{
    band_job bj = {j, row};
    pool_run(pool, images * j->bands, run_band, &bj);
}
