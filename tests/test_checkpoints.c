/* Model directories as users get them: pytorch_model.bin alone (what the Hub ships), and what
 * `align convert` makes of it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"
#include "checkpoint.h"
#include "tensors.h"
#include "test.h"

static const char *const config_files[] = {"config.json", "preprocessor_config.json", "tokenizer_config.json",
                                           "special_tokens_map.json", "vocab.txt"};

/* A model directory in the scratch space holding model's config files and the given weights file. */
static const char *model_dir(const char *model, const char *name, const char *weights)
{
    static char dir[4][512];
    static int next;
    char *d = dir[next++ % 4];
    snprintf(d, sizeof dir[0], "%s/%s", test_tmpdir(), name);
    run_result r = run_cmd("mkdir -p %s", d);
    run_free(&r);
    for (int i = 0; i < 5; i++) {
        r = run_cmd("cp %s/%s %s/", fixture(model), config_files[i], d);
        run_free(&r);
    }
    if (weights) {
        r = run_cmd("cp %s/%s %s/", fixture(model), weights, d);
        run_free(&r);
    }
    return d;
}

/* Classifies the first golden case of model with the model in dir; returns the largest logit
 * difference from Hugging Face's. */
static double first_case_logit_error(const char *model, const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/expected.json", fixture(model));
    cJSON *exp = load_json(path);
    if (!exp) return INFINITY;
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(exp, "cases"), 0);
    const cJSON *labels = cJSON_GetObjectItem(c, "labels");
    int n = cJSON_GetArraySize(labels);
    const char *names[16];
    for (int i = 0; i < n; i++) names[i] = cJSON_GetArrayItem(labels, i)->valuestring;
    float *want = json_tensor(cJSON_GetObjectItem(c, "logits_per_image"), NULL);
    align_error err;
    align_model *m = align_model_load(dir, &err);
    CHECK_MSG(m != NULL, "%s", err.message);
    double worst = INFINITY;
    align_image img;
    /* PIL's own pixels of cat.jpg: the decoder is not what is tested here */
    if (m && align_image_load(fixture("images/decoded/cat.ppm"), NULL, &img, &err) == ALIGN_OK) {
        float text[16 * 64], image[64], logits[16];
        CHECK(align_encode_text(m, names, n, text, NULL, &err) == ALIGN_OK);
        CHECK(align_encode_images(m, &img, 1, image, NULL, &err) == ALIGN_OK);
        align_logits(m, image, 1, text, n, logits);
        worst = 0;
        for (int i = 0; i < n; i++) worst = fmax(worst, fabs(logits[i] - want[i]));
        align_image_free(&img);
    }
    align_model_free(m);
    free(want);
    cJSON_Delete(exp);
    return worst;
}

TEST(pytorch_model_bin_alone_classifies_like_hf)
{
    static const char *const models[] = {"tiny-a", "tiny-b"};
    for (int i = 0; i < 2; i++) {
        const char *dir = model_dir(models[i], models[i], "pytorch_model.bin");
        double d = first_case_logit_error(models[i], dir);
        CHECK_MSG(d <= 1e-4, "%s from pytorch_model.bin: logits off by %.3g", models[i], d);
        align_error err;
        align_model *m = align_model_load(dir, &err);
        align_model_info info;
        if (m) {
            align_model_get_info(m, &info);
            CHECK_STR(info.weights_format, "pytorch");
        }
        align_model_free(m);
    }
}

TEST(safetensors_wins_when_both_are_there)
{
    const char *dir = model_dir("tiny-a", "both", "pytorch_model.bin");
    run_result r = run_cmd("cp %s/model.safetensors %s/", fixture("tiny-a"), dir);
    run_free(&r);
    align_error err;
    align_model *m = align_model_load(dir, &err);
    CHECK_MSG(m != NULL, "%s", err.message);
    align_model_info info;
    if (m) {
        align_model_get_info(m, &info);
        CHECK_STR(info.weights_format, "safetensors");
    }
    align_model_free(m);
}

