#include "efficientnet.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "error.h"
#include "ops.h"

#define VISION "vision_model"

/* ---- weights ---------------------------------------------------------------------------------- */

static void bn_specs(spec_list *l, int64_t c, const char *prefix, int block)
{
    static const char *const parts[] = {"weight", "bias", "running_mean", "running_var"};
    char name[128];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, prefix, block);
        spec_add(l, 0, 1, c, 0, 0, 0, "%s.%s", name, parts[i]);
    }
    snprintf(name, sizeof name, prefix, block);
    spec_add(l, SPEC_OPTIONAL | SPEC_I64, 0, 0, 0, 0, 0, "%s.num_batches_tracked", name);
}

void effnet_specs(const align_config *cfg, spec_list *l)
{
    const vision_config *v = &cfg->vision;
    spec_add(l, 0, 4, v->stem_dim, v->num_channels, 3, 3, VISION ".embeddings.convolution.weight");
    bn_specs(l, v->stem_dim, VISION ".embeddings.batchnorm", 0);
    for (int i = 0; i < v->n_blocks; i++) {
        const vision_block *b = &v->blocks[i];
        if (b->has_expand) {
            spec_add(l, 0, 4, b->expand_dim, b->in_dim, 1, 1, VISION ".encoder.blocks.%d.expansion.expand_conv.weight", i);
            bn_specs(l, b->expand_dim, VISION ".encoder.blocks.%d.expansion.expand_bn", i);
        }
        spec_add(l, 0, 4, b->expand_dim, 1, b->kernel, b->kernel,
                 VISION ".encoder.blocks.%d.depthwise_conv.depthwise_conv.weight", i);
        bn_specs(l, b->expand_dim, VISION ".encoder.blocks.%d.depthwise_conv.depthwise_norm", i);
        spec_add(l, 0, 4, b->se_dim, b->expand_dim, 1, 1, VISION ".encoder.blocks.%d.squeeze_excite.reduce.weight", i);
        spec_add(l, 0, 1, b->se_dim, 0, 0, 0, VISION ".encoder.blocks.%d.squeeze_excite.reduce.bias", i);
        spec_add(l, 0, 4, b->expand_dim, b->se_dim, 1, 1, VISION ".encoder.blocks.%d.squeeze_excite.expand.weight", i);
        spec_add(l, 0, 1, b->expand_dim, 0, 0, 0, VISION ".encoder.blocks.%d.squeeze_excite.expand.bias", i);
        spec_add(l, 0, 4, b->out_dim, b->expand_dim, 1, 1, VISION ".encoder.blocks.%d.projection.project_conv.weight", i);
        bn_specs(l, b->out_dim, VISION ".encoder.blocks.%d.projection.project_bn", i);
    }
}

/* Batch norm in eval mode is y = x * a + c per channel; returns a and c (n floats each, in ws). */
static align_status bn_affine(weight_store *ws, const char *prefix, int n, double eps, float **scale,
                              float **shift, align_error *err)
{
    char name[160];
    const float *p[4];
    static const char *const parts[] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, parts[i]);
        if (!(p[i] = weights_get(ws, name, err))) return err->code;
    }
    *scale = weights_alloc(ws, (size_t)n, err);
    *shift = weights_alloc(ws, (size_t)n, err);
    if (!*scale || !*shift) return err->code;
    for (int c = 0; c < n; c++) {
        double a = p[0][c] / sqrt((double)p[3][c] + eps);
        (*scale)[c] = (float)a;
        (*shift)[c] = (float)(p[1][c] - p[2][c] * a);
    }
    return ALIGN_OK;
}

/* A 1x1 convolution [out, in, 1, 1] followed by batch norm, as one [out, in] matrix and a bias. */
static align_status load_conv1x1_bn(weight_store *ws, const char *conv, const char *bn, int out, int in,
                                    double eps, float **w, float **b, align_error *err)
{
    float *scale;
    align_status s = bn_affine(ws, bn, out, eps, &scale, b, err);
    if (s) return s;
    if (!(*w = weights_copy(ws, conv, err))) return err->code;
    for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++) (*w)[(size_t)o * in + i] *= scale[o];
    return ALIGN_OK;
}

/* Depthwise [c, 1, k, k] + batch norm, transposed to [k * k, c] so the inner loop runs over
 * channels, which are contiguous in HWC. */
