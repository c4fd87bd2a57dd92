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

/* See effnet_weights.batch_below: align-base at 289x289 runs its 145x145 and 73x73 stages image by
 * image, and batches from 37x37 on. */
#define EFFNET_BATCH_BELOW 2048

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

/* A 1x1 convolution [out, in, 1, 1] followed by batch norm: the weights stay where the file
 * has them (folding would copy the tower's largest tensors at every load), and the norm becomes a
 * per-channel scale and bias applied as the product is written. */
static align_status load_conv1x1_bn(weight_store *ws, const char *conv, const char *bn, int out, double eps,
                                    const float **w, float **scale, float **b, align_error *err)
{
    align_status s = bn_affine(ws, bn, out, eps, scale, b, err);
    if (s) return s;
    return (*w = weights_get(ws, conv, err)) ? ALIGN_OK : err->code;
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
    weights_release(ws, conv);
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
                ew->stem_w[((size_t)o * 9 + t) * in + c] = src[((size_t)o * in + c) * 9 + t] * scale[o];
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
        if ((s = load_conv1x1_bn(ws, conv, bn, b->expand_dim, v->batch_norm_eps, &eb->expand_w, &eb->expand_s,
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
    return load_conv1x1_bn(ws, conv, bn, b->out_dim, v->batch_norm_eps, &eb->project_w, &eb->project_s,
                           &eb->project_b, err);
}

/* Floats effnet_load allocates: every folded weight, bias and scale (with alignment slack). */
static size_t folded_floats(const vision_config *v)
{
    size_t n = (size_t)9 * v->num_channels * v->stem_dim + 2 * (size_t)v->stem_dim + 48;
    for (int i = 0; i < v->n_blocks; i++) {
        const vision_block *b = &v->blocks[i];
        size_t e = (size_t)b->expand_dim;
        if (b->has_expand) n += 2 * e + 32;
        n += e * b->kernel * b->kernel + 2 * e + 2 * (size_t)b->out_dim + 96;
    }
    return n;
}

align_status effnet_load(effnet_weights *ew, const align_config *cfg, weight_store *ws, align_error *err)
{
    memset(ew, 0, sizeof *ew);
    weights_reserve(ws, folded_floats(&cfg->vision));
    ew->cfg = &cfg->vision;
    ew->batch_below = EFFNET_BATCH_BELOW;
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

/* Depthwise work is split into bands of output rows; each band keeps its own channel sums (for
 * squeeze-excitation) so that no two threads add into the same place. */
#define BANDS 8

typedef struct {
    const effnet_weights *ew;
    thread_pool *pool;
    int n;
    effnet_tap tap;
    void *tap_ctx;
} run_ctx;

/* Where each part of the workspace starts, for a batch of n images of h x w. */
typedef struct {
    int early;                                         /* blocks run one image at a time */
    size_t map, expanded, dw, scaled_w, gather, floats; /* float counts */
    size_t sums;                                       /* doubles */
} ws_layout;

static int use_scaled_weights(const vision_block *b, int hw)
{
    /* scaling the projection's weights by the gate costs out x c per image, scaling the map costs
     * hw x c: pick the smaller */
    return hw >= 4 * b->out_dim;
}

static void grow(size_t *have, size_t want)
{
    if (want > *have) *have = want;
}

static ws_layout layout(const effnet_weights *ew, int n, int h, int w)
{
    const vision_config *v = ew->cfg;
    ws_layout l = {0};
    int pad;
    h = stem_size(h);
    w = stem_size(w);
    /* a batch of one has nothing to gain from the split */
    for (int bh = h, bw = w; n > 1 && l.early < v->n_blocks && bh * bw >= ew->batch_below; l.early++) {
        bh = dw_geometry(&v->blocks[l.early], bh, &pad);
        bw = dw_geometry(&v->blocks[l.early], bw, &pad);
    }
    int k = l.early ? 1 : n;
    grow(&l.map, (size_t)k * h * w * v->stem_dim);
    l.expanded = (size_t)k * h * w * 9 * v->num_channels; /* the stem's patches */
    for (int i = 0; i < v->n_blocks; i++) {
        const vision_block *b = &v->blocks[i];
        if (i == l.early) k = n;
        size_t in = (size_t)k * h * w;
        grow(&l.map, in * b->in_dim);
        if (b->has_expand) grow(&l.expanded, in * b->expand_dim);
        h = dw_geometry(b, h, &pad);
        w = dw_geometry(b, w, &pad);
        size_t out = (size_t)k * h * w;
        grow(&l.dw, out * b->expand_dim);
        grow(&l.map, out * b->out_dim);
        if (i >= l.early && l.early) grow(&l.gather, out * b->out_dim);
        if (i == l.early && l.early) grow(&l.gather, in * b->in_dim);
        size_t se = (size_t)k * (2 * b->expand_dim + b->se_dim);
        if (use_scaled_weights(b, h * w)) se += (size_t)b->out_dim * b->expand_dim;
        grow(&l.scaled_w, se);
        grow(&l.sums, (size_t)k * BANDS * b->expand_dim);
    }
    l.floats = 3 * l.sums + 2 * l.map + l.gather + l.expanded + l.dw + l.scaled_w;
    return l;
}

size_t effnet_workspace_floats(const effnet_weights *ew, int n, int h, int w)
{
    return layout(ew, n, h, w).floats;
}

/* ---- stem ---- */

typedef struct {
    const float *in;
    float *patches;
    int h, w, oh, ow, c, rows_per_task, tasks_per_image;
} stem_job;

/* Gathers each output pixel's 3x3xC input window (zero past the right and bottom edges). */
static void stem_gather(void *arg, int task)
{
    const stem_job *j = arg;
    int image = task / j->tasks_per_image, y0 = task % j->tasks_per_image * j->rows_per_task;
    int y1 = y0 + j->rows_per_task < j->oh ? y0 + j->rows_per_task : j->oh;
    const float *in = j->in + (size_t)image * j->h * j->w * j->c;
    float *p = j->patches + ((size_t)image * j->oh + y0) * j->ow * 9 * j->c;
    for (int y = y0; y < y1; y++)
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

static void run_stem(const run_ctx *rc, const float *pixels, int h, int w, float *patches, float *out)
{
    const vision_config *v = rc->ew->cfg;
    int oh = stem_size(h), ow = stem_size(w), c = v->num_channels, rows = (oh + BANDS - 1) / BANDS;
    stem_job sj = {pixels, patches, h, w, oh, ow, c, rows, (oh + rows - 1) / rows};
    pool_run(rc->pool, rc->n * sj.tasks_per_image, stem_gather, &sj);
    gemm_bias_act(rc->pool, (long)rc->n * oh * ow, v->stem_dim, 9 * c, patches, rc->ew->stem_w, NULL, rc->ew->stem_b,
                  v->act, NULL, out);
}

/* ---- depthwise, with batch norm, activation and the squeeze's channel sums fused ---- */

typedef struct {
    const float *in, *w, *b;
    float *out;
    double *sums;    /* [image][band][c] */
    float *rowsums;  /* [image][band][c] scratch */
    int h, w_, oh, ow, c, k, stride, pad_y, pad_x, rows_per_band, bands;
    act_kind act;
} dw_job;

/* acc[0, c) = b + the window's sum of src * w for one output pixel. The window is clipped to the
 * map once per pixel, so the inner loops carry no bounds checks. */
static inline void dw_pixel(const dw_job *j, const float *in, int y, int x, float *acc)
{
    int c = j->c, k = j->k, iy0 = y * j->stride - j->pad_y, ix0 = x * j->stride - j->pad_x;
    int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = j->h - iy0 < k ? j->h - iy0 : k;
    int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = j->w_ - ix0 < k ? j->w_ - ix0 : k;
    for (int ch = 0; ch < c; ch++) acc[ch] = j->b[ch];
    for (int ky = ky0; ky < ky1; ky++) {
        const float *src = in + ((size_t)(iy0 + ky) * j->w_ + ix0) * c, *wt = j->w + (size_t)ky * k * c;
        for (int kx = kx0; kx < kx1; kx++)
            for (int ch = 0; ch < c; ch++) acc[ch] += src[(size_t)kx * c + ch] * wt[(size_t)kx * c + ch];
    }
}

/* One output row pixel by pixel, for the windows, strides, activations and widths the tiles do
 * not take: each pixel's window sum, then the activation; the values are added into rowsum for
 * the squeeze. */
HOT_LOOP static void dw_pixels(const dw_job *j, const float *in, float *out, int y, float *rowsum)
{
    int c = j->c;
    for (int x = 0; x < j->ow; x++) {
        float *o = out + ((size_t)y * j->ow + x) * c;
        dw_pixel(j, in, y, x, o);
        act_apply(j->act, o, (size_t)c);
        for (int ch = 0; ch < c; ch++) rowsum[ch] += o[ch];
    }
}

/* Sixteen channels in one vector; loads and stores through it need only float alignment. */
typedef float vec16 __attribute__((vector_size(64), aligned(4)));

#define DW_TILE 8

/* n (at most DW_TILE) output pixels from x0 on, channels [c0, c0 + 16): the n accumulators stay
 * in registers and each weight is loaded once for all of them, where a pixel at a time reloads the
 * weights and waits on one chain of k * k adds. With clip, taps that fall off the left or right
 * edge are skipped, as dw_pixel skips them. The window sums and the row sum run in the same order
 * as dw_pixels', so both paths compute the same sums; but the n activations are computed side by
 * side, not each behind the previous one's addition into rowsum. */
static inline __attribute__((always_inline)) void dw_tile(const dw_job *j, const float *in, float *out, int y,
                                                          int x0, int c0, int k, int stride, int n, int clip,
                                                          float *rowsum)
{
    int c = j->c, iy0 = y * stride - j->pad_y, ix0 = x0 * stride - j->pad_x;
    int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = j->h - iy0 < k ? j->h - iy0 : k;
    vec16 acc[DW_TILE];
    for (int p = 0; p < n; p++) acc[p] = *(const vec16 *)(j->b + c0);
    for (int ky = ky0; ky < ky1; ky++) {
        const float *row = in + (size_t)(iy0 + ky) * j->w_ * c + c0, *wt = j->w + (size_t)ky * k * c + c0;
        /* unrolled whatever the function's size, so that the taps of neighbouring pixels share
         * their loads */
#pragma GCC unroll 5
        for (int kx = 0; kx < k; kx++) {
            vec16 wv = *(const vec16 *)(wt + (size_t)kx * c);
#pragma GCC unroll 8
            for (int p = 0; p < n; p++) {
                int ix = ix0 + p * stride + kx;
                if (clip && (ix < 0 || ix >= j->w_)) continue;
                acc[p] += *(const vec16 *)(row + (size_t)ix * c) * wv;
            }
        }
    }
    float v[DW_TILE * 16] __attribute__((aligned(64)));
    memcpy(v, acc, sizeof(vec16) * (size_t)n);
    for (int i = 0; i < n * 16; i++) v[i] = v[i] / (1.0f + exp_fast(-v[i]));
    float *o = out + ((size_t)y * j->ow + x0) * c + c0;
    vec16 sum = *(const vec16 *)(rowsum + c0);
    for (int p = 0; p < n; p++) {
        vec16 act = *(const vec16 *)(v + 16 * p);
        *(vec16 *)(o + (size_t)p * c) = act;
        sum += act;
    }
    *(vec16 *)(rowsum + c0) = sum;
}

/* Output pixels [x0, x1) of a row in tiles of 8, 4 and 1 pixels, a block of 16 channels at a
 * time; with clip, one pixel at a time, for the pixels near the edges. k and stride are constants
 * at each call, so the window's loops unroll. */
static inline __attribute__((always_inline)) void dw_tiles(const dw_job *j, const float *in, float *out, int y,
                                                           int x0, int x1, int k, int stride, int clip,
                                                           float *rowsum)
{
    int x = x0;
    for (; !clip && x + 8 <= x1; x += 8)
        for (int c0 = 0; c0 < j->c; c0 += 16) dw_tile(j, in, out, y, x, c0, k, stride, 8, 0, rowsum);
    for (; !clip && x + 4 <= x1; x += 4)
        for (int c0 = 0; c0 < j->c; c0 += 16) dw_tile(j, in, out, y, x, c0, k, stride, 4, 0, rowsum);
    for (; x < x1; x++)
        for (int c0 = 0; c0 < j->c; c0 += 16) dw_tile(j, in, out, y, x, c0, k, stride, 1, clip, rowsum);
}

/* A row's pixels in order: those whose windows cross the left edge, those inside, those crossing
 * the right edge. */
static inline __attribute__((always_inline)) void dw_row_tiles(const dw_job *j, const float *in, float *out, int y,
                                                               int k, int stride, float *rowsum)
{
    /* the first and one past the last output pixel whose window lies inside the row */
    int xa = (j->pad_x + stride - 1) / stride, xb = (j->w_ - k + j->pad_x) / stride + 1;
    xa = xa < j->ow ? xa : j->ow;
    xb = xb < xa ? xa : xb < j->ow ? xb : j->ow;
    dw_tiles(j, in, out, y, 0, xa, k, stride, 1, rowsum);
    dw_tiles(j, in, out, y, xa, xb, k, stride, 0, rowsum);
    dw_tiles(j, in, out, y, xb, j->ow, k, stride, 1, rowsum);
}

/* One output row: in tiles where they apply (SiLU, a 3x3 or 5x5 window, stride 1 or 2, whole
 * vectors of channels), pixel by pixel otherwise. */
HOT_LOOP static void depthwise_row(const dw_job *j, const float *in, float *out, int y, float *rowsum)
{
    int k = j->k, s = j->stride;
    if (j->act != ACT_SILU || j->c % 16 || (k != 3 && k != 5) || (s != 1 && s != 2))
        dw_pixels(j, in, out, y, rowsum);
    else if (k == 3 && s == 1)
        dw_row_tiles(j, in, out, y, 3, 1, rowsum);
    else if (k == 3)
        dw_row_tiles(j, in, out, y, 3, 2, rowsum);
    else if (s == 1)
        dw_row_tiles(j, in, out, y, 5, 1, rowsum);
    else
        dw_row_tiles(j, in, out, y, 5, 2, rowsum);
}

/* Adds a row's float sums into the band's double sums and clears them. */
HOT_LOOP static void flush_rowsum(double *sums, float *rowsum, int c)
{
    for (int ch = 0; ch < c; ch++) {
        sums[ch] += rowsum[ch];
        rowsum[ch] = 0;
    }
}

static void depthwise_band(void *arg, int task)
{
    const dw_job *j = arg;
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
        depthwise_row(j, in, out, y, rowsum);
        flush_rowsum(sums, rowsum, j->c);
    }
}

/* ---- squeeze-excitation ---- */

typedef struct {
    const effnet_block *b;
    const double *sums;
    float *se; /* per image: mean[c], gate[c], mid[se_dim] */
    int hw, c, bands;
    act_kind act;
} se_job;

/* The gate of one image: sigmoid(expand(act(reduce(mean over the map)))). */
static void squeeze(void *arg, int image)
{
    const se_job *j = arg;
    const effnet_block *b = j->b;
    int c = j->c, d = b->spec->se_dim;
    float *mean = j->se + (size_t)image * (2 * c + d), *gate = mean + c, *mid = gate + c;
    const double *sums = j->sums + (size_t)image * j->bands * c;
    for (int ch = 0; ch < c; ch++) {
        double s = 0;
        for (int band = 0; band < j->bands; band++) s += sums[(size_t)band * c + ch];
        mean[ch] = (float)(s / j->hw);
    }
    memcpy(mid, b->se_reduce_b, sizeof(float) * (size_t)d);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, d, c, 1.0f, b->se_reduce_w, c, mean, 1, 1.0f, mid, 1);
    act_apply(j->act, mid, (size_t)d);
    memcpy(gate, b->se_expand_b, sizeof(float) * (size_t)c);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, c, d, 1.0f, b->se_expand_w, d, mid, 1, 1.0f, gate, 1);
    for (int ch = 0; ch < c; ch++) gate[ch] = 1.0f / (1.0f + exp_fast(-gate[ch]));
}

typedef struct {
    float *x;
    const float *se;
    long pixels_per_image;
    int c, se_stride, parts_per_image;
} scale_job;

HOT_LOOP static void scale_pixels(float *x, const float *gate, long pixels, int c)
{
    for (long p = 0; p < pixels; p++)
        for (int ch = 0; ch < c; ch++) x[p * c + ch] *= gate[ch];
}

static void scale_map_part(void *arg, int task)
{
    const scale_job *j = arg;
    int image = task / j->parts_per_image;
    long p0, p1;
    split_range(j->pixels_per_image, j->parts_per_image, task % j->parts_per_image, &p0, &p1);
    const float *gate = j->se + (size_t)image * j->se_stride + j->c;
    scale_pixels(j->x + ((size_t)image * j->pixels_per_image + p0) * j->c, gate, p1 - p0, j->c);
}

HOT_LOOP static void scale_columns(float *dst, const float *w, const float *gate, int rows, int c)
{
    for (int o = 0; o < rows; o++)
        for (int ch = 0; ch < c; ch++) dst[(size_t)o * c + ch] = w[(size_t)o * c + ch] * gate[ch];
}

/* ---- blocks ---- */

typedef struct {
    float *cur, *next, *gather, *expanded, *dw, *se;
    double *sums;
    float *rowsums;
} workspace_parts;

static void project(const run_ctx *rc, const effnet_block *eb, const workspace_parts *p, const float *in, int hw,
                    float *out)
{
    const vision_block *b = eb->spec;
    int c = b->expand_dim, se_stride = 2 * c + b->se_dim;
    const float *residual = b->residual ? in : NULL;
    if (use_scaled_weights(b, hw)) {
        /* X diag(g) W^T = X (W diag(g))^T: scale the small weight matrix, not the large map */
        float *scaled = p->se + (size_t)rc->n * se_stride;
        for (int i = 0; i < rc->n; i++) {
            scale_columns(scaled, eb->project_w, p->se + (size_t)i * se_stride + c, b->out_dim, c);
            size_t at = (size_t)i * hw;
            gemm_bias_act(rc->pool, hw, b->out_dim, c, p->dw + at * c, scaled, eb->project_s, eb->project_b,
                          ACT_LINEAR, residual ? residual + at * b->out_dim : NULL, out + at * b->out_dim);
        }
        return;
    }
    int parts = pool_threads(rc->pool) * 2;
    scale_job sj = {p->dw, p->se, hw, c, se_stride, parts};
    pool_run(rc->pool, rc->n * parts, scale_map_part, &sj);
    gemm_bias_act(rc->pool, (long)rc->n * hw, b->out_dim, c, p->dw, eb->project_w, eb->project_s, eb->project_b,
                  ACT_LINEAR, residual, out);
}

/* One MBConv block: in (h x w x in_dim) -> out (oh x ow x out_dim). */
static void run_block(const run_ctx *rc, const effnet_block *eb, const workspace_parts *p, const float *in, int h,
                      int w, float *out, int *oh, int *ow)
{
    const vision_block *b = eb->spec;
    act_kind act = rc->ew->cfg->act;
    const float *expanded = in;
    if (b->has_expand) {
        gemm_bias_act(rc->pool, (long)rc->n * h * w, b->expand_dim, b->in_dim, in, eb->expand_w, eb->expand_s,
                      eb->expand_b, act, NULL, p->expanded);
        expanded = p->expanded;
    }
    int pad_y, pad_x;
    *oh = dw_geometry(b, h, &pad_y);
    *ow = dw_geometry(b, w, &pad_x);
    int rows = (*oh + BANDS - 1) / BANDS;
    dw_job dj = {expanded, eb->dw_w, eb->dw_b, p->dw, p->sums, p->rowsums, h, w, *oh, *ow, b->expand_dim, b->kernel,
                 b->stride, pad_y, pad_x, rows, (*oh + rows - 1) / rows, act};
    pool_run(rc->pool, rc->n * dj.bands, depthwise_band, &dj);
    se_job sj = {eb, p->sums, p->se, *oh * *ow, b->expand_dim, dj.bands, act};
    pool_run(rc->pool, rc->n, squeeze, &sj);
    project(rc, eb, p, in, *oh * *ow, out);
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
            for (int q = 0; q < hw; q++) {
                float val = img[(size_t)q * c + ch];
                sum += val;
                if (val > max) max = val;
            }
            o[ch] = v->pooling == POOL_MAX ? max : (float)(sum / hw);
        }
    }
}

