/* depthwise.h: a depthwise convolution with its batch norm folded in, the activation applied and
 * the channel sums the squeeze-excitation needs taken on the way, on HWC maps.
 *
 * depthwise_row_<level> (depthwise.c) is the tuned version, in register tiles; depthwise_row_reference
 * (depthwise_reference.c) is the plain one, the fallback for what the tiles do not take and what
 * tests/test_kernels.c checks the tiles against. depthwise_run (depthwise_bands.c) spreads the rows
 * over the thread pool. */
#ifndef ALIGN_DEPTHWISE_H
#define ALIGN_DEPTHWISE_H

#include "config.h"
#include "parallel.h"

typedef struct {
    const float *in;  /* [images][h][w][c] */
    const float *w;   /* [k * k][c], batch norm's scale folded in */
    const float *b;   /* [c], batch norm's shift */
    float *out;       /* [images][oh][ow][c] */
    double *sums;     /* [images][bands][c]: each band's channel sums of out */
    float *rowsums;   /* [images][bands][c]: scratch, one row's sums */
    int h, w_, oh, ow, c, k, stride, pad_y, pad_x, rows_per_band, bands;
    act_kind act;
} depthwise_job;

typedef void (*depthwise_row_fn)(const depthwise_job *j, const float *in, float *out, int y, float *rowsum);

/* Output row y of one image (in, out: that image's maps): out = act(window sums + b), and each
 * output value added into rowsum[c]. */
void depthwise_row_reference(const depthwise_job *j, const float *in, float *out, int y, float *rowsum);

/* The output size along one axis and the padding before it (top or left): "same" at stride 1,
 * and at stride 2 Hugging Face's ZeroPad2d, one less before when adjust_padding is set. */
int depthwise_output_size(int in, int k, int stride, int adjust_padding, int *pad_before);

/* Bands of output rows for an oh-row map (at most DEPTHWISE_BANDS), and the rows in each. */
#define DEPTHWISE_BANDS 8
int depthwise_rows_per_band(int oh);

/* Every row of every image of j (images of them), bands spread over the pool, each band's channel
 * sums in j->sums. */
void depthwise_run(thread_pool *pool, depthwise_row_fn row, const depthwise_job *j, int images);

#endif
