/* image_limits.c: the size checks and errors every decoder reports alike. */
#include "image_limits.h"

#include "error.h"

uint64_t image_pixel_limit(const align_decode_options *opts)
{
    return opts && opts->max_pixels ? opts->max_pixels : ALIGN_DEFAULT_MAX_PIXELS;
}

align_status image_over_limit(const char *name, uint64_t w, uint64_t h, uint64_t limit, align_error *err)
{
    return align_fail(err, ALIGN_ERR_LIMIT, "%s: %llu x %llu pixels is over the limit of %llu", name,
                      (unsigned long long)w, (unsigned long long)h, (unsigned long long)limit);
}

align_status image_check_size(const char *name, const char *format, int w, int h, uint64_t max_pixels,
                              align_error *err)
{
    if (w <= 0 || h <= 0)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: %s image of %d x %d pixels", name, format, w, h);
    if ((uint64_t)w * (uint64_t)h > max_pixels)
        return image_over_limit(name, (uint64_t)w, (uint64_t)h, max_pixels, err);
    return ALIGN_OK;
}

/* Decoders report a failed allocation as such: that is not a corrupt file. */
align_status image_out_of_memory(const char *name, int w, int h, align_error *err)
{
    return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory decoding %d x %d pixels", name, w, h);
}
