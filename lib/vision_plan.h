/* vision_plan.h: the vision tower's workspace for a batch, and the batch split: the first blocks,
 * whose maps are large, run one image at a time (their maps stay in cache, and their products are
 * tall enough without the batch); the rest run on the whole batch at once, where stacking the
 * images raises the products' height. */
#ifndef ALIGN_VISION_PLAN_H
#define ALIGN_VISION_PLAN_H

#include <stddef.h>

#include "config.h"

typedef struct {
    int early; /* blocks [0, early) run one image at a time; 0 for a batch of one */
    /* float counts of each buffer (sums: doubles) */
    size_t map, gather, expanded, dw, se, sums, rowsums, padded, floats;
} vision_plan;

typedef struct {
    float *cur, *next; /* a block's input and output maps, swapped after each block */
    float *gather;     /* [n][h][w][c]: the batch's maps after the early blocks; a map buffer after */
    float *expanded;   /* the expansion's output [k][h][w][expand_dim], or the stem's patches */
    float *dw;         /* the depthwise output [k][oh][ow][expand_dim] */
    float *se;         /* [k][SE_FLOATS], then the projection's weights scaled by one gate */
    double *sums;      /* [k][DEPTHWISE_BANDS][expand_dim] */
    float *rowsums;    /* [k][DEPTHWISE_BANDS][expand_dim] */
    float *padded;     /* a 1x1 convolution's input and output with each image's rows padded to
                        * whole groups of the row period (vision_padded_rows) */
} vision_buffers;

/* A block's output size along one axis, and its depthwise padding before (top or left). */
int vision_block_output(const vision_block *b, int in, int *pad_before);

/* The rows an image's product is padded to so that images can share it (cpu.h, blas_row_period:
 * period 0 or 1 needs none), or 0 when it runs unpadded: a whole number of periods already, or
 * too few rows to share a product. */
long vision_padded_rows(int row_period, long rows);

/* The plan for n images of h x w: blocks whose input has at least batch_below pixels are early;
 * row_period as effnet_weights has it. */
vision_plan vision_plan_make(const vision_config *v, int batch_below, int row_period, int n, int h, int w);
/* The buffers in a workspace of plan->floats floats (8-byte aligned). */
vision_buffers vision_plan_carve(const vision_plan *plan, float *workspace);

#endif
