/* image_limits.h: what a decoder checks before it allocates pixels, and the errors every decoder
 * reports alike. */
#ifndef ALIGN_IMAGE_LIMITS_H
#define ALIGN_IMAGE_LIMITS_H

#include <stdint.h>

#include "align.h"

/* The pixel limit opts sets (NULL or 0: ALIGN_DEFAULT_MAX_PIXELS). */
uint64_t image_pixel_limit(const align_decode_options *opts);
/* ALIGN_ERR_FORMAT for a side below 1, ALIGN_ERR_LIMIT over max_pixels; format names the format. */
align_status image_check_size(const char *name, const char *format, int w, int h, uint64_t max_pixels,
                              align_error *err);
/* ALIGN_ERR_LIMIT: w x h pixels is over the limit. */
align_status image_over_limit(const char *name, uint64_t w, uint64_t h, uint64_t limit, align_error *err);
/* ALIGN_ERR_NOMEM while decoding w x h pixels. */
align_status image_out_of_memory(const char *name, int w, int h, align_error *err);

#endif
