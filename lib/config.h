/* config.h: the model architecture from config.json (Hugging Face's AlignConfig), with the vision
 * tower's blocks derived once here so every other stage reads sizes rather than recomputing them. */
#ifndef ALIGN_CONFIG_H
#define ALIGN_CONFIG_H

#include <stddef.h>

#include "align.h"

#define CONFIG_MAX_STAGES 32
#define CONFIG_MAX_BLOCKS 4096

/* The activation names of Hugging Face's ACT2FN that these models can name. */
typedef enum {
    ACT_GELU,        /* gelu, gelu_python: exact erf form */
    ACT_GELU_TANH,   /* gelu_new, gelu_pytorch_tanh, gelu_fast, gelu_accurate: tanh approximation */
    ACT_QUICK_GELU,  /* x * sigmoid(1.702 x) */
    ACT_RELU,
    ACT_RELU6,
    ACT_SILU,        /* silu, swish */
    ACT_TANH,
    ACT_SIGMOID,
    ACT_LINEAR
} act_kind;

typedef struct {
    int vocab_size, hidden_size, num_layers, num_heads, intermediate_size;
    int max_position, type_vocab_size, pad_token_id;
    act_kind act;
    double layer_norm_eps;
} text_config;

/* One MBConv block as Hugging Face's AlignVisionEncoder builds it. */
typedef struct {
    int in_dim, out_dim;
    int expand_dim;  /* in_dim * expand_ratio; == in_dim when there is no expansion conv */
    int has_expand;  /* expand_ratio != 1 */
    int se_dim;      /* max(1, int(in_dim * squeeze_expansion_ratio)) */
    int kernel, stride;
    int adjust_padding; /* stride-2 padding is (k/2-1, k/2) rather than (k/2, k/2) */
    int residual;       /* repeated blocks of a stage add their input */
} vision_block;

typedef enum { POOL_MEAN, POOL_MAX } pool_kind;

typedef struct {
    int num_channels, image_size;
    double width_coefficient, depth_coefficient;
    int depth_divisor;
    int n_stages;
    int kernel_sizes[CONFIG_MAX_STAGES], in_channels[CONFIG_MAX_STAGES],
        out_channels[CONFIG_MAX_STAGES], strides[CONFIG_MAX_STAGES],
        expand_ratios[CONFIG_MAX_STAGES], num_block_repeats[CONFIG_MAX_STAGES];
    int n_depthwise_padding, depthwise_padding[CONFIG_MAX_BLOCKS];
    double se_ratio;
    act_kind act;
    int hidden_dim;
    pool_kind pooling;
    double batch_norm_eps;
    /* derived */
    int stem_dim;
    int n_blocks;
    vision_block *blocks;
    int out_dim; /* channels of the last feature map */
} vision_config;

typedef struct {
    text_config text;
    vision_config vision;
    int projection_dim;
} align_config;

/* Parses config.json text; name is used in messages. Absent keys take Hugging Face's defaults. */
align_status config_parse(const char *json, size_t len, const char *name, align_config *cfg,
                          align_error *err);
align_status config_read(const char *path, align_config *cfg, align_error *err);
void config_free(align_config *cfg);

/* Looks up an activation name; returns 0 when Hugging Face has no such name for these models. */
int act_from_name(const char *name, act_kind *out);

#endif