static align_status load_depthwise(weight_store *ws, const char *conv, const char *bn, int c, int k,
                                   double eps, float **w, float **b, align_error *err)
{
    float *scale;
    const float *src;
    align_status s = bn_affine(ws, bn, c, eps, &scale, b, err);
    if (s) return s;
    if (!(src = weights_get(ws, conv, err)) || !(*w = weights_alloc(ws, (size_t)c * k * k, err))) return err->code;
    for (int ch = 0; ch < c; ch++)
        for (int t = 0; t < k * k; t++) (*w)[(size_t)t * c + ch] = src[(size_t)ch * k * k + t] * scale[ch];
    return ALIGN_OK;
}

static align_status load_stem(effnet_weights *ew, weight_store *ws, align_error *err)
{
    const vision_config *v = ew->cfg;
    int out = v->stem_dim, in = v->num_channels;
    float *scale;
    const float *src;
    align_status s = bn_affine(ws, VISION ".embeddings.batchnorm", out, v->batch_norm_eps, &scale, &ew->stem_b, err);
    if (s) return s;
    if (!(src = weights_get(ws, VISION ".embeddings.convolution.weight", err)) ||
        !(ew->stem_w = weights_alloc(ws, (size_t)9 * in * out, err)))
        return err->code;
    for (int o = 0; o < out; o++)
        for (int c = 0; c < in; c++)
            for (int t = 0; t < 9; t++)
                ew->stem_w[((size_t)t * in + c) * out + o] = src[((size_t)o * in + c) * 9 + t] * scale[o];
    return ALIGN_OK;
}

static align_status load_block(effnet_block *eb, const vision_config *v, int i, weight_store *ws,
                               align_error *err)
{
    const vision_block *b = &v->blocks[i];
    char conv[160], bn[160];
    align_status s;
    eb->spec = b;
    if (b->has_expand) {
        snprintf(conv, sizeof conv, VISION ".encoder.blocks.%d.expansion.expand_conv.weight", i);
        snprintf(bn, sizeof bn, VISION ".encoder.blocks.%d.expansion.expand_bn", i);
        if ((s = load_conv1x1_bn(ws, conv, bn, b->expand_dim, b->in_dim, v->batch_norm_eps, &eb->expand_w,
                                 &eb->expand_b, err)))
            return s;
    }
    snprintf(conv, sizeof conv, VISION ".encoder.blocks.%d.depthwise_conv.depthwise_conv.weight", i);
    snprintf(bn, sizeof bn, VISION ".encoder.blocks.%d.depthwise_conv.depthwise_norm", i);
    if ((s = load_depthwise(ws, conv, bn, b->expand_dim, b->kernel, v->batch_norm_eps, &eb->dw_w, &eb->dw_b, err)))
        return s;
    const float **se[4] = {&eb->se_reduce_w, &eb->se_reduce_b, &eb->se_expand_w, &eb->se_expand_b};
    static const char *const se_names[] = {"reduce.weight", "reduce.bias", "expand.weight", "expand.bias"};
    for (int k = 0; k < 4; k++) {
        snprintf(conv, sizeof conv, VISION ".encoder.blocks.%d.squeeze_excite.%s", i, se_names[k]);
        if (!(*se[k] = weights_get(ws, conv, err))) return err->code;
    }
    snprintf(conv, sizeof conv, VISION ".encoder.blocks.%d.projection.project_conv.weight", i);
    snprintf(bn, sizeof bn, VISION ".encoder.blocks.%d.projection.project_bn", i);
    return load_conv1x1_bn(ws, conv, bn, b->out_dim, b->expand_dim, v->batch_norm_eps, &eb->project_w,
                           &eb->project_b, err);
}

align_status effnet_load(effnet_weights *ew, const align_config *cfg, weight_store *ws, align_error *err)
{
    memset(ew, 0, sizeof *ew);
    ew->cfg = &cfg->vision;
    ew->blocks = calloc((size_t)cfg->vision.n_blocks, sizeof *ew->blocks);
    if (!ew->blocks) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", ws->file);
    align_status s = load_stem(ew, ws, err);
    for (int i = 0; !s && i < cfg->vision.n_blocks; i++) s = load_block(&ew->blocks[i], &cfg->vision, i, ws, err);
    return s;
}

void effnet_free(effnet_weights *ew)
{
    free(ew->blocks);
    ew->blocks = NULL;
}