/* Blocks [from, to) on the map in p->cur, after the stem when pixels are given; the result is left
 * in p->cur and its size in *h, *w. first: the batch's first image, for the tap. */
static void run_blocks(const run_ctx *rc, workspace_parts *p, const float *pixels, int from, int to, int first,
                       int *h, int *w)
{
    const vision_config *v = rc->ew->cfg;
    if (pixels) {
        run_stem(rc, pixels, *h, *w, p->expanded, p->cur);
        *h = stem_size(*h);
        *w = stem_size(*w);
        if (rc->tap) rc->tap(rc->tap_ctx, -1, p->cur, first, rc->n, *h, *w, v->stem_dim);
    }
    for (int i = from; i < to; i++) {
        int oh, ow;
        run_block(rc, &rc->ew->blocks[i], p, p->cur, *h, *w, p->next, &oh, &ow);
        float *t = p->cur;
        p->cur = p->next;
        p->next = t;
        *h = oh;
        *w = ow;
        if (rc->tap) rc->tap(rc->tap_ctx, i, p->cur, first, rc->n, oh, ow, v->blocks[i].out_dim);
    }
}

static workspace_parts carve(const ws_layout *l, float *ws)
{
    workspace_parts p;
    p.sums = (double *)ws; /* first, so that it is 8-byte aligned */
    p.rowsums = ws + 2 * l->sums;
    p.cur = p.rowsums + l->sums;
    p.next = p.cur + l->map;
    p.gather = p.next + l->map;
    p.expanded = p.gather + l->gather;
    p.dw = p.expanded + l->expanded;
    p.se = p.dw + l->dw;
    return p;
}

