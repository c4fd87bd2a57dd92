/* resize_feed.c: an image resized as its rows are decoded (resize_feed.h). */
#include "resize_feed.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "memory.h"
#include "resample.h"

static int transposed(const resize_feed *f)
{
    return f->orientation >= 5;
}

/* Orientations whose decoded rows run right to left in the oriented image (orientation.c's map). */
static int mirrors(int orientation)
{
    return orientation == 2 || orientation == 3 || orientation == 7 || orientation == 8;
}

/* Orientations that take the decoded rows bottom to top (as rows) or right to left (as columns). */
static int reverses(int orientation)
{
    return orientation == 3 || orientation == 4 || orientation == 6 || orientation == 7;
}

static align_status no_memory(resize_feed *f, align_error *err)
{
    resize_feed_free(f);
    return align_fail(err, ALIGN_ERR_NOMEM, "resize: out of memory");
}

/* For each oriented column x, the output columns whose taps include it: [columns[x], columns[w + x]],
 * empty when the first is larger. Both ends only grow with x (Pillow's windows slide), so one sweep
 * finds them, and the widest such range is how many columns are ever in progress at once. */
static void tap_columns(resize_feed *f, int w)
{
    const resample_weights *a = &f->ah;
    int lo = 0, hi = -1;
    f->ring = 1;
    for (int x = 0; x < w; x++) {
        while (lo < f->out_w && a->first[lo] + a->count[lo] <= x) lo++;
        while (hi + 1 < f->out_w && a->first[hi + 1] <= x) hi++;
        f->columns[x] = lo;
        f->columns[w + x] = hi;
        if (hi - lo + 1 > f->ring) f->ring = hi - lo + 1;
    }
}

align_status resize_feed_begin(resize_feed *f, int in_w, int in_h, int orientation, int out_w, int out_h, int filter,
                               resample_row_fn row, resample_taps_fn taps, align_error *err)
{
    memset(f, 0, sizeof *f);
    if (in_w <= 0 || in_h <= 0 || out_w <= 0 || out_h <= 0 || filter == RESAMPLE_NEAREST)
        return align_fail(err, ALIGN_ERR_ARG, "resize: cannot resize %d x %d to %d x %d by rows", in_w, in_h, out_w,
                          out_h);
    if ((uint64_t)out_w * (uint64_t)out_h > ALIGN_DEFAULT_MAX_PIXELS)
        return align_fail(err, ALIGN_ERR_LIMIT, "resize: %d x %d pixels is over the limit of %llu", out_w, out_h,
                          ALIGN_DEFAULT_MAX_PIXELS);
    *f = (resize_feed){.in_w = in_w, .in_h = in_h, .orientation = orientation < 1 || orientation > 8 ? 1 : orientation,
                       .out_w = out_w, .out_h = out_h, .row = row, .taps = taps};
    int w = transposed(f) ? in_h : in_w, h = transposed(f) ? in_w : in_h; /* the oriented size */
    f->need_h = out_w != w;
    f->need_v = out_h != h;
    align_status s = ALIGN_OK;
    if ((f->need_h && (s = resample_weights_make(&f->ah, w, out_w, filter, err))) ||
        (f->need_v && (s = resample_weights_make(&f->av, h, out_h, filter, err)))) {
        resize_feed_free(f);
        return s;
    }
    f->y0 = f->need_v ? f->av.first[0] : 0;
    f->y1 = f->need_v ? f->av.first[out_h - 1] + f->av.count[out_h - 1] : h;
    size_t rows = (size_t)(f->y1 - f->y0);
    if (!(f->pass = big_malloc(rows * out_w * 3))) return no_memory(f, err);
    if (mirrors(f->orientation) && !(f->mirrored = malloc((size_t)in_w * 3))) return no_memory(f, err);
    if (!transposed(f) || !f->need_h) return ALIGN_OK;
    if (!(f->columns = malloc(sizeof(int) * 2 * (size_t)w)) || !(f->taps_left = malloc(sizeof(int) * (size_t)out_w)))
        return no_memory(f, err);
    tap_columns(f, w);
    if (!(f->sums = malloc(sizeof(int32_t) * 3 * rows * (size_t)f->ring))) return no_memory(f, err);
    for (int x = 0; x < out_w; x++) {
        f->taps_left[x] = f->ah.count[x];
        if (f->ah.count[x] == 0) /* no taps: Pillow's sum is its rounding term alone, 0 */
            for (size_t i = 0; i < rows; i++) memset(f->pass + (i * out_w + x) * 3, 0, 3);
    }
    return ALIGN_OK;
}

