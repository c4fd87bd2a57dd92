/* resample.c: PIL's Image.resize on 8-bit RGB, bit for bit (Pillow's Resample.c semantics: the
 * filters, fixed-point weights per output sample, a horizontal then a vertical pass), of a whole
 * image or of one whose rows arrive as a decoder gives them, turned by its EXIF orientation on the
 * way (resample.h). */
#include "resample.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "memory.h"

typedef struct {
    double (*fn)(double);
    double support;
} resample_filter;

static double box_fn(double x) { return x > -0.5 && x <= 0.5 ? 1.0 : 0.0; }

static double triangle_fn(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double hamming_fn(double x)
{
    x = fabs(x);
    if (x == 0.0) return 1.0;
    if (x >= 1.0) return 0.0;
    x *= M_PI;
    /* Pillow writes these two constants as floats; the rounding is part of the result */
    return sin(x) / x * (0.54f + 0.46f * cos(x));
}

static double cubic_fn(double x)
{
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double sinc(double x)
{
    if (x == 0.0) return 1.0;
    x *= M_PI;
    return sin(x) / x;
}

static double lanczos_fn(double x) { return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0; }

static const resample_filter filters[] = {
    [RESAMPLE_LANCZOS] = {lanczos_fn, 3.0}, [RESAMPLE_BILINEAR] = {triangle_fn, 1.0},
    [RESAMPLE_BICUBIC] = {cubic_fn, 2.0},   [RESAMPLE_BOX] = {box_fn, 0.5},
    [RESAMPLE_HAMMING] = {hamming_fn, 1.0},
};

static void weights_free(resample_weights *a)
{
    free(a->first);
    free(a->k);
    memset(a, 0, sizeof *a);
}

/* Pillow's weights for one axis resized from in_size to out_size samples with a separable filter. */
static align_status weights_make(resample_weights *a, int in_size, int out_size, int filter, align_error *err)
{
    const resample_filter *f = &filters[filter];
    memset(a, 0, sizeof *a);
    /* Pillow passes the source box as floats: sizes above 2^24 are rounded to a float */
    double scale = (double)(float)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale; /* widen the filter when shrinking */
    double support = f->support * filterscale;
    double ksize_d = ceil(support) * 2 + 1;
    if (ksize_d + RESAMPLE_KPAD > (double)(SIZE_MAX / sizeof(double) / (size_t)out_size) ||
        ksize_d + RESAMPLE_KPAD > INT_MAX)
        return align_fail(err, ALIGN_ERR_LIMIT, "resize from %d to %d: filter too wide", in_size, out_size);
    a->kstride = (int)ksize_d + RESAMPLE_KPAD;
    a->first = malloc((size_t)out_size * 2 * sizeof(int));
    a->k = calloc((size_t)out_size * a->kstride, sizeof(int32_t));
    double *w = malloc((size_t)a->kstride * sizeof(double));
    if (!a->first || !a->k || !w) {
        free(w);
        weights_free(a);
        return align_fail(err, ALIGN_ERR_NOMEM, "resize from %d to %d: out of memory", in_size, out_size);
    }
    a->count = a->first + out_size;
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, total = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin; /* at most 2 * support + 1 <= ksize_d samples */
        for (int x = 0; x < xmax; x++) {
            w[x] = f->fn((x + xmin - center + 0.5) * ss);
            total += w[x];
        }
        int32_t *k = a->k + (size_t)xx * a->kstride;
        for (int x = 0; x < xmax; x++) {
            double v = (total != 0.0 ? w[x] / total : w[x]) * (1 << RESAMPLE_PRECISION_BITS);
            /* round half away from zero, written as Pillow does (not lround: v + 0.5 rounds first) */
            k[x] = v < 0 ? (int32_t)(-0.5 + v) : (int32_t)(0.5 + v);
        }
        a->first[xx] = xmin;
        a->count[xx] = xmax;
    }
    free(w);
    return ALIGN_OK;
}

/* The vertical pass: out_h rows of w RGB pixels from in, which holds the source rows from row y0
 * on. Each output row accumulates whole input rows, a tap at a time (integer sums, so the order
 * does not change the result); acc is scratch for w * 3 sums. */
static void resample_vertical(const uint8_t *in, int w, uint8_t *out, int out_h, int y0, const resample_weights *a,
                              resample_taps_fn taps, int32_t *acc)
{
    size_t row = (size_t)w * 3;
    for (int y = 0; y < out_h; y++) {
        const int32_t *k = a->k + (size_t)y * a->kstride;
        for (size_t i = 0; i < row; i++) acc[i] = 1 << (RESAMPLE_PRECISION_BITS - 1);
        for (int t = 0; t < a->count[y]; t++) taps(acc, in + (size_t)(a->first[y] - y0 + t) * row, row, k[t]);
        for (size_t i = 0; i < row; i++) out[(size_t)y * row + i] = resample_clip8(acc[i]);
    }
}

/* Pillow's nearest-neighbour resize is an affine scale: the source coordinate starts at half a
 * step and advances by adding the step (an accumulated sum, not a product), then truncates. */
static align_status resize_nearest(const align_image *in, align_image *out, align_error *err)
{
    int *xs = malloc((size_t)out->width * sizeof(int));
    if (!xs) return align_fail(err, ALIGN_ERR_NOMEM, "resize: out of memory");
    double ax = (double)(float)in->width / out->width, ay = (double)(float)in->height / out->height;
    double xo = ax * 0.5, yo = ay * 0.5;
    for (int x = 0; x < out->width; x++, xo += ax) xs[x] = xo < 0.0 ? -1 : (int)xo;
    for (int y = 0; y < out->height; y++, yo += ay) {
        int yi = yo < 0.0 ? -1 : (int)yo;
        uint8_t *dst = out->rgb + (size_t)y * out->width * 3;
        for (int x = 0; x < out->width; x++, dst += 3) {
            if (yi >= 0 && yi < in->height && xs[x] >= 0 && xs[x] < in->width)
                memcpy(dst, in->rgb + ((size_t)yi * in->width + xs[x]) * 3, 3);
            else
                memset(dst, 0, 3); /* Pillow fills what falls outside the source */
        }
    }
    free(xs);
    return ALIGN_OK;
}

/* The output size and filter image_resize and a feed take. */
static align_status check_resize(int out_w, int out_h, int filter, align_error *err)
{
    if (out_w <= 0 || out_h <= 0)
        return align_fail(err, ALIGN_ERR_ARG, "resize: bad output size %d x %d", out_w, out_h);
    if (filter < RESAMPLE_NEAREST || filter > RESAMPLE_HAMMING)
        return align_fail(err, ALIGN_ERR_ARG, "resize: unknown resample filter %d", filter);
    if ((uint64_t)out_w * (uint64_t)out_h > ALIGN_DEFAULT_MAX_PIXELS)
        return align_fail(err, ALIGN_ERR_LIMIT, "resize: %d x %d pixels is over the limit of %llu", out_w, out_h,
                          ALIGN_DEFAULT_MAX_PIXELS);
    return ALIGN_OK;
}

/* ---- a resize fed row by row (resample.h) ------------------------------------------------------ */

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
    if (in_w <= 0 || in_h <= 0) return align_fail(err, ALIGN_ERR_ARG, "resize: empty input image");
    align_status s = check_resize(out_w, out_h, filter, err);
    if (s) return s;
    if (filter == RESAMPLE_NEAREST)
        return align_fail(err, ALIGN_ERR_ARG, "resize: the nearest filter is not resized by rows");
    *f = (resize_feed){.in_w = in_w, .in_h = in_h, .orientation = orientation < 1 || orientation > 8 ? 1 : orientation,
                       .out_w = out_w, .out_h = out_h, .row = row, .taps = taps};
    int w = transposed(f) ? in_h : in_w, h = transposed(f) ? in_w : in_h; /* the oriented size */
    f->need_h = out_w != w;
    f->need_v = out_h != h;
    if ((f->need_h && (s = weights_make(&f->ah, w, out_w, filter, err))) ||
        (f->need_v && (s = weights_make(&f->av, h, out_h, filter, err)))) {
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
    if (4 * f->ring > w) { /* the sums would outweigh the rows themselves: hold those, turned */
        if (!(f->held = big_malloc(rows * w * 3))) return no_memory(f, err);
        return ALIGN_OK;
    }
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
    if (f->need_h && !f->held) {
        add_column(f, at, src);
        return;
    }
    /* a column of the held rows, or of the pass when no horizontal pass is needed */
    uint8_t *to = f->held ? f->held : f->pass;
    int stride = f->held ? f->in_h : f->out_w;
    for (int i = 0; i < f->y1 - f->y0; i++) memcpy(to + ((size_t)i * stride + at) * 3, src + (size_t)i * 3, 3);
}

align_status resize_feed_finish(resize_feed *f, align_image *out, align_error *err)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; f->held && i < f->y1 - f->y0; i++)
        f->row(f->held + (size_t)i * f->in_h * 3, f->in_h, f->pass + (size_t)i * f->out_w * 3, f->out_w, &f->ah);
    if (!f->need_v) { /* the pass is the image */
        out->rgb = f->pass;
        f->pass = NULL;
    } else {
        int32_t *acc = malloc(sizeof(int32_t) * 3 * (size_t)f->out_w);
        if (!acc || !(out->rgb = big_malloc((size_t)f->out_w * f->out_h * 3))) {
            free(acc);
            return align_fail(err, ALIGN_ERR_NOMEM, "resize: out of memory");
        }
        resample_vertical(f->pass, f->out_w, out->rgb, f->out_h, f->y0, &f->av, f->taps, acc);
        free(acc);
    }
    out->width = f->out_w;
    out->height = f->out_h;
    return ALIGN_OK;
}

