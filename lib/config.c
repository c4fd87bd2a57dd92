#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "jsonutil.h"

/* Limits far above any real ALIGN or BERT, low enough that no size derived from them overflows
 * and no allocation can be absurd. */
#define MAX_DIM (1 << 16)
#define MAX_VOCAB (1 << 22)
#define MAX_LAYERS 1024
#define MAX_POSITIONS (1 << 16)
#define MAX_KERNEL 31
#define MAX_EXPAND 64
#define MAX_REPEATS 256
#define MAX_IMAGE 16384
/* A model larger than this (8 G parameters, 32 GB of float32) is refused before allocating. */
#define MAX_PARAMETERS (INT64_C(1) << 33)

int act_from_name(const char *name, act_kind *out)
{
    static const struct {
        const char *name;
        act_kind act;
    } table[] = {
        {"gelu", ACT_GELU},           {"gelu_python", ACT_GELU},     {"gelu_new", ACT_GELU_TANH},
        {"gelu_pytorch_tanh", ACT_GELU_TANH}, {"gelu_fast", ACT_GELU_TANH}, {"gelu_accurate", ACT_GELU_TANH},
        {"quick_gelu", ACT_QUICK_GELU}, {"relu", ACT_RELU},          {"relu6", ACT_RELU6},
        {"silu", ACT_SILU},           {"swish", ACT_SILU},           {"tanh", ACT_TANH},
        {"sigmoid", ACT_SIGMOID},     {"linear", ACT_LINEAR},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(name, table[i].name) == 0) {
            *out = table[i].act;
            return 1;
        }
    return 0;
}

static align_status read_act(const cJSON *obj, const char *ctx, act_kind *out, align_error *err)
{
    char name[64] = "";
    align_status s = json_string(obj, "hidden_act", ctx, name, sizeof name, err);
    if (s || !name[0]) return s;
    if (!act_from_name(name, out))
        return align_fail(err, ALIGN_ERR_CONFIG, "%s: hidden_act: unsupported activation \"%s\"", ctx, name);
    return ALIGN_OK;
}

static void text_defaults(text_config *t)
{
    *t = (text_config){.vocab_size = 30522, .hidden_size = 768, .num_layers = 12, .num_heads = 12,
                       .intermediate_size = 3072, .max_position = 512, .type_vocab_size = 2,
                       .pad_token_id = 0, .act = ACT_GELU, .layer_norm_eps = 1e-12};
}

static align_status parse_text(const cJSON *o, const char *ctx, text_config *t, align_error *err)
{
    align_status s;
    if ((s = json_int(o, "vocab_size", ctx, 1, MAX_VOCAB, &t->vocab_size, err)) ||
        (s = json_int(o, "hidden_size", ctx, 1, MAX_DIM, &t->hidden_size, err)) ||
        (s = json_int(o, "num_hidden_layers", ctx, 1, MAX_LAYERS, &t->num_layers, err)) ||
        (s = json_int(o, "num_attention_heads", ctx, 1, MAX_DIM, &t->num_heads, err)) ||
        (s = json_int(o, "intermediate_size", ctx, 1, 4 * MAX_DIM, &t->intermediate_size, err)) ||
        (s = json_int(o, "max_position_embeddings", ctx, 3, MAX_POSITIONS, &t->max_position, err)) ||
        (s = json_int(o, "type_vocab_size", ctx, 1, 1024, &t->type_vocab_size, err)) ||
        (s = json_int(o, "pad_token_id", ctx, 0, MAX_VOCAB, &t->pad_token_id, err)) ||
        (s = json_double(o, "layer_norm_eps", ctx, 0, 1, &t->layer_norm_eps, err)) ||
        (s = read_act(o, ctx, &t->act, err)))
        return s;
    char pos[64] = "absolute";
    if ((s = json_string(o, "position_embedding_type", ctx, pos, sizeof pos, err))) return s;
    if (strcmp(pos, "absolute") != 0)
        return align_fail(err, ALIGN_ERR_CONFIG, "%s: position_embedding_type: only \"absolute\" is supported, not \"%s\"",
                          ctx, pos);
    if (t->hidden_size % t->num_heads)
        return align_fail(err, ALIGN_ERR_CONFIG, "%s: num_attention_heads: %d does not divide hidden_size %d",
                          ctx, t->num_heads, t->hidden_size);
    return ALIGN_OK;
}

