/* resample.c: PIL's Image.resize on 8-bit RGB, bit for bit (Pillow's Resample.c semantics: the
 * filters, fixed-point weights per output sample, a horizontal then a vertical pass). */
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

void resample_weights_free(resample_weights *a)
{
    free(a->first);
    free(a->k);
    memset(a, 0, sizeof *a);
}

/* Pillow's weights for one axis resized from in_size to out_size samples with filter f. */
static align_status weights_init(resample_weights *a, int in_size, int out_size, const resample_filter *f,
                                 align_error *err)
{
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
        resample_weights_free(a);
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

/* Rows [y0, y0 + rows) of in through the horizontal pass, to rows [0, rows) of out. */
static void resample_horizontal(const uint8_t *in, int in_w, uint8_t *out, int out_w, int y0, int rows,
                                const resample_weights *a, resample_row_fn row)
{
    for (int y = 0; y < rows; y++)
        row(in + (size_t)(y0 + y) * in_w * 3, in_w, out + (size_t)y * out_w * 3, out_w, a);
}

align_status resample_weights_make(resample_weights *a, int in_size, int out_size, int filter, align_error *err)
{
    return weights_init(a, in_size, out_size, &filters[filter], err);
}

/* Each output row accumulates whole input rows (integer sums, so the order does not change the
 * result). */
void resample_vertical(const uint8_t *in, int w, uint8_t *out, int out_h, int y0,
                              const resample_weights *a, int32_t *acc)
{
    size_t row = (size_t)w * 3;
    for (int y = 0; y < out_h; y++) {
        const int32_t *k = a->k + (size_t)y * a->kstride;
        for (size_t i = 0; i < row; i++) acc[i] = 1 << (RESAMPLE_PRECISION_BITS - 1);
        for (int t = 0; t < a->count[y]; t++) {
            const uint8_t *src = in + (size_t)(a->first[y] - y0 + t) * row;
            for (size_t i = 0; i < row; i++) acc[i] += src[i] * k[t];
        }
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

/* Separable resampling: horizontal pass first (only over the rows the vertical pass reads), then
 * vertical; a pass whose size does not change is skipped, as Pillow skips it. */
static align_status resize_separable(const align_image *in, align_image *out, const resample_filter *f,
                                     resample_row_fn row, align_error *err)
{
    int need_h = out->width != in->width, need_v = out->height != in->height;
    resample_weights ah = {0}, av = {0};
    uint8_t *tmp = NULL;
    int32_t *acc = NULL;
    align_status s = ALIGN_OK;
    if (need_h && (s = weights_init(&ah, in->width, out->width, f, err))) goto done;
    if (!need_v) {
        resample_horizontal(in->rgb, in->width, out->rgb, out->width, 0, in->height, &ah, row);
        goto done;
    }
    if ((s = weights_init(&av, in->height, out->height, f, err))) goto done;
    acc = malloc((size_t)out->width * 3 * sizeof(int32_t));
    if (!acc) {
        s = align_fail(err, ALIGN_ERR_NOMEM, "resize: out of memory");
        goto done;
    }
    if (!need_h) {
        resample_vertical(in->rgb, in->width, out->rgb, out->height, 0, &av, acc);
        goto done;
    }
    int y0 = av.first[0], y1 = av.first[out->height - 1] + av.count[out->height - 1];
    tmp = big_malloc((size_t)out->width * (size_t)(y1 - y0) * 3);
    if (!tmp) {
        s = align_fail(err, ALIGN_ERR_NOMEM, "resize: out of memory");
        goto done;
    }
    resample_horizontal(in->rgb, in->width, tmp, out->width, y0, y1 - y0, &ah, row);
    resample_vertical(tmp, out->width, out->rgb, out->height, y0, &av, acc);
done:
    free(tmp);
    free(acc);
    resample_weights_free(&ah);
    resample_weights_free(&av);
    return s;
}

align_status image_resize(const align_image *in, int out_w, int out_h, int filter, resample_row_fn row,
                          align_image *out, align_error *err)
{
    if (!out) return align_fail(err, ALIGN_ERR_ARG, "resize: no output image");
    memset(out, 0, sizeof *out);
    if (!in || !in->rgb || in->width <= 0 || in->height <= 0)
        return align_fail(err, ALIGN_ERR_ARG, "resize: empty input image");
    if (out_w <= 0 || out_h <= 0)
        return align_fail(err, ALIGN_ERR_ARG, "resize: bad output size %d x %d", out_w, out_h);
    if (filter < RESAMPLE_NEAREST || filter > RESAMPLE_HAMMING)
        return align_fail(err, ALIGN_ERR_ARG, "resize: unknown resample filter %d", filter);
    if ((uint64_t)out_w * (uint64_t)out_h > ALIGN_DEFAULT_MAX_PIXELS)
        return align_fail(err, ALIGN_ERR_LIMIT, "resize: %d x %d pixels is over the limit of %llu", out_w,
                          out_h, ALIGN_DEFAULT_MAX_PIXELS);
    out->rgb = big_malloc((size_t)out_w * out_h * 3);
    if (!out->rgb) return align_fail(err, ALIGN_ERR_NOMEM, "resize: out of memory");
    out->width = out_w;
    out->height = out_h;
    align_status s;
    if (out_w == in->width && out_h == in->height) {
        memcpy(out->rgb, in->rgb, (size_t)out_w * out_h * 3);
        s = ALIGN_OK;
    } else if (filter == RESAMPLE_NEAREST) {
        s = resize_nearest(in, out, err);
    } else {
        s = resize_separable(in, out, &filters[filter], row, err);
    }
    if (s) align_image_free(out);
    return s;
}
