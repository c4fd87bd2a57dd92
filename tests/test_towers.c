/* Both towers against Hugging Face's own outputs (the fixtures' expected.json), fed the
 * processor's input_ids and pixel_values so that these tests see nothing but the networks. Per
 * layer and per block, so a failure points at its layer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bert.h"
#include "checkpoint.h"
#include "config.h"
#include "efficientnet.h"
#include "kernel_levels.h"
#include "kernels.h"
#include "ops.h"
#include "tensors.h"
#include "test.h"

#define TOL_EMBED 1e-5

/* Unnormalised vision features reach 45 in tiny-b, where 1e-5 is below float32 resolution after 16
 * blocks: the fixture itself is 5.4e-5 away from a float64 evaluation of the same network there.
 * Those are compared at 1e-5 relative to the reference's largest magnitude (as the fixtures' README
 * advises); normalised embeddings, at most 1 in magnitude, at 1e-5 absolute. */
static double scaled_tol(const float *ref, size_t n)
{
    double m = 1;
    for (size_t i = 0; i < n; i++) m = fabs(ref[i]) > m ? fabs(ref[i]) : m;
    return TOL_EMBED * m;
}

typedef struct {
    align_config cfg;
    tensor_file tf;
    weight_store ws;
    bert_weights text;
    effnet_weights vision;
    cJSON *expected;
} towers;

static int towers_load(towers *t, const char *model)
{
    char path[512];
    align_error err = {0};
    memset(t, 0, sizeof *t);
    snprintf(path, sizeof path, "%s/config.json", fixture(model));
    CHECK_MSG(config_read(path, &t->cfg, &err) == ALIGN_OK, "%s", err.message);
    snprintf(path, sizeof path, "%s/model.safetensors", fixture(model));
    CHECK_MSG(checkpoint_open(path, &t->tf, &err) == ALIGN_OK, "%s", err.message);
    t->ws.tf = &t->tf;
    t->ws.file = "model.safetensors";
    CHECK_MSG(bert_load(&t->text, &t->cfg, &t->ws, &err) == ALIGN_OK, "%s", err.message);
    CHECK_MSG(effnet_load(&t->vision, &t->cfg, &t->ws, &err) == ALIGN_OK, "%s", err.message);
    snprintf(path, sizeof path, "%s/expected.json", fixture(model));
    t->expected = load_json(path);
    return t->expected != NULL;
}

static void towers_free(towers *t)
{
    bert_free(&t->text);
    effnet_free(&t->vision);
    weights_free(&t->ws);
    tensor_file_free(&t->tf);
    config_free(&t->cfg);
    cJSON_Delete(t->expected);
}

static const cJSON *field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    CHECK_MSG(v != NULL, "expected.json lacks %s", key);
    return v;
}

/* The processor's padded input_ids as unpadded sequences (attention_mask gives the lengths). */
typedef struct {
    int n;
    int32_t **ids;
    int *lens;
} label_ids;

static label_ids case_ids(const cJSON *c)
{
    const cJSON *ids = field(c, "input_ids"), *mask = field(c, "attention_mask");
    label_ids l = {cJSON_GetArraySize(ids), NULL, NULL};
    l.ids = calloc((size_t)l.n, sizeof *l.ids);
    l.lens = calloc((size_t)l.n, sizeof *l.lens);
    for (int i = 0; i < l.n; i++) {
        const cJSON *row = cJSON_GetArrayItem(ids, i), *m = cJSON_GetArrayItem(mask, i), *v;
        l.ids[i] = calloc((size_t)cJSON_GetArraySize(row), sizeof(int32_t));
        int k = 0;
        cJSON_ArrayForEach(v, m) l.lens[i] += v->valueint;
        cJSON_ArrayForEach(v, row) l.ids[i][k++] = v->valueint;
    }
    return l;
}

static void label_ids_free(label_ids *l)
{
    for (int i = 0; i < l->n; i++) free(l->ids[i]);
    free(l->ids);
    free(l->lens);
}

typedef struct {
    const cJSON *states; /* debug.text_hidden_states: [labels, 64, hidden] per layer */
    int hidden;
    double worst;
} text_tap_ctx;

