/* Decoding straight to the model's size (fitted_load.c, resize_feed.c): a JPEG resized row by row
 * as it is decoded gives the bytes of the whole decode, its EXIF transpose and then PIL's resize by
 * the reference rows, whatever the orientation, filter, sizes and ISA level; and fails as the whole
 * decode fails. */
#include <stdlib.h>
#include <string.h>

#include "builders.h"
#include "kernel_levels.h"
#include "kernels.h"
#include "preprocess.h"
#include "resample.h"
#include "test.h"

/* A w x h photo-like image: smooth ramps with noise, so that every resize tap matters. */
static uint8_t *test_picture(int w, int h, unsigned seed)
{
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            seed = seed * 1103515245u + 12345u;
            uint8_t *p = rgb + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / w);
            p[1] = (uint8_t)(y * 255 / h + (seed >> 28));
            p[2] = (uint8_t)(seed >> 24);
        }
    return rgb;
}

/* What the whole decode and the fit give, at the reference rows. */
static align_status whole_then_fit(const preprocess_config *cfg, const buf *file, align_image *out,
                                   align_error *err)
{
    align_image full;
    align_status s = align_image_load_memory(file->p, file->n, "photo", NULL, &full, err);
    if (s) return s;
    s = image_fit(cfg, resample_row_reference, &full, out, err);
    align_image_free(&full);
    return s;
}

/* 0 when image_load_fitted at kt gives whole_then_fit's bytes; else says what differs. */
static int fitted_differs(const preprocess_config *cfg, const kernel_table *kt, const buf *file, const char *what)
{
    align_image want, got;
    align_error err;
    if (whole_then_fit(cfg, file, &want, &err) != ALIGN_OK) {
        CHECK_MSG(0, "%s: %s", what, err.message);
        return 1;
    }
    int differs = 1;
    if (image_load_fitted(cfg, kt->resample_row, kt->resample_taps, file->p, file->n, "photo", NULL, &got, &err))
        CHECK_MSG(0, "%s at %s: %s", what, kt->isa, err.message);
    else
        differs = got.width != want.width || got.height != want.height ||
                  memcmp(got.rgb, want.rgb, (size_t)want.width * want.height * 3) != 0;
    align_image_free(&want), align_image_free(&got);
    return differs;
}

/* Every orientation (5-8 arrive by columns), every separable filter, sizes that shrink, grow or
 * keep a side (Pillow skips that pass), at each level; JPEGs at 4:4:4 and 4:2:0; and a picture 3
 * pixels high, whose turned fits hold its rows rather than sums 4 times their size. */