static void vision_defaults(vision_config *v)
{
    static const int kernels[] = {3, 3, 5, 3, 5, 5, 3}, ins[] = {32, 16, 24, 40, 80, 112, 192},
                     outs[] = {16, 24, 40, 80, 112, 192, 320}, strides[] = {1, 2, 2, 2, 1, 2, 1},
                     repeats[] = {1, 2, 2, 3, 3, 4, 1}, expands[] = {1, 6, 6, 6, 6, 6, 6};
    memset(v, 0, sizeof *v);
    v->num_channels = 3;
    v->image_size = 600;
    v->width_coefficient = 2.0;
    v->depth_coefficient = 3.1;
    v->depth_divisor = 8;
    v->n_stages = 7;
    memcpy(v->kernel_sizes, kernels, sizeof kernels);
    memcpy(v->in_channels, ins, sizeof ins);
    memcpy(v->out_channels, outs, sizeof outs);
    memcpy(v->strides, strides, sizeof strides);
    memcpy(v->num_block_repeats, repeats, sizeof repeats);
    memcpy(v->expand_ratios, expands, sizeof expands);
    v->se_ratio = 0.25;
    v->act = ACT_SILU;
    v->hidden_dim = 2560;
    v->pooling = POOL_MEAN;
    v->batch_norm_eps = 1e-3;
}

/* The six per-stage lists must agree in length; n_stages takes the first list's. */
static align_status read_stage_list(const cJSON *o, const char *key, const char *ctx, long lo, long hi,
                                    int *out, int *n_stages, int *seen, align_error *err)
{
    int n = -1;
    align_status s = json_int_array(o, key, ctx, lo, hi, out, CONFIG_MAX_STAGES, &n, err);
    if (s || n < 0) return s;
    if (n == 0) return align_fail(err, ALIGN_ERR_CONFIG, "%s: %s: empty", ctx, key);
    if (*seen && n != *n_stages)
        return align_fail(err, ALIGN_ERR_CONFIG, "%s: %s: %d entries where the other stage lists have %d",
                          ctx, key, n, *n_stages);
    *n_stages = n;
    *seen = 1;
    return ALIGN_OK;
}

static align_status parse_vision_lists(const cJSON *o, const char *ctx, vision_config *v, align_error *err)
{
    int seen = 0, n = v->n_stages;
    align_status s;
    if ((s = read_stage_list(o, "kernel_sizes", ctx, 1, MAX_KERNEL, v->kernel_sizes, &n, &seen, err)) ||
        (s = read_stage_list(o, "in_channels", ctx, 1, MAX_DIM, v->in_channels, &n, &seen, err)) ||
        (s = read_stage_list(o, "out_channels", ctx, 1, MAX_DIM, v->out_channels, &n, &seen, err)) ||
        (s = read_stage_list(o, "strides", ctx, 1, 2, v->strides, &n, &seen, err)) ||
        (s = read_stage_list(o, "expand_ratios", ctx, 1, MAX_EXPAND, v->expand_ratios, &n, &seen, err)) ||
        (s = read_stage_list(o, "num_block_repeats", ctx, 1, MAX_REPEATS, v->num_block_repeats, &n, &seen, err)))
        return s;
    /* a list given alone must still match the defaults' length */
    if (seen && n != v->n_stages) {
        static const char *keys[] = {"kernel_sizes", "in_channels", "out_channels", "strides",
                                     "expand_ratios", "num_block_repeats"};
        for (int i = 0; i < 6; i++)
            if (!cJSON_GetObjectItemCaseSensitive(o, keys[i]))
                return align_fail(err, ALIGN_ERR_CONFIG, "%s: %s: missing, and the other stage lists have %d entries",
                                  ctx, keys[i], n);
    }
    v->n_stages = n;
    for (int i = 0; i < n; i++)
        if (v->kernel_sizes[i] % 2 == 0)
            return align_fail(err, ALIGN_ERR_CONFIG, "%s: kernel_sizes: %d is even", ctx, v->kernel_sizes[i]);
    return ALIGN_OK;
}

