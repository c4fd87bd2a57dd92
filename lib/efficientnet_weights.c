/* efficientnet_weights.c: the vision tower's tensors, and their load: batch norm turned into a
 * per-channel scale and bias, folded into the small stem and depthwise weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "efficientnet.h"
#include "error.h"

#define VISION "vision_model"

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
    const float **se[4] = {&eb->se.reduce_w, &eb->se.reduce_b, &eb->se.expand_w, &eb->se.expand_b};
    eb->se.c = b->expand_dim;
    eb->se.d = b->se_dim;
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
    ew->kernels = kernel_table_at(kernel_cpu_level());
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
