/* A full-size align-base (random weights from scripts/random_model.c, made by `make test`) loads
 * and classifies: every shape of the real checkpoint goes through both towers. The values mean
 * nothing; that they are finite and normalised does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

    /* An image's embedding does not depend on what shares its batch, on any OpenBLAS kernel: what
     * the index stores equals what a run without it computes (issue 18), byte for byte. */
    align_image batch[3];
    const char *names[] = {"images/cat.jpg", "images/astronaut.png", "images/rocket.bmp"};
    for (int i = 0; i < 3; i++) CHECK(align_image_load(fixture(names[i]), NULL, &batch[i], &err) == ALIGN_OK);
    float images3[3 * 640];
    CHECK_MSG(align_encode_images(m, batch, 3, images3, NULL, &err) == ALIGN_OK, "%s", err.message);
    CHECK_MSG(memcmp(images3 + 640, image, sizeof image) == 0, "astronaut's embedding changed in a batch of 3");
    for (int i = 0; i < 3; i++) align_image_free(&batch[i]);
    align_image_free(&img);
    align_model_free(m);
}
