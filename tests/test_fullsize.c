/* A full-size align-base (random weights from scripts/random_model.c, made by `make test`) loads
 * and classifies: every shape of the real checkpoint goes through both towers. The values mean
 * nothing; that they are finite and normalised does. */
#include <math.h>
#include <stdlib.h>

#include "align.h"
#include "test.h"

static int unit_and_finite(const float *v, int n)
{
    double ss = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(v[i])) return 0;
        ss += (double)v[i] * v[i];
    }
    return fabs(ss - 1) < 1e-5;
}

TEST(full_size_random_align_base_classifies)
{
    const char *dir = getenv("ALIGN_RANDOM_MODEL");
    CHECK_MSG(dir != NULL, "ALIGN_RANDOM_MODEL is not set (make test sets it)");
    if (!dir) return;
    const char *emulator = getenv("ALIGN_EMULATOR");
    if (emulator && *emulator) {
        test_skip("under %s: emulated, the full-size pass is by far the slowest test; it runs natively", emulator);
        return;
    }
    align_error err;
    align_model *m = align_model_load(dir, &err);
    CHECK_MSG(m != NULL, "%s", err.message);
    if (!m) return;
    align_model_info info;
    align_model_get_info(m, &info);
    /* the numbers of kakaobrain/align-base (tests/fixtures/align-base/weight_manifest.json) */
    CHECK_INT(info.num_parameters, 172117841);
    CHECK_INT(info.vision_blocks, 55);
    CHECK_INT(info.projection_dim, 640);
    CHECK_INT(info.image_width, 289);
    CHECK_INT(info.image_height, 289);
    align_image img;
    CHECK(align_image_load(fixture("images/astronaut.png"), NULL, &img, &err) == ALIGN_OK);
    const char *labels[] = {"a photo of an astronaut", "a photo of a cat", "中文"};
    float text[3 * 640], image[640], logits[3], probs[3];
    CHECK_MSG(align_encode_text(m, labels, 3, text, NULL, &err) == ALIGN_OK, "%s", err.message);
    CHECK_MSG(align_encode_images(m, &img, 1, image, NULL, &err) == ALIGN_OK, "%s", err.message);
    for (int i = 0; i < 3; i++) CHECK_MSG(unit_and_finite(text + 640 * i, 640), "text embedding %d", i);
    CHECK(unit_and_finite(image, 640));
    align_logits(m, image, 1, text, 3, logits);
    align_softmax(logits, 3, probs);
    CHECK(isfinite(logits[0]) && isfinite(logits[1]) && isfinite(logits[2]));
    CHECK(fabs(probs[0] + probs[1] + probs[2] - 1) < 1e-6);
    align_image_free(&img);
    align_model_free(m);
}
