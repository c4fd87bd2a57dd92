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

#endif
