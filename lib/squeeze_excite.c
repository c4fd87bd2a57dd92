/* squeeze_excite.c: the squeeze's gates and the excitation of the maps. */
#include "squeeze_excite.h"

#include <string.h>

#include <cblas.h>

#include "ops.h"

typedef struct {
    const se_weights *w;
    const double *sums;
    float *se;
    int hw, bands;
    act_kind act;
} gate_job;

static void gate_one(void *arg, int image)
{
    const gate_job *j = arg;
    int c = j->w->c, d = j->w->d;
    float *mean = j->se + (size_t)image * SE_FLOATS(c, d), *gate = mean + c, *mid = gate + c;
    const double *sums = j->sums + (size_t)image * j->bands * c;
    for (int ch = 0; ch < c; ch++) {
        double s = 0;
        for (int band = 0; band < j->bands; band++) s += sums[(size_t)band * c + ch];
        mean[ch] = (float)(s / j->hw);
    }
    memcpy(mid, j->w->reduce_b, sizeof(float) * (size_t)d);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, d, c, 1.0f, j->w->reduce_w, c, mean, 1, 1.0f, mid, 1);
    act_apply(j->act, mid, (size_t)d);
    memcpy(gate, j->w->expand_b, sizeof(float) * (size_t)c);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, c, d, 1.0f, j->w->expand_w, d, mid, 1, 1.0f, gate, 1);
    for (int ch = 0; ch < c; ch++) gate[ch] = 1.0f / (1.0f + exp_fast(-gate[ch]));
}

void se_gates(thread_pool *pool, const se_weights *w, const double *sums, int bands, int hw, act_kind act, int n,
              float *se)
{
    gate_job j = {w, sums, se, hw, bands, act};
    pool_run(pool, n, gate_one, &j);
}

const float *se_gate(const se_weights *w, const float *se, int i)
{
    return se + (size_t)i * SE_FLOATS(w->c, w->d) + w->c;
}

int se_scales_weights(int out_dim, int hw)
{
    return hw >= 4 * out_dim;
}

typedef struct {
    const kernel_table *kt;
    const se_weights *w;
    const float *se;
    float *x;
    long hw;
    int parts_per_image;
} scale_job;

static void scale_part(void *arg, int task)
{
    const scale_job *j = arg;
    int image = task / j->parts_per_image, c = j->w->c;
    long p0, p1;
    split_range(j->hw, j->parts_per_image, task % j->parts_per_image, &p0, &p1);
    j->kt->scale_pixels(j->x + ((size_t)image * j->hw + p0) * c, se_gate(j->w, j->se, image), p1 - p0, c);
}

void se_scale_maps(thread_pool *pool, const kernel_table *kt, const se_weights *w, const float *se, int n, long hw,
                   float *x)
{
    scale_job j = {kt, w, se, x, hw, pool_threads(pool) * 2};
    pool_run(pool, n * j.parts_per_image, scale_part, &j);
}
