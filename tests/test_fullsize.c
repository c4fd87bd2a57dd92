/* A full-size align-base (random weights from scripts/random_model.c, made by `make test`) loads
 * and classifies: every shape of the real checkpoint goes through both towers, and what comes out
 * is what a float64 evaluation of the same weights gives, within float32's noise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"
#include "kernel_levels.h"
#include "kernels.h"
#include "model.h"
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

/* The full-size random model's directory, or NULL: a failure when make test did not say where it
 * is, a skip under an emulator. */
static const char *full_size_dir(void)
{
    const char *dir = getenv("ALIGN_RANDOM_MODEL");
    CHECK_MSG(dir != NULL, "ALIGN_RANDOM_MODEL is not set (make test sets it)");
    if (dir && test_skip_under_emulation("emulated, the full-size pass is by far the slowest test; it runs natively"))
        return NULL;
    return dir;
}

TEST(full_size_random_align_base_classifies)
{
    const char *dir = full_size_dir();
    if (!dir) return;
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

/* A {"shape": [...], "data": [...]} tensor of n values as doubles: the float64 evaluation's. */
static double *json_doubles(const cJSON *t, int n)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(t, "data"), *v;
    double *out = calloc((size_t)n, sizeof(double));
    int i = 0;
    CHECK_MSG(cJSON_GetArraySize(data) == n, "a reference tensor of %d values, expected %d", cJSON_GetArraySize(data), n);
    cJSON_ArrayForEach(v, data) if (i < n) out[i++] = v->valuedouble;
    return out;
}

typedef struct {
    const char *what;
    int count, dim;
    const float *got;  /* [count, dim]: align's */
    const double *f64; /* [count, dim]: the float64 evaluation */
    const float *f32;  /* [count, dim]: PyTorch's float32 evaluation of the same */
} against_f64;

/* align's values are as close to the float64 evaluation as float32 arithmetic gets here: within
 * four times the largest deviation of PyTorch's own float32 evaluation (its kernels sum in other
 * orders, so neither float32 result is the exact one). */
static void check_against_f64(const against_f64 *c, const char *isa)
{
    size_t n = (size_t)c->count * c->dim;
    double noise = 0, worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)c->f32[i] - c->f64[i]);
        if (d > noise) noise = d;
    }
    for (int v = 0; v < c->count; v++) {
        double d = 0;
        for (int i = 0; i < c->dim; i++) {
            size_t at = (size_t)v * c->dim + i;
            double e = fabs((double)c->got[at] - c->f64[at]);
            if (!(e <= d)) d = e; /* NaN wins */
        }
        CHECK_MSG(d <= 4 * noise, "%s, %s %d: max |align - float64| %.3g, PyTorch float32's %.3g", isa,
                  c->what, v, d, noise);
        if (!(d <= worst)) worst = d;
    }
    test_note("%s: %s within %.3g of float64 (PyTorch float32: %.3g)", isa, c->what, worst, noise);
}

/* |v - w| for a vector of n floats and its float64 evaluation. */
static double distance(const float *v, const double *w, int n)
{
    double ss = 0;
    for (int i = 0; i < n; i++) ss += ((double)v[i] - w[i]) * ((double)v[i] - w[i]);
    return sqrt(ss);
}

/* Each logit as far from the float64 one as the embeddings' own distances allow: for unit vectors
 * |x.y - x'.y'| <= |x - x'| + |y - y'|, and a float32 dot product of n terms rounds by at most
 * n u sum |x_k y_k|; all over the temperature. What is left to be wrong is the logits themselves:
 * which pair, which temperature. */
static void check_logits(const float *logits, const double *want, const float *image, const double *image64,
                         int ni, const float *text, const double *text64, int nl, int dim, float temperature,
                         const char *isa)
{
    double worst = 0;
    for (int i = 0; i < ni; i++)
        for (int j = 0; j < nl; j++) {
            const float *x = image + (size_t)i * dim, *y = text + (size_t)j * dim;
            double abs_dot = 0;
            for (int k = 0; k < dim; k++) abs_dot += fabs((double)x[k] * y[k]);
            double bound = (distance(x, image64 + (size_t)i * dim, dim) + distance(y, text64 + (size_t)j * dim, dim) +
                            dim * 0x1p-24 * abs_dot) / temperature;
            double d = fabs((double)logits[i * nl + j] - want[i * nl + j]);
            CHECK_MSG(d <= bound, "%s: logit of image %d, label %d: %.9g, float64 %.9g (at most %.3g apart)", isa, i,
                      j, logits[i * nl + j], want[i * nl + j], bound);
            if (!(d <= worst)) worst = d;
        }
    test_note("%s: logits within %.3g of float64", isa, worst);
}

/* The random align-base's embeddings and logits against a float64 evaluation of the same weights
 * and inputs (tests/fixtures/fullsize: PyTorch, written after transformers 4.27's ALIGN and checked
 * against its tiny fixtures first), at every ISA level this CPU runs and avx512_on_avx2: the
 * full-size shapes take paths the tiny models do not (image-by-image early stages, edge tiles,
 * 2,304-channel maps, twelve 768-wide BERT layers). */