/* Oriented column x's pixels src[0, (y1 - y0) * 3) are tap x of the output columns that read it:
 * each one's sums take them, and a column whose last tap this is goes to the pass. */
static void add_column(resize_feed *f, int x, const uint8_t *src)
{
    const resample_weights *a = &f->ah;
    int w = f->in_h;
    size_t n = (size_t)(f->y1 - f->y0) * 3;
    for (int xo = f->columns[x]; xo <= f->columns[w + x]; xo++) {
        int32_t *sum = f->sums + (size_t)(xo % f->ring) * n, k = a->k[(size_t)xo * a->kstride + (x - a->first[xo])];
        if (f->taps_left[xo] == a->count[xo])
            for (size_t i = 0; i < n; i++) sum[i] = 1 << (RESAMPLE_PRECISION_BITS - 1);
        f->taps(sum, src, n, k);
        if (--f->taps_left[xo] == 0)
            for (size_t i = 0; i < n; i++) f->pass[(i / 3 * f->out_w + xo) * 3 + i % 3] = resample_clip8(sum[i]);
    }
}

void resize_feed_row(resize_feed *f, int y, const uint8_t *rgb)
{
    int at = reverses(f->orientation) ? f->in_h - 1 - y : y; /* the oriented row, or column, it is */
    if (f->mirrored) {
        for (int x = 0; x < f->in_w; x++) memcpy(f->mirrored + (size_t)x * 3, rgb + (size_t)(f->in_w - 1 - x) * 3, 3);
        rgb = f->mirrored;
    }
    if (!transposed(f)) {
        if (at < f->y0 || at >= f->y1) return;
        uint8_t *dst = f->pass + (size_t)(at - f->y0) * f->out_w * 3;
        if (f->need_h)
            f->row(rgb, f->in_w, dst, f->out_w, &f->ah);
        else
            memcpy(dst, rgb, (size_t)f->in_w * 3);
        return;
    }
    const uint8_t *src = rgb + (size_t)f->y0 * 3;
    if (f->need_h) {
        add_column(f, at, src);
        return;
    }
    for (int i = 0; i < f->y1 - f->y0; i++) memcpy(f->pass + ((size_t)i * f->out_w + at) * 3, src + (size_t)i * 3, 3);
}

align_status resize_feed_finish(resize_feed *f, align_image *out, align_error *err)
{
    memset(out, 0, sizeof *out);
    if (!f->need_v) { /* the pass is the image */
        out->rgb = f->pass;
        f->pass = NULL;
    } else {
        int32_t *acc = malloc(sizeof(int32_t) * 3 * (size_t)f->out_w);
        if (!acc || !(out->rgb = big_malloc((size_t)f->out_w * f->out_h * 3))) {
            free(acc);
            return align_fail(err, ALIGN_ERR_NOMEM, "resize: out of memory");
        }
        resample_vertical(f->pass, f->out_w, out->rgb, f->out_h, f->y0, &f->av, acc);
        free(acc);
    }
    out->width = f->out_w;
    out->height = f->out_h;
    return ALIGN_OK;
}

void resize_feed_free(resize_feed *f)
{
    resample_weights_free(&f->ah);
    resample_weights_free(&f->av);
    free(f->pass);
    free(f->mirrored);
    free(f->sums);
    free(f->taps_left);
    free(f->columns);
    memset(f, 0, sizeof *f);
}
