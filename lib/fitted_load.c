/* fitted_load.c: an image decoded straight to the size the model's processor resizes it to. A
 * JPEG's rows go through the resize as they are decoded (resample.h), so a batch of photos
 * being decoded at once holds none at full size; other formats are decoded whole, then fitted. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image_decode.h"
#include "image_limits.h"
#include "preprocess.h"
#include "resample.h"

typedef struct {
    const preprocess_config *cfg;
    resample_row_fn resample_row;
    resample_taps_fn resample_taps;
    int orientation;
    resize_feed feed;
    uint8_t *row; /* one decoded row, 4 bytes a pixel (image_rows) */
} feed_rows;

static align_status feed_begin(void *ctx, const char *name, int w, int h, align_error *err)
{
    feed_rows *f = ctx;
    align_status s = resize_feed_begin(&f->feed, w, h, f->orientation, f->cfg->size_w, f->cfg->size_h,
                                       f->cfg->resample, f->resample_row, f->resample_taps, err);
    if (s) return s;
    if (!(f->row = malloc((size_t)w * 4))) return image_out_of_memory(name, w, h, err);
    return ALIGN_OK;
}

static uint8_t *feed_row(void *ctx, int y)
{
    (void)y;
    return ((feed_rows *)ctx)->row;
}

static void feed_done(void *ctx, int y, const uint8_t *rgb)
{
    resize_feed_row(&((feed_rows *)ctx)->feed, y, rgb);
}

align_status image_load_fitted(const preprocess_config *cfg, resample_row_fn row, resample_taps_fn taps,
                               const void *data, size_t size, const char *name, const align_decode_options *opts,
                               align_image *out, align_error *err)
{
    if (!name) name = "(image)";
    if (out) memset(out, 0, sizeof *out);
    int orientation = 1;
    image_row_decoder *decode = NULL;
    if (out && data && cfg->do_resize && cfg->resample != RESAMPLE_NEAREST)
        decode = image_rows_decoder(data, size, &orientation);
    if (!decode) { /* decoded whole: align_image_load_memory's checks and messages, then the fit */
        align_image full;
        align_status s = align_image_load_memory(data, size, name, opts, &full, err);
        if (s) return s;
        s = image_fit(cfg, row, &full, out, err);
        align_image_free(&full);
        return s;
    }
    feed_rows f = {cfg, row, taps, orientation, {0}, NULL};
    image_rows to = {feed_begin, feed_row, feed_done, &f};
    align_status s = decode(data, size, name, image_pixel_limit(opts), &to, err);
    if (!s) s = resize_feed_finish(&f.feed, out, err);
    resize_feed_free(&f.feed);
    free(f.row);
    return s;
}