TEST(full_size_matches_a_float64_evaluation)
{
    const char *dir = full_size_dir();
    if (!dir) return;
    cJSON *ref = load_json(fixture("fullsize/expected.json"));
    if (!ref) return;
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(ref, "images");
    const cJSON *texts = cJSON_GetObjectItemCaseSensitive(ref, "labels");
    int ni = cJSON_GetArraySize(paths), nl = cJSON_GetArraySize(texts), dim = 640;
    align_image *images = calloc((size_t)ni, sizeof *images);
    const char **labels = calloc((size_t)nl, sizeof *labels);
    align_error err;
    for (int i = 0; i < ni; i++) {
        const char *name = cJSON_GetArrayItem(paths, i)->valuestring;
        CHECK_MSG(align_image_load(fixture(name), NULL, &images[i], &err) == ALIGN_OK, "%s", err.message);
    }
    for (int i = 0; i < nl; i++) labels[i] = cJSON_GetArrayItem(texts, i)->valuestring;
    size_t n;
    float *image_f32 = json_tensor(cJSON_GetObjectItemCaseSensitive(ref, "image_embeds_f32"), &n);
    float *text_f32 = json_tensor(cJSON_GetObjectItemCaseSensitive(ref, "text_embeds_f32"), &n);
    double *image_f64 = json_doubles(cJSON_GetObjectItemCaseSensitive(ref, "image_embeds_f64"), ni * dim);
    double *text_f64 = json_doubles(cJSON_GetObjectItemCaseSensitive(ref, "text_embeds_f64"), nl * dim);
    double *logits_f64 = json_doubles(cJSON_GetObjectItemCaseSensitive(ref, "logits_f64"), ni * nl);
    float *image = calloc((size_t)ni * dim, sizeof(float)), *text = calloc((size_t)nl * dim, sizeof(float));
    float *logits = calloc((size_t)ni * nl, sizeof(float));
    for (const kernel_table *const *kt = test_kernel_tables(); *kt; kt++) {
        align_model *m = align_model_load(dir, &err);
        CHECK_MSG(m != NULL, "%s", err.message);
        if (!m) break;
        model_use_kernels(m, *kt);
        const char *want_id = cJSON_GetObjectItemCaseSensitive(ref, "model_id")->valuestring;
        if (strcmp(align_model_id(m), want_id) != 0) {
            test_fail_at(__FILE__, __LINE__, "%s is model %s, the reference was computed for %s: "
                         "scripts/random_model.c changed, rerun tests/fixtures/fullsize/reference.py",
                         dir, align_model_id(m), want_id);
            align_model_free(m);
            break;
        }
        align_model_info info;
        align_model_get_info(m, &info);
        CHECK_MSG(align_encode_images(m, images, ni, image, NULL, &err) == ALIGN_OK, "%s", err.message);
        CHECK_MSG(align_encode_text(m, labels, nl, text, NULL, &err) == ALIGN_OK, "%s", err.message);
        align_logits(m, image, ni, text, nl, logits);
        check_against_f64(&(against_f64){"image embedding", ni, dim, image, image_f64, image_f32}, info.isa);
        check_against_f64(&(against_f64){"text embedding", nl, dim, text, text_f64, text_f32}, info.isa);
        check_logits(logits, logits_f64, image, image_f64, ni, text, text_f64, nl, dim, info.temperature, info.isa);
        align_model_free(m);
    }
    for (int i = 0; i < ni; i++) align_image_free(&images[i]);
    free(images), free(labels), free(image), free(text), free(logits);
    free(image_f32), free(text_f32), free(image_f64), free(text_f64), free(logits_f64);
    cJSON_Delete(ref);
}

/* Both towers and the resize, image and labels as above, at one kernel table: embeddings into
 * image [3][640] and text [3][640]. */
static void embed_at(const char *dir, const kernel_table *kt, const align_image *images, const char *const *labels,
                     float *image, float *text)
{
    align_error err;
    align_model *m = align_model_load(dir, &err);
    CHECK_MSG(m != NULL, "%s", err.message);
    if (!m) return;
    model_use_kernels(m, kt);
    CHECK_MSG(align_encode_images(m, images, 3, image, NULL, &err) == ALIGN_OK, "%s", err.message);
    CHECK_MSG(align_encode_text(m, labels, 3, text, NULL, &err) == ALIGN_OK, "%s", err.message);
    align_model_free(m);
}

/* avx512_on_avx2 tests the avx512 level's loops where the CPU cannot run them (kernel_levels.h).
 * It stands in for them only if it computes what they compute: where both run, the full-size
 * model's embeddings (every tile, product, activation and resize the real shapes take) at the two
 * are the same bits. Its name leaves out full_size: .ci/run's loop over OpenBLAS's kernels runs
 * T=full_size, and both tables here call the same kernel. */
TEST(avx512_loops_built_for_avx2_give_avx512s_bits_on_the_full_model)
{
    const kernel_table *cpu = kernel_table_at(kernel_cpu_level()), *wide = test_avx512_on_avx2();
    if (!wide || strcmp(cpu->isa, "avx512") != 0) {
        test_skip("no AVX-512 here to hold avx512_on_avx2 against: the parity tests check it against the "
                  "references");
        return;
    }
    const char *dir = full_size_dir();
    if (!dir) return;
    align_error err;
    align_image images[3];
    const char *names[] = {"images/cat.jpg", "images/astronaut.png", "images/rocket.bmp"};
    const char *const labels[] = {"a photo of an astronaut", "a photo of a cat", "中文"};
    for (int i = 0; i < 3; i++) CHECK(align_image_load(fixture(names[i]), NULL, &images[i], &err) == ALIGN_OK);
    static float image[2][3 * 640], text[2][3 * 640];
    embed_at(dir, cpu, images, labels, image[0], text[0]);
    embed_at(dir, wide, images, labels, image[1], text[1]);
    CHECK_MSG(memcmp(image[0], image[1], sizeof image[0]) == 0, "the image embeddings differ");
    CHECK_MSG(memcmp(text[0], text[1], sizeof text[0]) == 0, "the text embeddings differ");
    for (int i = 0; i < 3; i++) align_image_free(&images[i]);
}
