/* squeeze_excite.c: the squeeze's gates and the excitation of the maps. */
#include "squeeze_excite.h"

#include <string.h>

#include <cblas.h>

#include "ops.h"

typedef struct {
    const se_weights *w;
    const double *sums;
    float *se;
    int hw, bands, parts; /* parts: how many threads share each image's two products */
    act_kind act;
} gate_job;

static void mean_one(void *arg, int image)
{
    const gate_job *j = arg;
    int c = j->w->c;
    float *mean = j->se + (size_t)image * SE_FLOATS(c, j->w->d);
    const double *sums = j->sums + (size_t)image * j->bands * c;
    for (int ch = 0; ch < c; ch++) {
        double s = 0;
        for (int band = 0; band < j->bands; band++) s += sums[(size_t)band * c + ch];
        mean[ch] = (float)(s / j->hw);
    }
}

/* mid[r0, r1) = act(reduce(mean)) rows of one image, its share of the reduction */
static void reduce_part(void *arg, int task)
{
    const gate_job *j = arg;
    int c = j->w->c, d = j->w->d, image = task / j->parts;
    float *mean = j->se + (size_t)image * SE_FLOATS(c, d), *mid = mean + 2 * c;
    long r0, r1;
    split_range(d, j->parts, task % j->parts, &r0, &r1);
    if (r1 <= r0) return;
    memcpy(mid + r0, j->w->reduce_b + r0, sizeof(float) * (size_t)(r1 - r0));
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)(r1 - r0), c, 1.0f, j->w->reduce_w + r0 * c, c, mean, 1, 1.0f,
                mid + r0, 1);
    act_apply(j->act, mid + r0, (size_t)(r1 - r0));
}

/* gate[r0, r1) = sigmoid(expand(mid)) rows of one image */
static void expand_part(void *arg, int task)
{
    const gate_job *j = arg;
    int c = j->w->c, d = j->w->d, image = task / j->parts;
    float *gate = j->se + (size_t)image * SE_FLOATS(c, d) + c, *mid = gate + c;
    long r0, r1;
    split_range(c, j->parts, task % j->parts, &r0, &r1);
    if (r1 <= r0) return;
    memcpy(gate + r0, j->w->expand_b + r0, sizeof(float) * (size_t)(r1 - r0));
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)(r1 - r0), d, 1.0f, j->w->expand_w + r0 * d, d, mid, 1, 1.0f,
                gate + r0, 1);
    for (long ch = r0; ch < r1; ch++) gate[ch] = 1.0f / (1.0f + exp_fast(-gate[ch]));
}

static void gate_one(void *arg, int image)
{
    mean_one(arg, image);
    reduce_part(arg, image);
    expand_part(arg, image);
}

void se_gates(thread_pool *pool, const se_weights *w, const double *sums, int bands, int hw, act_kind act, int n,
              float *se)
{
    /* With fewer images than threads, each image's products are shared out by rows: one thread
     * streaming all of the squeeze's weights (48 MB for align-base, from memory at batch 1) left
     * the other idle. */
    int threads = pool_threads(pool), parts = n < threads ? threads / n : 1;
    gate_job j = {w, sums, se, hw, bands, parts, act};
    if (parts == 1) {
        pool_run(pool, n, gate_one, &j);
        return;
    }
    pool_run(pool, n, mean_one, &j);
    pool_run(pool, n * parts, reduce_part, &j);
    pool_run(pool, n * parts, expand_part, &j);
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
