/* efficientnet.c: the vision tower's forward pass, top to bottom: stem -> for each block (expand,
 * depthwise, squeeze-excitation, project, residual) -> pool. The weights and their load are in
 * efficientnet_weights.c; the machinery each step runs on is in a file of its own: im2col.c (the
 * stem's windows), ops.c (products with their epilogue), depthwise*.c, squeeze_excite.c, and
 * vision_plan.c (the workspace and the batch split). Maps are HWC, a batch stacked image after
 * image; in the shapes below, n is the images a pass runs at once. */
#include "efficientnet.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "depthwise.h"
#include "error.h"
#include "im2col.h"
#include "ops.h"
#include "vision_plan.h"

void effnet_output_size(const vision_config *cfg, int h, int w, int *out_h, int *out_w)
{
    int pad;
    h = im2col_3x3s2_size(h);
    w = im2col_3x3s2_size(w);
    for (int i = 0; i < cfg->n_blocks; i++) {
        h = vision_block_output(&cfg->blocks[i], h, &pad);
        w = vision_block_output(&cfg->blocks[i], w, &pad);
    }
    *out_h = h;
    *out_w = w;
}

size_t effnet_workspace_floats(const effnet_weights *ew, int n, int h, int w)
{
    return vision_plan_make(ew->cfg, ew->batch_below, ew->row_period, n, h, w).floats;
}

/* One pass over n images at once: all of a batch, or one image of it during the early blocks. */
typedef struct {
    const effnet_weights *ew;
    thread_pool *pool;
    int n, first; /* images, and the first one's index in the batch (for the tap) */
    effnet_tap tap;
    void *tap_ctx;
    float *padded; /* vision_buffers.padded */
} pass;

/* conv1x1 for images whose rows are not a whole number of row periods: each image's rows copied
 * into padded [n][padded][k] and followed by zero rows up to `padded`, one product for them all,
 * and the rows that are the images' copied back, adding the residual as the epilogue would.
 * An image alone takes the same path, so it gets the same bits. */
static void conv1x1_padded(const pass *ps, long rows, long padded, int n_out, int k, const float *a, const float *w,
                           const float *scale, const float *bias, act_kind act, const float *residual, float *out)
{
    float *pa = ps->padded, *pc = pa + (size_t)ps->n * padded * k; /* pc: [n][padded][n_out] */
    for (int i = 0; i < ps->n; i++) {
        memcpy(pa + i * padded * k, a + i * rows * k, sizeof(float) * rows * k);
        memset(pa + (i * padded + rows) * k, 0, sizeof(float) * (padded - rows) * k);
    }
    gemm_cut cut = {padded, ps->ew->row_period};
    gemm_epilogue_cut(ps->ew->kernels->epilogue, ps->pool, cut, ps->n * padded, n_out, k, pa, w, scale, bias, act,
                      NULL, pc);
    for (int i = 0; i < ps->n; i++)
        for (long r = 0; r < rows; r++) {
            const float *from = pc + (i * padded + r) * n_out, *add = residual ? residual + (i * rows + r) * n_out : NULL;
            float *to = out + (i * rows + r) * n_out;
            for (int c = 0; c < n_out; c++) to[c] = add ? from[c] + add[c] : from[c];
        }
}

/* out [n][rows][n_out] = act(a [n][rows][k] w^T * scale + bias) + residual, over the pass's n
 * images: one product for the batch where that gives each image the bits it gets alone
 * (effnet_weights.row_period), cut among the threads as an image alone would be, and padded to
 * whole row periods where needed; else one per image. */
static void conv1x1(const pass *ps, long rows, int n_out, int k, const float *a, const float *w, const float *scale,
                    const float *bias, act_kind act, const float *residual, float *out)
{
    epilogue_fn epilogue = ps->ew->kernels->epilogue;
    int period = ps->ew->row_period;
    long padded = vision_padded_rows(period, rows);
    if (padded) {
        conv1x1_padded(ps, rows, padded, n_out, k, a, w, scale, bias, act, residual, out);
        return;
    }
    if (period && rows >= BLAS_INDEPENDENT_ROWS && rows % period == 0) {
        gemm_cut cut = period == 1 ? gemm_cut_plain(ps->n * rows) : (gemm_cut){rows, period};
        gemm_epilogue_cut(epilogue, ps->pool, cut, ps->n * rows, n_out, k, a, w, scale, bias, act, residual, out);
        return;
    }
    for (int i = 0; i < ps->n; i++)
        gemm_epilogue_cut(epilogue, ps->pool, gemm_cut_alone(rows, period), rows, n_out, k, a + i * rows * k, w,
                          scale, bias, act, residual ? residual + i * rows * n_out : NULL, out + i * rows * n_out);
}