/* ---- geometry --------------------------------------------------------------------------------- */

/* Padding before (top/left) and the output size of a depthwise convolution along one axis. */
static int dw_geometry(const vision_block *b, int in, int *pad_before)
{
    int k = b->kernel, half = k / 2;
    if (b->stride == 1) {
        *pad_before = half; /* "same" */
        return in;
    }
    int before = b->adjust_padding ? half - 1 : half, after = half;
    *pad_before = before;
    return (in + before + after - k) / 2 + 1;
}

static int stem_size(int in)
{
    return (in + 1 - 3) / 2 + 1; /* zero pad right/bottom by one, 3x3 stride 2, no other padding */
}

void effnet_output_size(const vision_config *cfg, int h, int w, int *out_h, int *out_w)
{
    int pad;
    h = stem_size(h);
    w = stem_size(w);
    for (int i = 0; i < cfg->n_blocks; i++) {
        h = dw_geometry(&cfg->blocks[i], h, &pad);
        w = dw_geometry(&cfg->blocks[i], w, &pad);
    }
    *out_h = h;
    *out_w = w;
}

/* ---- forward ---------------------------------------------------------------------------------- */

typedef struct {
    const effnet_weights *ew;
    thread_pool *pool;
    int n, parts;
    float *se_scratch;
} run_ctx;

/* y[rows, out] = x[rows, in] W^T + b */
static void conv1x1(const float *w, const float *b, int out, int in, const float *x, long rows, float *y)
{
    for (long r = 0; r < rows; r++) memcpy(y + r * out, b, sizeof(float) * (size_t)out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, out, in, 1.0f, x, in, w, in, 1.0f, y, out);
}

typedef struct {
    float *x;
    long n;
    int parts;
    act_kind act;
} act_job;

static void act_part(void *arg, int part)
{
    const act_job *j = arg;
    long begin, end;
    split_range(j->n, j->parts, part, &begin, &end);
    act_apply(j->act, j->x + begin, (size_t)(end - begin));
}

static void run_act(const run_ctx *rc, float *x, long n)
{
    act_job j = {x, n, rc->parts, rc->ew->cfg->act};
    pool_run(rc->pool, rc->parts, act_part, &j);
}

typedef struct {
    const float *in;
    float *patches;
    int h, w, oh, ow, c;
} stem_job;

/* Gathers each output pixel's 3x3xC input window (zero past the right and bottom edges). */
static void stem_gather(void *arg, int image)
{
    const stem_job *j = arg;
    const float *in = j->in + (size_t)image * j->h * j->w * j->c;
    float *p = j->patches + (size_t)image * j->oh * j->ow * 9 * j->c;
    for (int y = 0; y < j->oh; y++)
        for (int x = 0; x < j->ow; x++)
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++, p += j->c) {
                    int iy = 2 * y + ky, ix = 2 * x + kx;
                    if (iy < j->h && ix < j->w)
                        memcpy(p, in + ((size_t)iy * j->w + ix) * j->c, sizeof(float) * (size_t)j->c);
                    else
                        memset(p, 0, sizeof(float) * (size_t)j->c);
                }
}

typedef struct {
    const float *in, *w, *b;
    float *out;
    int h, w_, oh, ow, c, k, stride, pad_y, pad_x, rows_per_task, tasks_per_image;
} dw_job;

/* A band of output rows of one image: acc[c] = b[c] + sum in[iy, ix, c] * w[ky, kx, c]. */
static void depthwise_rows(void *arg, int task)
{
    const dw_job *j = arg;
    int image = task / j->tasks_per_image, y0 = (task % j->tasks_per_image) * j->rows_per_task;
    int y1 = y0 + j->rows_per_task < j->oh ? y0 + j->rows_per_task : j->oh;
    int c = j->c, k = j->k;
    const float *in = j->in + (size_t)image * j->h * j->w_ * c;
    float *out = j->out + (size_t)image * j->oh * j->ow * c;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < j->ow; x++) {
            float *acc = out + ((size_t)y * j->ow + x) * c;
            memcpy(acc, j->b, sizeof(float) * (size_t)c);
            for (int ky = 0; ky < k; ky++) {
                int iy = y * j->stride + ky - j->pad_y;
                if (iy < 0 || iy >= j->h) continue;
                for (int kx = 0; kx < k; kx++) {
                    int ix = x * j->stride + kx - j->pad_x;
                    if (ix < 0 || ix >= j->w_) continue;
                    const float *src = in + ((size_t)iy * j->w_ + ix) * c, *wt = j->w + (size_t)(ky * k + kx) * c;
                    for (int ch = 0; ch < c; ch++) acc[ch] += src[ch] * wt[ch];
                }
            }
        }
}