static void text_tap(void *arg, int layer, const float *hidden, const int *offsets, const int *lens, int n)
{
    text_tap_ctx *c = arg;
    const cJSON *t = cJSON_GetArrayItem(c->states, layer);
    float *want = json_tensor(t, NULL);
    int padded = json_tensor_dim(t, 1);
    for (int i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof what, "hidden state %d of label %d", layer, i);
        double d = test_check_close(__FILE__, __LINE__, what, hidden + (size_t)offsets[i] * c->hidden,
                                    want + (size_t)i * padded * c->hidden, (size_t)lens[i] * c->hidden, 1e-5);
        if (d > c->worst) c->worst = d;
    }
    free(want);
}

static void check_text_case(towers *t, const cJSON *c, int with_debug, double *worst)
{
    label_ids l = case_ids(c);
    int h = t->cfg.text.hidden_size, p = t->cfg.projection_dim;
    float *cls = calloc((size_t)l.n * h, sizeof(float)), *proj = calloc((size_t)l.n * p, sizeof(float));
    align_error err = {0};
    text_tap_ctx tc = {NULL, h, 0};
    if (with_debug) tc.states = field(field(c, "debug"), "text_hidden_states");
    CHECK_MSG(bert_encode(&t->text, (const int32_t *const *)l.ids, l.lens, l.n, cls, proj, NULL,
                          with_debug ? text_tap : NULL, &tc, &err) == ALIGN_OK, "%s", err.message);
    size_t n;
    float *want_cls = json_tensor(field(c, "text_last_hidden_state_cls"), &n);
    double d = CHECK_CLOSE(cls, want_cls, n, TOL_EMBED);
    if (d > *worst) *worst = d;
    float *want_proj = json_tensor(field(c, "text_embeds_unnormalized"), &n);
    d = CHECK_CLOSE(proj, want_proj, n, TOL_EMBED);
    if (d > *worst) *worst = d;
    for (int i = 0; i < l.n; i++) l2_normalize(proj + (size_t)i * p, p);
    float *want_norm = json_tensor(field(c, "text_embeds"), &n);
    d = CHECK_CLOSE(proj, want_norm, n, TOL_EMBED);
    if (d > *worst) *worst = d;
    free(want_cls);
    free(want_proj);
    free(want_norm);
    free(cls);
    free(proj);
    label_ids_free(&l);
}

typedef void (*case_check)(towers *t, const cJSON *c, int with_debug, double *worst);

/* Every case of a model's expected.json through one tower; the first also layer by layer. At every
 * ISA level this CPU runs, so that the lower levels' kernels stay tested on a machine with higher
 * ones, and at avx512_on_avx2 (kernel_levels.h). */
static void tower_parity(const char *model, case_check check, const char *tower)
{
    towers t;
    if (!towers_load(&t, model)) return;
    for (const kernel_table *const *kt = test_kernel_tables(); *kt; kt++) {
        const cJSON *c;
        double worst = 0;
        int first = 1;
        t.vision.kernels = t.text.kernels = *kt;
        cJSON_ArrayForEach(c, field(t.expected, "cases")) {
            check(&t, c, first, &worst);
            first = 0;
        }
        test_note("%s, %s: largest %s difference %.3g", model, t.vision.kernels->isa, tower, worst);
    }
    towers_free(&t);
}

TEST(text_tower_matches_hf_tiny_a) { tower_parity("tiny-a", check_text_case, "text"); }
TEST(text_tower_matches_hf_tiny_b) { tower_parity("tiny-b", check_text_case, "text"); }

/* ---- vision ----------------------------------------------------------------------------------- */

/* NCHW (as PyTorch has it) to HWC (as the tower runs), for image i. */
static float *nchw_to_hwc(const float *src, int i, int c, int h, int w)
{
    float *out = malloc(sizeof(float) * (size_t)c * h * w);
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                out[((size_t)y * w + x) * c + ch] = src[(((size_t)i * c + ch) * h + y) * w + x];
    return out;
}

typedef struct {
    const cJSON *stem, *blocks, *last; /* NCHW references; blocks may be NULL */
    int n_blocks, taps;
    double worst_stem, worst_block;
} vision_tap_ctx;