/* pixels [n][h][w][channels] -> cur [n][oh][ow][stem_dim]: a 3x3 stride-2 convolution with its
 * batch norm and activation, as one product over the windows. */
static void stem(const pass *ps, vision_buffers *buf, const float *pixels, int *h, int *w)
{
    const vision_config *v = ps->ew->cfg;
    int oh = im2col_3x3s2_size(*h), ow = im2col_3x3s2_size(*w);
    float *patches = buf->expanded; /* [n][oh][ow][9 * channels] */
    im2col_3x3s2(ps->pool, pixels, ps->n, *h, *w, v->num_channels, patches);
    conv1x1(ps, (long)oh * ow, v->stem_dim, 9 * v->num_channels, patches, ps->ew->stem_w, NULL, ps->ew->stem_b,
            v->act, NULL, buf->cur);
    *h = oh;
    *w = ow;
    if (ps->tap) ps->tap(ps->tap_ctx, -1, buf->cur, ps->first, ps->n, oh, ow, v->stem_dim);
}

/* dw [n][hw][expand_dim] scaled by each image's gate, then next [n][hw][out_dim] = the 1x1
 * projection with its batch norm, + residual [n][hw][out_dim] when not NULL. The gate scales
 * whichever is smaller, the map or the projection's weights: X diag(g) W^T = X (W diag(g))^T. */
static void excite_project(const pass *ps, const effnet_block *eb, const vision_buffers *buf, int hw,
                           const float *residual)
{
    const vision_block *b = eb->spec;
    const kernel_table *kt = ps->ew->kernels;
    int c = b->expand_dim;
    if (!se_scales_weights(b->out_dim, hw)) {
        se_scale_maps(ps->pool, kt, &eb->se, buf->se, ps->n, hw, buf->dw);
        conv1x1(ps, hw, b->out_dim, c, buf->dw, eb->project_w, eb->project_s, eb->project_b, ACT_LINEAR, residual,
                buf->next);
        return;
    }
    float *scaled = buf->se + (size_t)ps->n * SE_FLOATS(c, b->se_dim); /* [out_dim][expand_dim] */
    for (int i = 0; i < ps->n; i++) {
        size_t at = (size_t)i * hw;
        kt->scale_columns(scaled, eb->project_w, se_gate(&eb->se, buf->se, i), b->out_dim, c);
        gemm_epilogue_cut(kt->epilogue, ps->pool, gemm_cut_alone(hw, ps->ew->row_period), hw, b->out_dim, c,
                          buf->dw + at * c, scaled, eb->project_s, eb->project_b, ACT_LINEAR,
                          residual ? residual + at * b->out_dim : NULL, buf->next + at * b->out_dim);
    }
}