typedef struct {
    const effnet_block *b;
    float *x, *scratch; /* scratch: se_scratch_size() floats per image */
    int hw, c;
    act_kind act;
} se_job;

static size_t se_scratch_size(int c, int d)
{
    return 2 * (size_t)c + (size_t)d;
}

/* Squeeze-excitation of one image: scale each channel by sigmoid(expand(act(reduce(mean)))). */
static void squeeze_excite(void *arg, int image)
{
    const se_job *j = arg;
    const effnet_block *b = j->b;
    int c = j->c, d = b->spec->se_dim;
    float *x = j->x + (size_t)image * j->hw * c;
    float *mean = j->scratch + (size_t)image * se_scratch_size(c, d), *gate = mean + c, *mid = gate + c;
    for (int ch = 0; ch < c; ch++) {
        double sum = 0;
        for (int p = 0; p < j->hw; p++) sum += x[(size_t)p * c + ch];
        mean[ch] = (float)(sum / j->hw);
    }
    for (int o = 0; o < d; o++) {
        float acc = b->se_reduce_b[o];
        for (int ch = 0; ch < c; ch++) acc += b->se_reduce_w[(size_t)o * c + ch] * mean[ch];
        mid[o] = act_one(j->act, acc);
    }
    for (int ch = 0; ch < c; ch++) {
        float acc = b->se_expand_b[ch];
        for (int o = 0; o < d; o++) acc += b->se_expand_w[(size_t)ch * d + o] * mid[o];
        gate[ch] = 1.0f / (1.0f + expf(-acc));
    }
    for (int p = 0; p < j->hw; p++)
        for (int ch = 0; ch < c; ch++) x[(size_t)p * c + ch] *= gate[ch];
}

static void run_stem(const run_ctx *rc, const float *pixels, int h, int w, float *patches, float *out)
{
    const vision_config *v = rc->ew->cfg;
    int oh = stem_size(h), ow = stem_size(w), c = v->num_channels;
    stem_job sj = {pixels, patches, h, w, oh, ow, c};
    pool_run(rc->pool, rc->n, stem_gather, &sj);
    long rows = (long)rc->n * oh * ow;
    for (long r = 0; r < rows; r++) memcpy(out + r * v->stem_dim, rc->ew->stem_b, sizeof(float) * (size_t)v->stem_dim);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, v->stem_dim, 9 * c, 1.0f, patches, 9 * c,
                rc->ew->stem_w, v->stem_dim, 1.0f, out, v->stem_dim);
    run_act(rc, out, rows * v->stem_dim);
}

/* One MBConv block: in (h x w x in_dim) -> out (oh x ow x out_dim); t1, t2 are scratch. */
static void run_block(const run_ctx *rc, const effnet_block *eb, const float *in, int h, int w, float *t1,
                      float *t2, float *out, int *oh, int *ow)
{
    const vision_block *b = eb->spec;
    long pixels = (long)rc->n * h * w;
    const float *expanded = in;
    if (b->has_expand) {
        conv1x1(eb->expand_w, eb->expand_b, b->expand_dim, b->in_dim, in, pixels, t1);
        run_act(rc, t1, pixels * b->expand_dim);
        expanded = t1;
    }
    int pad_y, pad_x;
    *oh = dw_geometry(b, h, &pad_y);
    *ow = dw_geometry(b, w, &pad_x);
    int rows_per_task = (*oh + 3) / 4;
    dw_job dj = {expanded, eb->dw_w, eb->dw_b, t2, h, w, *oh, *ow, b->expand_dim, b->kernel, b->stride,
                 pad_y, pad_x, rows_per_task, (*oh + rows_per_task - 1) / rows_per_task};
    pool_run(rc->pool, rc->n * dj.tasks_per_image, depthwise_rows, &dj);
    long out_pixels = (long)rc->n * *oh * *ow;
    run_act(rc, t2, out_pixels * b->expand_dim);
    se_job sj = {eb, t2, rc->se_scratch, *oh * *ow, b->expand_dim, rc->ew->cfg->act};
    pool_run(rc->pool, rc->n, squeeze_excite, &sj);
    conv1x1(eb->project_w, eb->project_b, b->out_dim, b->expand_dim, t2, out_pixels, out);
    if (b->residual)
        for (long i = 0; i < out_pixels * b->out_dim; i++) out[i] += in[i];
}