/* Every tensor of a converted file has the original safetensors' bytes. */
TEST(convert_writes_the_same_tensors_byte_for_byte)
{
    const char *dir = model_dir("tiny-b", "convert", "pytorch_model.bin");
    run_result r = run_cmd("%s convert -q %s", align_bin(), dir);
    CHECK_MSG(r.status == 0 && r.err_len == 0, "%s", r.err);
    run_free(&r);
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    tensor_file a, b;
    align_error err;
    CHECK_MSG(checkpoint_open(path, &a, &err) == ALIGN_OK, "%s", err.message);
    CHECK_MSG(checkpoint_open(fixture("tiny-b/model.safetensors"), &b, &err) == ALIGN_OK, "%s", err.message);
    CHECK_INT(a.count, b.count);
    size_t same = 0;
    for (size_t i = 0; i < a.count && i < b.count; i++) {
        const tensor_entry *x = &a.entries[i], *y = tensor_file_find(&b, x->name);
        if (y && x->dtype == y->dtype && x->nbytes == y->nbytes && memcmp(x->data, y->data, x->nbytes) == 0) same++;
        else CHECK_MSG(0, "%s differs", x->name);
    }
    CHECK_INT(same, b.count);
    tensor_file_free(&a);
    tensor_file_free(&b);
}

/* Half-precision copies load (widened to float32) and classify close to the original. */
TEST(convert_to_f16_and_bf16_loads_and_classifies)
{
    static const struct {
        const char *dtype;
        /* rounding every weight to 11 (f16) or 8 (bf16) significant bits moves an embedding by about
         * 2^-11 or 2^-8 relative; logits are cosines times 1/temperature = 33 */
        double tol;
    } cases[] = {{"f16", 33.0 / 2048}, {"bf16", 33.0 / 256}};
    for (int i = 0; i < 2; i++) {
        const char *dir = model_dir("tiny-a", cases[i].dtype, "pytorch_model.bin");
        run_result r = run_cmd("%s convert -q --dtype %s %s && rm %s/pytorch_model.bin", align_bin(), cases[i].dtype, dir, dir);
        CHECK_MSG(r.status == 0, "%s", r.err);
        run_free(&r);
        char path[600];
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        tensor_file tf;
        align_error err;
        CHECK(checkpoint_open(path, &tf, &err) == ALIGN_OK);
        const tensor_entry *t = tensor_file_find(&tf, "text_projection.weight");
        CHECK(t && t->dtype == (i == 0 ? DTYPE_F16 : DTYPE_BF16));
        t = tensor_file_find(&tf, "text_model.embeddings.position_ids");
        CHECK(t && t->dtype == DTYPE_I64);
        tensor_file_free(&tf);
        double d = first_case_logit_error("tiny-a", dir);
        CHECK_MSG(d < cases[i].tol, "%s: logits off by %.3g", cases[i].dtype, d);
        test_note("%s weights: logits within %.3g of float32's reference", cases[i].dtype, d);
    }
}

TEST(convert_errors_name_the_file)
{
    const char *dir = model_dir("tiny-a", "noweights", NULL);
    run_result r = run_cmd("%s convert %s", align_bin(), dir);
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "noweights/pytorch_model.bin: No such file or directory");
    run_free(&r);
    r = run_cmd("%s convert --dtype f8 %s", align_bin(), dir);
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "--dtype is f32, f16 or bf16");
    run_free(&r);
    /* onto its own input, by name or through a link: refused, the checkpoint as it was */
    dir = model_dir("tiny-a", "onto-itself", "pytorch_model.bin");
    r = run_cmd("cd %s && cp pytorch_model.bin before && ln -s pytorch_model.bin link && "
                "%s convert -o pytorch_model.bin . ; echo $?; %s convert -o link . ; echo $?; cmp pytorch_model.bin before "
                "&& echo same", dir, align_bin(), align_bin());
    CHECK_STR(r.out, "1\n1\nsame\n");
    CHECK_CONTAINS(r.err, "pytorch_model.bin: is the checkpoint being converted");
    run_free(&r);
    /* nor over the model's other files */
    r = run_cmd("cd %s && cp config.json config.before && %s convert -o ../onto-itself/config.json . ; echo $?; "
                "cmp config.json config.before && echo same", dir, align_bin());
    CHECK_STR(r.out, "1\nsame\n");
    CHECK_CONTAINS(r.err, "config.json: is one of the model's own files");
    run_free(&r);
    /* nor onto a directory, with its slash or without: named as one */
    r = run_cmd("cd %s && mkdir -p out && %s convert -o out/ . ; echo $?; %s convert -o out . ; echo $?; ls -A out",
                dir, align_bin(), align_bin());
    CHECK_STR(r.out, "1\n1\n");
    CHECK_CONTAINS(r.err, "out/: a directory; the output is a file, such as DIR/model.safetensors\nalign: out: a directory;");
    run_free(&r);
}