static align_status parse_vision(const cJSON *o, const char *ctx, vision_config *v, align_error *err)
{
    align_status s;
    char pooling[16] = "mean";
    if ((s = json_int(o, "num_channels", ctx, 1, 64, &v->num_channels, err)) ||
        (s = json_int(o, "image_size", ctx, 1, MAX_IMAGE, &v->image_size, err)) ||
        (s = json_double(o, "width_coefficient", ctx, 1e-3, 100, &v->width_coefficient, err)) ||
        (s = json_double(o, "depth_coefficient", ctx, 1e-3, 100, &v->depth_coefficient, err)) ||
        (s = json_int(o, "depth_divisor", ctx, 1, 1024, &v->depth_divisor, err)) ||
        (s = parse_vision_lists(o, ctx, v, err)) ||
        (s = json_int_array(o, "depthwise_padding", ctx, 0, CONFIG_MAX_BLOCKS, v->depthwise_padding,
                            CONFIG_MAX_BLOCKS, &v->n_depthwise_padding, err)) ||
        (s = json_double(o, "squeeze_expansion_ratio", ctx, 1e-6, 64, &v->se_ratio, err)) ||
        (s = json_int(o, "hidden_dim", ctx, 1, 1 << 20, &v->hidden_dim, err)) ||
        (s = json_double(o, "batch_norm_eps", ctx, 0, 1, &v->batch_norm_eps, err)) ||
        (s = read_act(o, ctx, &v->act, err)) ||
        (s = json_string(o, "pooling_type", ctx, pooling, sizeof pooling, err)))
        return s;
    if (strcmp(pooling, "mean") == 0)
        v->pooling = POOL_MEAN;
    else if (strcmp(pooling, "max") == 0)
        v->pooling = POOL_MAX;
    else
        return align_fail(err, ALIGN_ERR_CONFIG, "%s: pooling_type: \"%s\" is neither \"mean\" nor \"max\"", ctx, pooling);
    if (v->num_channels != 3)
        return align_fail(err, ALIGN_ERR_CONFIG, "%s: num_channels: %d, but images are RGB (3)", ctx, v->num_channels);
    return ALIGN_OK;
}

/* Hugging Face's round_filters: scale by the width coefficient, round to the divisor. */
static long round_filters(const vision_config *v, int channels)
{
    double c = channels * v->width_coefficient;
    int d = v->depth_divisor;
    long dim = (long)(c + d / 2.0) / d * d;
    if (dim < d) dim = d;
    if (dim < 0.9 * c) dim += d;
    return dim;
}

static int in_depthwise_padding(const vision_config *v, int block)
{
    for (int i = 0; i < v->n_depthwise_padding; i++)
        if (v->depthwise_padding[i] == block) return 1;
    return 0;
}

static align_status derive_blocks(vision_config *v, const char *ctx, align_error *err)
{
    long total = 0;
    int repeats[CONFIG_MAX_STAGES];
    for (int i = 0; i < v->n_stages; i++) {
        repeats[i] = (int)ceil(v->depth_coefficient * v->num_block_repeats[i]);
        total += repeats[i];
    }
    if (total > CONFIG_MAX_BLOCKS)
        return align_fail(err, ALIGN_ERR_CONFIG, "%s: num_block_repeats: %ld blocks after depth_coefficient, at most %d",
                          ctx, total, CONFIG_MAX_BLOCKS);
    v->blocks = calloc((size_t)total, sizeof *v->blocks);
    if (!v->blocks) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", ctx);
    v->n_blocks = (int)total;
    long stem = round_filters(v, 32);
    if (stem > MAX_DIM) return align_fail(err, ALIGN_ERR_CONFIG, "%s: width_coefficient: stem too wide", ctx);
    v->stem_dim = (int)stem;
    int b = 0;
    for (int i = 0; i < v->n_stages; i++) {
        long in = round_filters(v, v->in_channels[i]), out = round_filters(v, v->out_channels[i]);
        if (in > MAX_DIM || out > MAX_DIM)
            return align_fail(err, ALIGN_ERR_CONFIG, "%s: width_coefficient: stage %d too wide", ctx, i);
        for (int j = 0; j < repeats[i]; j++, b++) {
            vision_block *k = &v->blocks[b];
            k->in_dim = (int)(j ? out : in);
            k->out_dim = (int)out;
            k->has_expand = v->expand_ratios[i] != 1;
            k->expand_dim = k->in_dim * v->expand_ratios[i];
            k->se_dim = (int)(k->in_dim * v->se_ratio);
            if (k->se_dim < 1) k->se_dim = 1;
            if (k->se_dim > 4 * MAX_DIM)
                return align_fail(err, ALIGN_ERR_CONFIG, "%s: squeeze_expansion_ratio: too large", ctx);
            k->kernel = v->kernel_sizes[i];
            k->stride = j ? 1 : v->strides[i];
            k->adjust_padding = !in_depthwise_padding(v, b);
            k->residual = j > 0;
        }
    }
    /* Hugging Face builds each stage from its own in_channels, so a list that does not chain (a
     * stage taking other than what the one before it gives) builds a model no input can run
     * through; the tower here would read its activations with the wrong width. */
    for (int i = 0, prev = v->stem_dim, first = 0; i < v->n_stages; first += repeats[i], i++) {
        if (v->blocks[first].in_dim != prev)
            return align_fail(err, ALIGN_ERR_CONFIG,
                              "%s: in_channels[%d]: %d channels (after width_coefficient), but %s gives %d",
                              ctx, i, v->blocks[first].in_dim, i ? "the stage before" : "the stem", prev);
        prev = v->blocks[first + repeats[i] - 1].out_dim;
    }
    v->out_dim = v->blocks[v->n_blocks - 1].out_dim;
    return ALIGN_OK;
}