void resize_feed_free(resize_feed *f)
{
    weights_free(&f->ah);
    weights_free(&f->av);
    free(f->pass);
    free(f->mirrored);
    free(f->sums);
    free(f->taps_left);
    free(f->columns);
    free(f->held);
    memset(f, 0, sizeof *f);
}

/* Separable resampling of a whole image: its rows fed as a decoder gives them (only those the
 * vertical pass reads go through the horizontal one). */
static align_status resize_separable(const align_image *in, int out_w, int out_h, int filter, resample_row_fn row,
                                     align_image *out, align_error *err)
{
    resize_feed f;
    align_status s =
        resize_feed_begin(&f, in->width, in->height, 1, out_w, out_h, filter, row, resample_taps_reference, err);
    if (s) return s;
    for (int y = f.y0; y < f.y1; y++) resize_feed_row(&f, y, in->rgb + (size_t)y * in->width * 3);
    s = resize_feed_finish(&f, out, err);
    resize_feed_free(&f);
    return s;
}

align_status image_resize(const align_image *in, int out_w, int out_h, int filter, resample_row_fn row,
                          align_image *out, align_error *err)
{
    if (!out) return align_fail(err, ALIGN_ERR_ARG, "resize: no output image");
    memset(out, 0, sizeof *out);
    if (!in || !in->rgb || in->width <= 0 || in->height <= 0)
        return align_fail(err, ALIGN_ERR_ARG, "resize: empty input image");
    align_status s = check_resize(out_w, out_h, filter, err);
    if (s) return s;
    int same = out_w == in->width && out_h == in->height;
    if (!same && filter != RESAMPLE_NEAREST) return resize_separable(in, out_w, out_h, filter, row, out, err);
    out->rgb = big_malloc((size_t)out_w * out_h * 3);
    if (!out->rgb) return align_fail(err, ALIGN_ERR_NOMEM, "resize: out of memory");
    out->width = out_w;
    out->height = out_h;
    if (same)
        memcpy(out->rgb, in->rgb, (size_t)out_w * out_h * 3);
    else if ((s = resize_nearest(in, out, err)))
        align_image_free(out);
    return s;
}