/* One MBConv block: cur [n][h][w][in_dim] -> cur [n][oh][ow][out_dim]. */
static void block(const pass *ps, int i, vision_buffers *buf, int *h, int *w)
{
    const effnet_block *eb = &ps->ew->blocks[i];
    const vision_block *b = eb->spec;
    const kernel_table *kt = ps->ew->kernels;
    act_kind act = ps->ew->cfg->act;
    /* expand: cur -> expanded [n][h][w][expand_dim], a 1x1 convolution + batch norm + act */
    const float *x = buf->cur;
    if (b->has_expand) {
        conv1x1(ps, (long)*h * *w, b->expand_dim, b->in_dim, buf->cur, eb->expand_w, eb->expand_s, eb->expand_b,
                act, NULL, buf->expanded);
        x = buf->expanded;
    }
    /* depthwise: x -> dw [n][oh][ow][expand_dim], k x k per channel + batch norm + act, and each
     * band's channel sums -> sums [n][bands][expand_dim] */
    int pad_y, pad_x, oh = vision_block_output(b, *h, &pad_y), ow = vision_block_output(b, *w, &pad_x);
    int rows = depthwise_rows_per_band(oh);
    depthwise_job dj = {x, eb->dw_w, eb->dw_b, buf->dw, buf->sums, buf->rowsums, *h, *w, oh, ow, b->expand_dim,
                        b->kernel, b->stride, pad_y, pad_x, rows, (oh + rows - 1) / rows, act};
    depthwise_run(ps->pool, kt->depthwise_row, &dj, ps->n);
    /* squeeze: sums -> se [n][SE_FLOATS]: each image's gate, one per channel */
    se_gates(ps->pool, &eb->se, buf->sums, dj.bands, oh * ow, act, ps->n, buf->se);
    /* excite and project, adding the block's input back when it has a residual:
     * dw -> next [n][oh][ow][out_dim] */
    excite_project(ps, eb, buf, oh * ow, b->residual ? buf->cur : NULL);
    /* next becomes cur */
    float *t = buf->cur;
    buf->cur = buf->next;
    buf->next = t;
    *h = oh;
    *w = ow;
    if (ps->tap) ps->tap(ps->tap_ctx, i, buf->cur, ps->first, ps->n, oh, ow, b->out_dim);
}

/* x [n][hw][out_dim] -> pooled [n][out_dim]: the mean, or the max, over the map. */
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

static align_status check_size(const vision_config *v, int n, int h, int w, align_error *err)
{
    int fh, fw;
    if (n <= 0 || h < 2 || w < 2) return align_fail(err, ALIGN_ERR_ARG, "no image to encode");
    effnet_output_size(v, h, w, &fh, &fw);
    if (fh < 1 || fw < 1)
        return align_fail(err, ALIGN_ERR_INPUT, "a %dx%d input is too small for the vision tower", w, h);
    /* Hugging Face pools with a hidden_dim-sized window; only a map that fits in it gives one vector */
    if (fh > v->hidden_dim || fw > v->hidden_dim)
        return align_fail(err, ALIGN_ERR_INPUT, "a %dx%d input leaves a %dx%d map, larger than the pooling window (hidden_dim %d)",
                          w, h, fw, fh, v->hidden_dim);
    return ALIGN_OK;
}

align_status effnet_encode(const effnet_weights *ew, const float *pixels, int n, int h, int w, float *pooled,
                           thread_pool *pool, float *workspace, effnet_tap tap, void *tap_ctx, align_error *err)
{
    const vision_config *v = ew->cfg;
    align_status s = check_size(v, n, h, w, err);
    if (s) return s;
    vision_plan plan = vision_plan_make(v, ew->batch_below, ew->row_period, n, h, w);
    float *owned = NULL;
    if (!workspace && !(workspace = owned = malloc(sizeof(float) * plan.floats)))
        return align_fail(err, ALIGN_ERR_NOMEM, "out of memory for %d images of %dx%d", n, w, h);
    vision_buffers buf = vision_plan_carve(&plan, workspace);
    int oh = h, ow = w;
    /* the early blocks, image by image: pixels [1][h][w][channels] -> gather [n][oh][ow][c] */
    for (int i = 0; plan.early && i < n; i++) {
        pass one = {ew, pool, 1, i, tap, tap_ctx, buf.padded};
        vision_buffers mine = buf;
        oh = h, ow = w;
        stem(&one, &mine, pixels + (size_t)i * h * w * v->num_channels, &oh, &ow);
        for (int b = 0; b < plan.early; b++) block(&one, b, &mine, &oh, &ow);
        size_t count = (size_t)oh * ow * v->blocks[plan.early - 1].out_dim;
        memcpy(buf.gather + i * count, mine.cur, sizeof(float) * count);
    }
    /* the rest on the whole batch: pixels [n][h][w][channels] (or gather) -> cur [n][oh][ow][out_dim] */
    pass all = {ew, pool, n, 0, tap, tap_ctx, buf.padded};
    if (plan.early)
        buf.cur = buf.gather;
    else
        stem(&all, &buf, pixels, &oh, &ow);
    for (int b = plan.early; b < v->n_blocks; b++) block(&all, b, &buf, &oh, &ow);
    /* pool: cur -> pooled [n][out_dim] */
    pool_features(v, buf.cur, n, oh * ow, pooled);
    free(owned);
    return ALIGN_OK;
}