/* Refuses a config whose weights alone would exceed MAX_PARAMETERS, before anything is allocated
 * from it. Every term is bounded by the per-key limits, so int64 cannot overflow here. */
static align_status check_size(const align_config *c, const char *name, align_error *err)
{
    const text_config *t = &c->text;
    int64_t h = t->hidden_size, n = (int64_t)t->vocab_size * h + (int64_t)t->max_position * h;
    n += (int64_t)t->num_layers * (4 * h * h + 2 * h * t->intermediate_size);
    n += (int64_t)c->projection_dim * h;
    for (int i = 0; i < c->vision.n_blocks; i++) {
        const vision_block *b = &c->vision.blocks[i];
        n += (int64_t)b->in_dim * b->expand_dim + (int64_t)b->expand_dim * b->kernel * b->kernel +
             2 * (int64_t)b->expand_dim * b->se_dim + (int64_t)b->expand_dim * b->out_dim;
    }
    if (n > MAX_PARAMETERS)
        return align_fail(err, ALIGN_ERR_CONFIG, "%s: the sizes describe %lld parameters, more than the %lld this build accepts",
                          name, (long long)n, (long long)MAX_PARAMETERS);
    return ALIGN_OK;
}

static align_status sub_object(const cJSON *root, const char *key, const char *name, const cJSON **out,
                               align_error *err)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = NULL;
    if (!o || cJSON_IsNull(o)) return ALIGN_OK;
    if (!cJSON_IsObject(o)) return align_fail(err, ALIGN_ERR_CONFIG, "%s: %s: expected an object", name, key);
    *out = o;
    return ALIGN_OK;
}

static align_status parse_root(const cJSON *root, const char *name, align_config *cfg, align_error *err)
{
    char text_ctx[512], vision_ctx[512];
    snprintf(text_ctx, sizeof text_ctx, "%s: text_config", name);
    snprintf(vision_ctx, sizeof vision_ctx, "%s: vision_config", name);
    const cJSON *text, *vision;
    align_status s;
    if ((s = sub_object(root, "text_config", name, &text, err)) ||
        (s = sub_object(root, "vision_config", name, &vision, err)) ||
        (s = json_int(root, "projection_dim", name, 1, MAX_DIM, &cfg->projection_dim, err)) ||
        (text && (s = parse_text(text, text_ctx, &cfg->text, err))) ||
        (vision && (s = parse_vision(vision, vision_ctx, &cfg->vision, err))) ||
        (s = derive_blocks(&cfg->vision, vision_ctx, err)))
        return s;
    /* ALIGN has no image projection: the pooled features are the embedding */
    if (cfg->vision.out_dim != cfg->projection_dim)
        return align_fail(err, ALIGN_ERR_CONFIG,
                          "%s: projection_dim: %d, but the vision tower ends with %d channels (out_channels, width_coefficient)",
                          name, cfg->projection_dim, cfg->vision.out_dim);
    return check_size(cfg, name, err);
}

align_status config_parse(const char *json, size_t len, const char *name, align_config *cfg,
                          align_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    text_defaults(&cfg->text);
    vision_defaults(&cfg->vision);
    cfg->projection_dim = 640;
    cJSON *root;
    align_status s = json_parse_object(json, len, name, &root, err);
    if (s) return s;
    s = parse_root(root, name, cfg, err);
    cJSON_Delete(root);
    if (s) config_free(cfg);
    return s;
}

align_status config_read(const char *path, align_config *cfg, align_error *err)
{
    char *text;
    size_t len;
    memset(cfg, 0, sizeof *cfg);
    align_status s = file_read_all(path, 16u << 20, &text, &len, err);
    if (s) return s;
    s = config_parse(text, len, path, cfg, err);
    free(text);
    return s;
}

void config_free(align_config *cfg)
{
    free(cfg->vision.blocks);
    cfg->vision.blocks = NULL;
    cfg->vision.n_blocks = 0;
}
