/* preprocess.h: Hugging Face's EfficientNetImageProcessor (transformers 4.27), from an RGB image to
 * the floats the vision tower takes. */
#ifndef ALIGN_PREPROCESS_H
#define ALIGN_PREPROCESS_H

#include "align.h"
#include "resample_row.h"

/* What preprocessor_config.json says; absent keys take EfficientNetImageProcessor's defaults.
 * resample is a PIL filter number (resample.h). */
typedef struct {
    int do_resize, size_h, size_w, resample;
    int do_center_crop, crop_h, crop_w;
    int do_rescale, rescale_offset;
    double rescale_factor;
    int do_normalize;
    double image_mean[3], image_std[3];
    int include_top;
} preprocess_config;

void preprocess_config_default(preprocess_config *cfg);
/* A missing file gives the defaults. */
align_status preprocess_config_read(const char *path, preprocess_config *cfg, align_error *err);
/* The same from JSON text in memory (len bytes); name is what messages call it. */
align_status preprocess_config_parse(const char *json, size_t len, const char *name, preprocess_config *cfg,
                                     align_error *err);

/* The height and width image_preprocess produces for an image of this size. */
void preprocess_output_size(const preprocess_config *cfg, int in_w, int in_h, int *out_w, int *out_h);

/* in as the processor's resize leaves it, before the crop (a copy when it does not resize).
 * image_preprocess gives the result the floats it gives in: resizing an image to the size it has
 * is a copy, here as in PIL. row is the resize's horizontal pass (image_resize). */
align_status image_fit(const preprocess_config *cfg, resample_row_fn row, const align_image *in, align_image *out,
                       align_error *err);

/* What align_image_load_memory and then image_fit give, decoded and fitted at once (fitted_load.c):
 * a JPEG is resized row by row as it is decoded, never held at its full size; taps takes the
 * horizontal pass when the rows are the image's columns (resample.h). */
align_status image_load_fitted(const preprocess_config *cfg, resample_row_fn row, resample_taps_fn taps,
                               const void *data, size_t size, const char *name, const align_decode_options *opts,
                               align_image *out, align_error *err);

/* Resize, crop, rescale and normalise as the processor does; out receives out_h x out_w x 3
 * floats, channels innermost (HWC). */
align_status image_preprocess(const preprocess_config *cfg, resample_row_fn row, const align_image *in, float *out,
                              align_error *err);

#endif
