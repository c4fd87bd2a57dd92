/* image.h: decoding (stb_image + EXIF orientation) and Hugging Face's EfficientNetImageProcessor,
 * with PIL's resampling reproduced exactly. The public part is in align.h. */
#ifndef ALIGN_IMAGE_H
#define ALIGN_IMAGE_H

#include "align.h"

/* PIL resample filter numbers, as preprocessor_config.json writes them. */
enum { RESAMPLE_NEAREST = 0, RESAMPLE_LANCZOS = 1, RESAMPLE_BILINEAR = 2, RESAMPLE_BICUBIC = 3,
       RESAMPLE_BOX = 4, RESAMPLE_HAMMING = 5 };

/* What preprocessor_config.json says; absent keys take EfficientNetImageProcessor's defaults. */
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

/* Resize, crop, rescale and normalise as the processor does; out receives out_h x out_w x 3
 * floats, channels innermost (HWC). */
align_status image_preprocess(const preprocess_config *cfg, const align_image *in, float *out,
                              align_error *err);

/* PIL's Image.resize on 8-bit RGB with the given filter; out->rgb is malloc'ed. */
align_status image_resize(const align_image *in, int out_w, int out_h, int filter, align_image *out,
                          align_error *err);

#endif