TEST(fitted_load_is_the_whole_decode_then_the_fit)
{
    if (test_skip_in_a_rerun()) return;
    static const int pictures[][2] = {{203, 131}, {40, 3}};
    size_t cases = 0, differ = 0;
    for (size_t p = 0; p < sizeof pictures / sizeof pictures[0]; p++) {
        int w = pictures[p][0], h = pictures[p][1];
        const int sizes[][2] = {{96, 64}, {346, 346}, {h, 40}, {50, w}, {h, w}, {1, 500}};
        uint8_t *rgb = test_picture(w, h, 11);
        for (int quality = 75; quality <= 95; quality += 20) {
            buf jpeg = jpeg_file(w, h, rgb, quality);
            for (unsigned o = 1; o <= 8; o++) {
                buf file = jpeg_with_orientation(jpeg.p, jpeg.n, o);
                for (int f = RESAMPLE_LANCZOS; f <= RESAMPLE_HAMMING; f++)
                    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
                        preprocess_config cfg;
                        preprocess_config_default(&cfg);
                        cfg.resample = f;
                        cfg.size_w = sizes[s][0];
                        cfg.size_h = sizes[s][1];
                        for (const kernel_table *const *t = test_kernel_tables(); *t; t++) {
                            char what[112];
                            snprintf(what, sizeof what, "%d x %d, quality %d, orientation %u, filter %d, %d x %d", w, h,
                                     quality, o, f, cfg.size_w, cfg.size_h);
                            int d = fitted_differs(&cfg, *t, &file, what);
                            CHECK_MSG(!d, "%s at %s: the bytes differ", what, (*t)->isa);
                            differ += d;
                            cases++;
                        }
                    }
                free(file.p);
            }
            free(jpeg.p);
        }
        free(rgb);
    }
    test_note("%zu fits, %zu differ", cases, differ);
    /* which way each picture's turned rows went: sums for the wide one, held rows for the thin */
    for (size_t p = 0; p < sizeof pictures / sizeof pictures[0]; p++) {
        resize_feed f;
        align_error err;
        const kernel_table *kt = kernel_table_at(0);
        if (resize_feed_begin(&f, pictures[p][0], pictures[p][1], 6, 96, 64, RESAMPLE_BILINEAR, kt->resample_row,
                              kt->resample_taps, &err) != ALIGN_OK) {
            CHECK_MSG(0, "%s", err.message);
            continue;
        }
        CHECK_MSG(p ? f.held && !f.sums : f.sums && !f.held, "%d x %d turned: held %d, sums %d", pictures[p][0],
                  pictures[p][1], f.held != NULL, f.sums != NULL);
        resize_feed_free(&f);
    }
}

/* The JPEG fixtures (grey, progressive, EXIF-rotated) and a PNG, which is decoded whole. */
TEST(fitted_load_of_the_fixtures)
{
    static const char *names[] = {"cat.jpg", "cat_exif_rot.jpg", "coffee_progressive.jpg", "astronaut.png"};
    preprocess_config cfg;
    preprocess_config_default(&cfg);
    cfg.size_w = cfg.size_h = 346;
    cfg.resample = RESAMPLE_BILINEAR;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "images/%s", names[i]);
        buf file = {0};
        file.p = read_fixture_bytes(fixture(rel), &file.n);
        if (!file.p) continue;
        for (const kernel_table *const *t = test_kernel_tables(); *t; t++)
            CHECK_MSG(!fitted_differs(&cfg, *t, &file, names[i]), "%s at %s", names[i], (*t)->isa);
        free(file.p);
    }
}

/* A broken or oversized JPEG: the whole decode's status and message, nothing held. */
TEST(fitted_load_fails_as_the_whole_decode_does)
{
    enum { W = 64, H = 48 };
    uint8_t *rgb = test_picture(W, H, 5);
    buf jpeg = jpeg_file(W, H, rgb, 90);
    free(rgb);
    preprocess_config cfg;
    preprocess_config_default(&cfg);
    const kernel_table *kt = kernel_table_at(kernel_cpu_level());
    size_t cuts[] = {0, 1, 3, 20, jpeg.n / 2, jpeg.n - 2};
    for (size_t c = 0; c <= sizeof cuts / sizeof cuts[0]; c++) {
        buf file = {jpeg.p, c < sizeof cuts / sizeof cuts[0] ? cuts[c] : jpeg.n, 0};
        align_decode_options tight = {c == sizeof cuts / sizeof cuts[0] ? (uint64_t)W * H - 1 : 0};
        align_image whole, got;
        align_error want_err = {0}, err = {0};
        align_status want = align_image_load_memory(file.p, file.n, "photo", &tight, &whole, &want_err);
        align_image_free(&whole);
        align_status s = image_load_fitted(&cfg, kt->resample_row, kt->resample_taps, file.p, file.n, "photo", &tight,
                                           &got, &err);
        CHECK_MSG(want != ALIGN_OK, "cut %zu: the whole decode succeeded", file.n);
        CHECK_INT(s, want);
        CHECK_STR(err.message, want_err.message);
        CHECK(got.rgb == NULL && got.width == 0);
    }
    free(jpeg.p);
}