/* The largest map any stage holds, to size the arena once per call; *se gets the largest
 * squeeze-excitation scratch. */
static size_t max_map(const vision_config *v, int n, int h, int w, size_t *se)
{
    *se = 0;
    int pad;
    h = stem_size(h);
    w = stem_size(w);
    size_t most = (size_t)n * h * w * (size_t)(9 * v->num_channels > v->stem_dim ? 9 * v->num_channels : v->stem_dim);
    for (int i = 0; i < v->n_blocks; i++) {
        const vision_block *b = &v->blocks[i];
        size_t in_map = (size_t)n * h * w * (size_t)(b->expand_dim > b->in_dim ? b->expand_dim : b->in_dim);
        if (in_map > most) most = in_map;
        if ((size_t)n * se_scratch_size(b->expand_dim, b->se_dim) > *se) *se = (size_t)n * se_scratch_size(b->expand_dim, b->se_dim);
        h = dw_geometry(b, h, &pad);
        w = dw_geometry(b, w, &pad);
    }
    return most;
}

static void pool_features(const vision_config *v, const float *x, int n, int hw, float *pooled)
{
    int c = v->out_dim;
    for (int i = 0; i < n; i++) {
        const float *img = x + (size_t)i * hw * c;
        float *o = pooled + (size_t)i * c;
        for (int ch = 0; ch < c; ch++) {
            double sum = 0;
            float max = -FLT_MAX;
            for (int p = 0; p < hw; p++) {
                float val = img[(size_t)p * c + ch];
                sum += val;
                if (val > max) max = val;
            }
            o[ch] = v->pooling == POOL_MAX ? max : (float)(sum / hw);
        }
    }
}

align_status effnet_encode(const effnet_weights *ew, const float *pixels, int n, int h, int w, float *pooled,
                           thread_pool *pool, effnet_tap tap, void *tap_ctx, align_error *err)
{
    const vision_config *v = ew->cfg;
    int fh, fw;
    if (n <= 0 || h < 2 || w < 2) return align_fail(err, ALIGN_ERR_ARG, "no image to encode");
    effnet_output_size(v, h, w, &fh, &fw);
    if (fh < 1 || fw < 1)
        return align_fail(err, ALIGN_ERR_INPUT, "a %dx%d input is too small for the vision tower", w, h);
    /* Hugging Face pools with a hidden_dim-sized window; only a map that fits in it gives one vector */
    if (fh > v->hidden_dim || fw > v->hidden_dim)
        return align_fail(err, ALIGN_ERR_INPUT, "a %dx%d input leaves a %dx%d map, larger than the pooling window (hidden_dim %d)",
                          w, h, fw, fh, v->hidden_dim);
    size_t se, map = max_map(v, n, h, w, &se);
    float *arena = malloc(sizeof(float) * (map * 4 + se));
    if (!arena) return align_fail(err, ALIGN_ERR_NOMEM, "out of memory for %d images of %dx%d", n, w, h);
    float *cur = arena, *t1 = arena + map, *t2 = arena + 2 * map, *next = arena + 3 * map;
    int threads = pool_threads(pool);
    run_ctx rc = {ew, pool, n, threads * 4, arena + 4 * map};
    run_stem(&rc, pixels, h, w, t1, cur);
    h = stem_size(h);
    w = stem_size(w);
    if (tap) tap(tap_ctx, -1, cur, n, h, w, v->stem_dim);
    for (int i = 0; i < v->n_blocks; i++) {
        int oh, ow;
        run_block(&rc, &ew->blocks[i], cur, h, w, t1, t2, next, &oh, &ow);
        float *t = cur;
        cur = next;
        next = t;
        h = oh;
        w = ow;
        if (tap) tap(tap_ctx, i, cur, n, h, w, v->blocks[i].out_dim);
    }
    pool_features(v, cur, n, h * w, pooled);
    free(arena);
    return ALIGN_OK;
}
