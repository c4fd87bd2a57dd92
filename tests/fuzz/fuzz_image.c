/* fuzz_image: arbitrary bytes as an image file: align_image_load_memory (format sniffing, the
 * header-first pixel limit, stb_image, the PIL fixes, EXIF orientation), then image_preprocess
 * under tiny-a's and tiny-b's preprocessor configs (resize with two filters, crop and pad,
 * rescale, normalise). A decoded image must be within the pixel limit, with every pixel readable;
 * preprocessing must produce finite values; the resize's tuned rows (for this machine's CPU) must
 * give the reference's bytes; and the same bytes decoded straight to each config's size
 * (image_load_fitted: a JPEG resized by rows as they come) must give the fit's bytes, or fail as
 * the whole decode did. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "preprocess.h"

/* lib/resample_row.c as fuzz.mk compiles it, for this machine's CPU */
void resample_row_native(const uint8_t *src, int in_w, uint8_t *dst, int out_w, const resample_weights *a);
void resample_taps_native(int32_t *sum, const uint8_t *src, size_t n, int32_t k);

/* Lower than the default (89 M) so that one input decodes in well under libFuzzer's timeout under
 * the sanitizers; the limit's own logic is the same at any value. */
#define FUZZ_MAX_PIXELS (1u << 22)

static preprocess_config configs[3];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static const char *const names[2] = {"tiny-a/preprocessor_config.json", "tiny-b/preprocessor_config.json"};
    for (int i = 0; i < 2; i++) {
        size_t len;
        char *json = fuzz_read_fixture(names[i], &len);
        align_error err;
        if (preprocess_config_parse(json, len, names[i], &configs[i], &err)) {
            fprintf(stderr, "fuzz: %s\n", err.message);
            abort();
        }
        free(json);
    }
    /* and one that keeps the image's own size: nearest filter, no resize of the pixels read */
    preprocess_config_default(&configs[2]);
    configs[2].do_resize = 0;
    configs[2].do_center_crop = 1;
    configs[2].crop_h = 7, configs[2].crop_w = 9;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    align_decode_options opts = {FUZZ_MAX_PIXELS};
    align_image img;
    align_error err;
    align_status s = align_image_load_memory(data, size, "fuzz.img", &opts, &img, &err);
    if (s) {
        fuzz_check_error(s, &err, "fuzz.img");
        FUZZ_ASSERT(img.rgb == NULL && img.width == 0 && img.height == 0, "a failed decode left an image");
        align_image fitted;
        align_error fit_err;
        align_status fs = image_load_fitted(&configs[0], resample_row_native, resample_taps_native, data, size,
                                            "fuzz.img", &opts, &fitted, &fit_err);
        FUZZ_ASSERT(fs == s && !strcmp(fit_err.message, err.message), "decoded fitted: %s, whole: %s",
                    fit_err.message, err.message);
        FUZZ_ASSERT(fitted.rgb == NULL, "a failed decode left an image");
        return 0;
    }
    FUZZ_ASSERT(img.rgb && img.width >= 1 && img.height >= 1, "%d x %d", img.width, img.height);
    FUZZ_ASSERT((uint64_t)img.width * (uint64_t)img.height <= FUZZ_MAX_PIXELS, "%d x %d is over the limit",
                img.width, img.height);
    size_t bytes = (size_t)img.width * img.height * 3;
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < bytes; i++) sum ^= img.rgb[i];
    (void)sum;
    resample_row_fn row = resample_row_native;
    for (int c = 0; c < 2; c++) {
        align_image tuned, plain;
        s = image_fit(&configs[c], row, &img, &tuned, &err);
        FUZZ_ASSERT(s == ALIGN_OK, "fit: %s", err.message);
        s = image_fit(&configs[c], resample_row_reference, &img, &plain, &err);
        FUZZ_ASSERT(s == ALIGN_OK, "fit: %s", err.message);
        FUZZ_ASSERT(memcmp(tuned.rgb, plain.rgb, (size_t)tuned.width * tuned.height * 3) == 0,
                    "the resize's tuned rows differ from the reference's");
        align_image fitted;
        s = image_load_fitted(&configs[c], row, resample_taps_native, data, size, "fuzz.img", &opts, &fitted, &err);
        FUZZ_ASSERT(s == ALIGN_OK, "decoded fitted: %s", err.message);
        FUZZ_ASSERT(fitted.width == plain.width && fitted.height == plain.height &&
                        memcmp(fitted.rgb, plain.rgb, (size_t)plain.width * plain.height * 3) == 0,
                    "decoded fitted, the bytes differ from the whole decode's fit");
        align_image_free(&tuned), align_image_free(&plain), align_image_free(&fitted);
    }
    for (int c = 0; c < 3; c++) {
        int w, h;
        preprocess_output_size(&configs[c], img.width, img.height, &w, &h);
        FUZZ_ASSERT(w >= 1 && h >= 1, "output %d x %d", w, h);
        size_t n = (size_t)w * h * 3;
        float *out = malloc(n * sizeof *out);
        FUZZ_ASSERT(out != NULL, "out of memory");
        s = image_preprocess(&configs[c], row, &img, out, &err);
        FUZZ_ASSERT(s == ALIGN_OK, "preprocess: %s", err.message);
        for (size_t i = 0; i < n; i++) FUZZ_ASSERT(isfinite(out[i]), "pixel value %zu is %g", i, (double)out[i]);
        free(out);
    }
    align_image_free(&img);
    return 0;
}