/* x: images first .. first + n - 1 of the reference's batch */
static void compare_map(const cJSON *ref, const float *x, int first, int n, int h, int w, int c, const char *what,
                        double *worst)
{
    CHECK(json_tensor_dim(ref, 0) >= first + n);
    CHECK_INT(json_tensor_dim(ref, 1), c);
    CHECK_INT(json_tensor_dim(ref, 2), h);
    CHECK_INT(json_tensor_dim(ref, 3), w);
    float *want = json_tensor(ref, NULL);
    for (int i = 0; i < n; i++) {
        float *hwc = nchw_to_hwc(want, first + i, c, h, w);
        size_t count = (size_t)h * w * c;
        double d = test_check_close(__FILE__, __LINE__, what, x + (size_t)i * count, hwc, count, scaled_tol(hwc, count));
        if (d > *worst) *worst = d;
        free(hwc);
    }
    free(want);
}

static void vision_tap(void *arg, int block, const float *x, int first, int n, int h, int w, int c)
{
    vision_tap_ctx *v = arg;
    char what[64];
    v->taps++;
    if (block < 0) {
        compare_map(v->stem, x, first, n, h, w, c, "stem", &v->worst_stem);
    } else if (v->blocks) {
        snprintf(what, sizeof what, "block %d", block);
        compare_map(cJSON_GetArrayItem(v->blocks, block), x, first, n, h, w, c, what, &v->worst_block);
    }
    if (block == v->n_blocks - 1)
        compare_map(v->last, x, first, n, h, w, c, "last hidden state", &v->worst_block);
}

static void check_vision_case(towers *t, const cJSON *c, int with_debug, double *worst)
{
    const cJSON *pv = field(c, "pixel_values");
    int n = json_tensor_dim(pv, 0), ch = json_tensor_dim(pv, 1), h = json_tensor_dim(pv, 2), w = json_tensor_dim(pv, 3);
    float *nchw = json_tensor(pv, NULL), *pixels = malloc(sizeof(float) * (size_t)n * ch * h * w);
    for (int i = 0; i < n; i++) {
        float *hwc = nchw_to_hwc(nchw, i, ch, h, w);
        memcpy(pixels + (size_t)i * ch * h * w, hwc, sizeof(float) * (size_t)ch * h * w);
        free(hwc);
    }
    int d = t->cfg.projection_dim;
    float *pooled = malloc(sizeof(float) * (size_t)n * d);
    vision_tap_ctx vt = {field(c, "vision_embeddings_output"),
                         with_debug ? field(field(c, "debug"), "vision_block_outputs") : NULL,
                         field(c, "vision_last_hidden_state"), t->cfg.vision.n_blocks, 0, 0, 0};
    align_error err = {0};
    CHECK_MSG(effnet_encode(&t->vision, pixels, n, h, w, pooled, NULL, NULL, vision_tap, &vt, &err) == ALIGN_OK, "%s",
              err.message);
    size_t count;
    float *want = json_tensor(field(c, "image_embeds_unnormalized"), &count);
    double diff = CHECK_CLOSE(pooled, want, count, scaled_tol(want, count));
    for (int i = 0; i < n; i++) l2_normalize(pooled + (size_t)i * d, d);
    free(want);
    want = json_tensor(field(c, "image_embeds"), &count);
    double diff2 = CHECK_CLOSE(pooled, want, count, TOL_EMBED);
    double m = diff > diff2 ? diff : diff2;
    m = m > vt.worst_stem ? m : vt.worst_stem;
    m = m > vt.worst_block ? m : vt.worst_block;
    if (m > *worst) *worst = m;
    free(want);
    free(pooled);
    free(pixels);
    free(nchw);
}


/* A batch of every case's images, whose first blocks run image by image (batch_below set low, as
 * align-base's 145x145 stages do) and the rest as one batch: each image's stem output (from the
 * first phase), last hidden state (from the second) and embedding must be its own case's. */
#define MAX_BATCH 32

typedef struct {
    const cJSON *cases[MAX_BATCH]; /* image i is image index[i] of cases[i] */
    int index[MAX_BATCH];
    int n_blocks, stem_taps, last_taps;
    double worst;
} batch_tap_ctx;

