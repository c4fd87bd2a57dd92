/* resample.h: PIL's Image.resize reproduced bit for bit on 8-bit RGB. */
#ifndef ALIGN_RESAMPLE_H
#define ALIGN_RESAMPLE_H

#include "align.h"
#include "resample_row.h"

/* PIL resample filter numbers, as preprocessor_config.json writes them. */
enum { RESAMPLE_NEAREST = 0, RESAMPLE_LANCZOS = 1, RESAMPLE_BILINEAR = 2, RESAMPLE_BICUBIC = 3,
       RESAMPLE_BOX = 4, RESAMPLE_HAMMING = 5 };

/* PIL's Image.resize on 8-bit RGB with the given filter, its horizontal pass by row (a kernel
 * table's, or resample_row_reference); out->rgb is malloc'ed. */
align_status image_resize(const align_image *in, int out_w, int out_h, int filter, resample_row_fn row,
                          align_image *out, align_error *err);

/* The pieces of image_resize that resize_feed.c runs on rows as they come. */
/* Pillow's weights for one axis from in_size to out_size samples (filter: not RESAMPLE_NEAREST);
 * free them with resample_weights_free. */
align_status resample_weights_make(resample_weights *a, int in_size, int out_size, int filter, align_error *err);
void resample_weights_free(resample_weights *a);
/* The vertical pass: out_h rows of w RGB pixels from in, which holds the source rows from row y0
 * on; acc is scratch for w * 3 sums. */
void resample_vertical(const uint8_t *in, int w, uint8_t *out, int out_h, int y0, const resample_weights *a,
                       int32_t *acc);

#endif
