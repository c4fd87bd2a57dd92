/* efficientnet.h: the vision tower, Hugging Face's AlignVisionModel (EfficientNet without its top
 * convolution) and the pooling that makes its output the image embedding.
 *
 * Activations are HWC (channels innermost), a batch of images stacked row after row, so every 1x1
 * convolution is a single matrix product over all pixels of all images. Batch norm becomes a
 * per-channel scale and bias at load, folded into the small stem and depthwise weights and applied
 * as the 1x1 products are written. */
#ifndef ALIGN_EFFICIENTNET_H
#define ALIGN_EFFICIENTNET_H

#include "config.h"
#include "kernels.h"
#include "parallel.h"
#include "squeeze_excite.h"
#include "weights.h"

typedef struct {
    const vision_block *spec;
    const float *expand_w;            /* [expand_dim, in_dim]; NULL without expansion */
    float *expand_s, *expand_b;       /* [expand_dim] each: its batch norm as a scale and bias */
    float *dw_w;                      /* [k * k, expand_dim], batch norm's scale folded in */
    float *dw_b;                      /* [expand_dim]: batch norm's shift */
    se_weights se;                    /* reduce [se_dim, expand_dim], expand [expand_dim, se_dim] */
    const float *project_w;           /* [out_dim, expand_dim] */
    float *project_s, *project_b;     /* [out_dim] each: its batch norm as a scale and bias */
} effnet_block;

typedef struct {
    const vision_config *cfg;
    float *stem_w;          /* [stem_dim, 3 * 3 * channels] (ky, kx, c innermost), BN folded */
    float *stem_b;          /* [stem_dim] */
    effnet_block *blocks;   /* [n_blocks] */
    /* the hot loops at the ISA level chosen at load: the CPU's, unless the model handle caps it */
    const kernel_table *kernels;
    /* Blocks whose input map has at least this many pixels run one image at a time even in a batch:
     * their maps are large enough to leave the cache, and their products tall enough without the
     * batch. The later, smaller ones run as one batch, where stacking raises the products' height. */
    int batch_below;
    /* When a batch's 1x1 convolutions may run as one product over all its images: only where
     * OpenBLAS gives each image's rows the bits it gives them alone, so that an embedding never
     * depends on what shares its batch (cpu.h, blas_row_period: 1, any rows an image; 12, whole
     * 12-row groups; 0, never). Elsewhere one product per image. */
    int row_period;
} effnet_weights;

/* Called after the stem (block -1) and after each block with the feature maps (HWC) of images
 * first .. first + n - 1 of the batch. */
typedef void (*effnet_tap)(void *ctx, int block, const float *x, int first, int n, int h, int w, int c);

void effnet_specs(const align_config *cfg, spec_list *list);
align_status effnet_load(effnet_weights *ew, const align_config *cfg, weight_store *ws, align_error *err);
void effnet_free(effnet_weights *ew);

/* The last feature map's size for an h x w input. */
void effnet_output_size(const vision_config *cfg, int h, int w, int *out_h, int *out_w);

/* Floats of scratch effnet_encode needs for n images of h x w. */
size_t effnet_workspace_floats(const effnet_weights *ew, int n, int h, int w);

/* n images of h x w x channels (HWC) -> n x out_dim pooled features (not normalised). workspace
 * holds effnet_workspace_floats() floats, or is NULL to allocate it for this call. */
align_status effnet_encode(const effnet_weights *ew, const float *pixels, int n, int h, int w,
                           float *pooled, thread_pool *pool, float *workspace, effnet_tap tap,
                           void *tap_ctx, align_error *err);

#endif