static void batch_tap(void *arg, int block, const float *x, int first, int n, int h, int w, int c)
{
    batch_tap_ctx *b = arg;
    const char *name = block < 0 ? "vision_embeddings_output" : "vision_last_hidden_state";
    if (block >= 0 && block != b->n_blocks - 1) return;
    *(block < 0 ? &b->stem_taps : &b->last_taps) += 1;
    for (int i = first; i < first + n; i++)
        compare_map(field(b->cases[i], name), x + (size_t)(i - first) * h * w * c, b->index[i], 1, h, w, c, name,
                    &b->worst);
}

static void vision_batch_parity_at(const char *model, int batch_below, const kernel_table *kt, int all_early)
{
    towers t;
    if (!towers_load(&t, model)) return;
    t.vision.batch_below = batch_below;
    t.vision.kernels = kt;
    batch_tap_ctx b = {{0}, {0}, t.cfg.vision.n_blocks, 0, 0, 0};
    int n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, field(t.expected, "cases"))
        for (int i = 0; i < json_tensor_dim(field(c, "pixel_values"), 0) && n < MAX_BATCH; i++, n++)
            b.cases[n] = c, b.index[n] = i;
    const cJSON *pv = field(b.cases[0], "pixel_values");
    int ch = json_tensor_dim(pv, 1), h = json_tensor_dim(pv, 2), w = json_tensor_dim(pv, 3), d = t.cfg.vision.out_dim;
    size_t per = (size_t)ch * h * w;
    float *pixels = malloc(sizeof(float) * per * n), *pooled = malloc(sizeof(float) * (size_t)n * d);
    for (int i = 0; i < n; i++) {
        float *nchw = json_tensor(field(b.cases[i], "pixel_values"), NULL), *hwc = nchw_to_hwc(nchw, b.index[i], ch, h, w);
        memcpy(pixels + per * i, hwc, sizeof(float) * per);
        free(hwc);
        free(nchw);
    }
    align_error err = {0};
    CHECK_MSG(effnet_encode(&t.vision, pixels, n, h, w, pooled, NULL, NULL, batch_tap, &b, &err) == ALIGN_OK, "%s",
              err.message);
    /* the stem ran image by image, the last block once for the whole batch (or, when every block
     * runs image by image, once for each image) */
    CHECK_INT(b.stem_taps, n);
    CHECK_INT(b.last_taps, all_early ? n : 1);
    for (int i = 0; i < n; i++) {
        float *want = json_tensor(field(b.cases[i], "image_embeds_unnormalized"), NULL) + (size_t)b.index[i] * d;
        double diff = CHECK_CLOSE(pooled + (size_t)i * d, want, (size_t)d, scaled_tol(want, (size_t)d));
        if (diff > b.worst) b.worst = diff;
        free(want - (size_t)b.index[i] * d);
    }
    test_note("%s, %s: %d images, largest difference %.3g", model, t.vision.kernels->isa, n, b.worst);
    free(pixels);
    free(pooled);
    towers_free(&t);
}

static void vision_batch_parity(const char *model, int batch_below)
{
    for (const kernel_table *const *kt = test_kernel_tables(); *kt; kt++)
        vision_batch_parity_at(model, batch_below, *kt, 0);
}

/* batch_below 1: every block runs one image at a time, and the whole batch is gathered after the
 * last (the workspace's gather buffer must hold it: it once held only what later blocks needed). */
TEST(vision_tower_every_block_image_by_image_matches_hf_tiny_a)
{
    vision_batch_parity_at("tiny-a", 1, kernel_table_at(kernel_cpu_level()), 1);
}
TEST(vision_tower_every_block_image_by_image_matches_hf_tiny_b)
{
    vision_batch_parity_at("tiny-b", 1, kernel_table_at(kernel_cpu_level()), 1);
}

TEST(vision_tower_batch_split_matches_hf_tiny_a) { vision_batch_parity("tiny-a", 100); }
TEST(vision_tower_batch_split_matches_hf_tiny_b) { vision_batch_parity("tiny-b", 100); }

TEST(vision_tower_matches_hf_tiny_a) { tower_parity("tiny-a", check_vision_case, "vision"); }
TEST(vision_tower_matches_hf_tiny_b) { tower_parity("tiny-b", check_vision_case, "vision"); }