align_status effnet_encode(const effnet_weights *ew, const float *pixels, int n, int h, int w, float *pooled,
                           thread_pool *pool, float *workspace, effnet_tap tap, void *tap_ctx, align_error *err)
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
    ws_layout l = layout(ew, n, h, w);
    float *owned = NULL;
    if (!workspace && !(workspace = owned = malloc(sizeof(float) * l.floats)))
        return align_fail(err, ALIGN_ERR_NOMEM, "out of memory for %d images of %dx%d", n, w, h);
    workspace_parts p = carve(&l, workspace);
    run_ctx rc = {ew, pool, n, tap, tap_ctx};
    int oh = h, ow = w;
    if (l.early) {
        /* the first blocks' maps are large: one image at a time, they stay in cache */
        run_ctx one = {ew, pool, 1, tap, tap_ctx};
        size_t per_image = (size_t)h * w * v->num_channels;
        for (int i = 0; i < n; i++) {
            workspace_parts q = p;
            oh = h, ow = w;
            run_blocks(&one, &q, pixels + i * per_image, 0, l.early, i, &oh, &ow);
            size_t count = (size_t)oh * ow * v->blocks[l.early - 1].out_dim;
            memcpy(p.gather + i * count, q.cur, sizeof(float) * count);
        }
        p.cur = p.gather;
    }
    if (l.early)
        run_blocks(&rc, &p, NULL, l.early, v->n_blocks, 0, &oh, &ow);
    else
        run_blocks(&rc, &p, pixels, 0, v->n_blocks, 0, &oh, &ow);
    pool_features(v, p.cur, n, oh * ow, pooled);
    free(owned);
    return ALIGN_OK;
}
