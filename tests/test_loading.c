/* config.json parsing, the safetensors reader and the checkpoint check, on the fixtures and on
 * hostile files. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "config.h"
#include "cpu.h"
#include "fileio.h"
#include "model.h"
#include "safetensors.h"
#include "tensors.h"
#include "test.h"
#include "weights.h"

/* ---- named tensors read back exactly ---------------------------------------------------------- */

typedef struct {
    const char *name;
    int ndim;
    int64_t shape[4];
    float first, last; /* as PyTorch reads them from the file */
} known_tensor;

static void check_known(const char *model, const known_tensor *k, int n, size_t count)
{
    tensor_file tf;
    align_error err;
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", fixture(model));
    CHECK_MSG(checkpoint_open(path, &tf, &err) == ALIGN_OK, "%s", err.message);
    CHECK_INT(tf.count, count);
    for (int i = 0; i < n; i++) {
        const tensor_entry *t = tensor_file_find(&tf, k[i].name);
        CHECK_MSG(t != NULL, "%s missing", k[i].name);
        if (!t) continue;
        CHECK_INT(t->ndim, k[i].ndim);
        for (int d = 0; d < k[i].ndim; d++) CHECK_INT(t->shape[d], k[i].shape[d]);
        float *v = malloc(sizeof(float) * (size_t)tensor_numel(t));
        tensor_to_f32(t, v);
        CHECK_MSG(v[0] == k[i].first, "%s[0] = %.9g, expected %.9g", k[i].name, v[0], k[i].first);
        CHECK_MSG(v[tensor_numel(t) - 1] == k[i].last, "%s[-1] = %.9g", k[i].name, v[tensor_numel(t) - 1]);
        free(v);
    }
    const tensor_entry *pos = tensor_file_find(&tf, "text_model.embeddings.position_ids");
    CHECK(pos && pos->dtype == DTYPE_I64 && pos->shape[1] == 512);
    if (pos) {
        int64_t v;
        memcpy(&v, pos->data + 8 * 511, 8);
        CHECK_INT(v, 511); /* arange(512) */
    }
    tensor_file_free(&tf);
}

TEST(safetensors_tiny_a_reads_back_exact_values)
{
    const known_tensor k[] = {
        {"temperature", 0, {0}, 0.029999999329447746f, 0.029999999329447746f},
        {"text_model.embeddings.word_embeddings.weight", 2, {30522, 24}, -0.6027625203132629f, -0.11219692975282669f},
        {"vision_model.encoder.blocks.3.projection.project_conv.weight", 4, {16, 96, 1, 1}, 0.06152449920773506f,
         0.06994366645812988f},
        {"vision_model.embeddings.batchnorm.running_var", 1, {16}, 4.682158946990967f, 1.8766169548034668f},
        {"text_projection.bias", 1, {40}, 0.031095851212739944f, -0.050742048770189285f},
    };
    check_known("tiny-a", k, 5, 257);
}

TEST(safetensors_tiny_b_reads_back_exact_values)
{
    const known_tensor k[] = {
        {"temperature", 0, {0}, 0.05000000074505806f, 0.05000000074505806f},
        {"text_model.embeddings.word_embeddings.weight", 2, {30522, 16}, -0.20093804597854614f, 0.750414252281189f},
        {"vision_model.encoder.blocks.3.projection.project_conv.weight", 4, {8, 48, 1, 1}, 0.028764234855771065f,
         0.04972655326128006f},
        {"vision_model.embeddings.batchnorm.running_var", 1, {16}, 1.1045539379119873f, 1.7647550106048584f},
        {"text_projection.bias", 1, {16}, 0.12006673961877823f, 0.03867446631193161f},
    };
    check_known("tiny-b", k, 5, 213);
}

/* ---- the tensor list derived from config.json ------------------------------------------------- */

TEST(align_base_specs_equal_the_hf_manifest)
{
    align_config cfg;
    align_error err;
    CHECK_MSG(config_read(fixture("align-base/config.json"), &cfg, &err) == ALIGN_OK, "%s", err.message);
    spec_list specs = {0};
    CHECK(model_specs(&cfg, &specs, &err) == ALIGN_OK);
    cJSON *m = load_json(fixture("align-base/weight_manifest.json"));
    if (!m) return;
    const cJSON *tensors = cJSON_GetObjectItem(m, "tensors"), *t;
    CHECK_INT(specs.count, cJSON_GetArraySize(tensors));
    CHECK_INT(cfg.vision.n_blocks, cJSON_GetObjectItem(m, "num_vision_blocks")->valueint);
    size_t i = 0, mismatches = 0;
    cJSON_ArrayForEach(t, tensors) {
        if (i >= specs.count) break;
        const tensor_spec *s = &specs.items[i++];
        const cJSON *shape = cJSON_GetObjectItem(t, "shape");
        int same = strcmp(s->name, cJSON_GetObjectItem(t, "name")->valuestring) == 0 &&
                   s->ndim == cJSON_GetArraySize(shape);
        for (int d = 0; same && d < s->ndim; d++) same = s->shape[d] == cJSON_GetArrayItem(shape, d)->valueint;
        same = same && !!(s->flags & SPEC_I64) == (strcmp(cJSON_GetObjectItem(t, "dtype")->valuestring, "int64") == 0);
        if (!same && mismatches++ < 5)
            CHECK_MSG(0, "entry %zu: derived %s, manifest %s", i - 1, s->name, cJSON_GetObjectItem(t, "name")->valuestring);
    }
    CHECK_INT(mismatches, 0);
    CHECK_INT(model_count_parameters(&specs), (int64_t)cJSON_GetObjectItem(m, "num_parameters")->valuedouble);
    spec_list_free(&specs);
    config_free(&cfg);
    cJSON_Delete(m);
}

TEST(config_derives_the_block_counts_hf_built)
{
    /* debug.vision_block_outputs of expected.json has one entry per block HF built */
    static const struct {
        const char *model;
        int blocks, stem, out;
    } want[] = {{"tiny-a", 10, 16, 40}, {"tiny-b", 8, 16, 16}};
    for (int i = 0; i < 2; i++) {
        align_config cfg;
        align_error err;
        char path[512];
        snprintf(path, sizeof path, "%s/config.json", fixture(want[i].model));
        CHECK_MSG(config_read(path, &cfg, &err) == ALIGN_OK, "%s", err.message);
        CHECK_INT(cfg.vision.n_blocks, want[i].blocks);
        CHECK_INT(cfg.vision.stem_dim, want[i].stem);
        CHECK_INT(cfg.vision.out_dim, want[i].out);
        config_free(&cfg);
    }
    align_config cfg;
    align_error err;
    CHECK(config_read(fixture("tiny-b/config.json"), &cfg, &err) == ALIGN_OK);
    CHECK_INT(cfg.vision.pooling, POOL_MAX);
    CHECK(cfg.vision.batch_norm_eps == 1e-5);
    /* depthwise_padding [2]: block 2 pads symmetrically, the others the TF way */
    CHECK_INT(cfg.vision.blocks[2].adjust_padding, 0);
    CHECK_INT(cfg.vision.blocks[1].adjust_padding, 1);
    config_free(&cfg);
}

/* ---- config.json: defaults and bad values ----------------------------------------------------- */

static align_status parse(const char *json, align_config *cfg, align_error *err)
{
    return config_parse(json, strlen(json), "config.json", cfg, err);
}

TEST(config_absent_keys_take_hf_defaults)
{
    align_config cfg;
    align_error err;
    CHECK_MSG(parse("{}", &cfg, &err) == ALIGN_OK, "%s", err.message);
    /* AlignConfig() with no arguments is align-base's shape */
    CHECK_INT(cfg.projection_dim, 640);
    CHECK_INT(cfg.text.hidden_size, 768);
    CHECK_INT(cfg.text.num_layers, 12);
    CHECK_INT(cfg.text.vocab_size, 30522);
    CHECK_INT(cfg.text.act, ACT_GELU);
    CHECK(cfg.text.layer_norm_eps == 1e-12);
    CHECK_INT(cfg.vision.n_blocks, 55);
    CHECK_INT(cfg.vision.stem_dim, 64);
    CHECK_INT(cfg.vision.out_dim, 640);
    CHECK_INT(cfg.vision.hidden_dim, 2560);
    CHECK_INT(cfg.vision.act, ACT_SILU);
    CHECK(cfg.vision.batch_norm_eps == 1e-3);
    config_free(&cfg);
}

static void expect_config_error(const char *json, align_status code, const char *needle)
{
    align_config cfg;
    align_error err = {0};
    align_status s = parse(json, &cfg, &err);
    CHECK_MSG(s == code, "%s: status %d, expected %d (%s)", json, s, code, err.message);
    CHECK_CONTAINS(err.message, needle);
    if (s == ALIGN_OK) config_free(&cfg);
}

TEST(config_bad_values_name_the_key)
{
    expect_config_error("", ALIGN_ERR_FORMAT, "config.json: not valid JSON");
    expect_config_error("[1, 2]", ALIGN_ERR_FORMAT, "not a JSON object");
    expect_config_error("{\"projection_dim\": \"640\"}", ALIGN_ERR_CONFIG, "projection_dim: expected an integer");
    expect_config_error("{\"projection_dim\": 0}", ALIGN_ERR_CONFIG, "projection_dim: 0 is out of range");
    expect_config_error("{\"text_config\": {\"hidden_size\": -768}}", ALIGN_ERR_CONFIG, "text_config: hidden_size");
    expect_config_error("{\"text_config\": {\"hidden_size\": 7.5}}", ALIGN_ERR_CONFIG, "hidden_size: expected an integer");
    expect_config_error("{\"text_config\": {\"num_attention_heads\": 7}}", ALIGN_ERR_CONFIG, "num_attention_heads: 7 does not divide");
    expect_config_error("{\"text_config\": {\"hidden_act\": \"softsign\"}}", ALIGN_ERR_CONFIG, "hidden_act: unsupported activation");
    expect_config_error("{\"text_config\": {\"layer_norm_eps\": \"small\"}}", ALIGN_ERR_CONFIG, "layer_norm_eps: expected a number");
    expect_config_error("{\"text_config\": 3}", ALIGN_ERR_CONFIG, "text_config: expected an object");
    expect_config_error("{\"text_config\": {\"position_embedding_type\": \"relative_key\"}}", ALIGN_ERR_CONFIG,
                        "position_embedding_type");
    expect_config_error("{\"vision_config\": {\"kernel_sizes\": 3}}", ALIGN_ERR_CONFIG, "kernel_sizes: expected an array");
    expect_config_error("{\"vision_config\": {\"kernel_sizes\": [3, 3]}}", ALIGN_ERR_CONFIG, "in_channels: missing");
    expect_config_error("{\"vision_config\": {\"kernel_sizes\": [3, 4, 5, 3, 5, 5, 3]}}", ALIGN_ERR_CONFIG, "kernel_sizes: 4 is even");
    expect_config_error("{\"vision_config\": {\"strides\": [1, 3, 2, 2, 1, 2, 1]}}", ALIGN_ERR_CONFIG, "strides: 3 is out of range");
    expect_config_error("{\"vision_config\": {\"pooling_type\": \"median\"}}", ALIGN_ERR_CONFIG, "pooling_type");
    expect_config_error("{\"vision_config\": {\"num_channels\": 4}}", ALIGN_ERR_CONFIG, "num_channels");
    expect_config_error("{\"vision_config\": {\"depth_coefficient\": -1}}", ALIGN_ERR_CONFIG, "depth_coefficient");
    expect_config_error("{\"vision_config\": {\"width_coefficient\": 1}}", ALIGN_ERR_CONFIG,
                        "projection_dim: 640, but the vision tower ends with 320 channels");
}

TEST(config_sizes_that_would_overflow_are_refused)
{
    /* every key within its own range, the product absurd: refused before anything is allocated */
    expect_config_error("{\"text_config\": {\"vocab_size\": 4000000, \"hidden_size\": 65536, \"num_attention_heads\": 1}}",
                        ALIGN_ERR_CONFIG, "parameters, more than");
    expect_config_error("{\"text_config\": {\"hidden_size\": 1e300}}", ALIGN_ERR_CONFIG, "hidden_size");
    expect_config_error("{\"text_config\": {\"num_hidden_layers\": 9223372036854775807}}", ALIGN_ERR_CONFIG,
                        "num_hidden_layers");
    expect_config_error("{\"vision_config\": {\"num_block_repeats\": [256, 256, 256, 256, 256, 256, 256], "
                        "\"depth_coefficient\": 100}}",
                        ALIGN_ERR_CONFIG, "num_block_repeats");
    expect_config_error("{\"vision_config\": {\"width_coefficient\": 100, \"out_channels\": [16, 24, 40, 80, 112, 192, 1000]}}",
                        ALIGN_ERR_CONFIG, "width_coefficient: stage 6 too wide");
    expect_config_error("{\"vision_config\": {\"width_coefficient\": 100}, \"projection_dim\": 32000}", ALIGN_ERR_CONFIG,
                        "parameters, more than");
}

/* ---- hostile safetensors ---------------------------------------------------------------------- */

/* A file of header text followed by data_len bytes of data. */
static uint8_t *make_file(const char *header, size_t data_len, size_t *size)
{
    size_t h = strlen(header);
    *size = 8 + h + data_len;
    uint8_t *buf = calloc(1, *size);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(buf + 8, header, h);
    return buf;
}

static void expect_st_error(const uint8_t *buf, size_t size, const char *needle)
{
    tensor_file tf = {0};
    align_error err = {0};
    align_status s = safetensors_parse(buf, size, "bad.safetensors", &tf, &err);
    CHECK_MSG(s == ALIGN_ERR_FORMAT, "status %d for a file that should fail with \"%s\"", s, needle);
    CHECK_CONTAINS(err.message, "bad.safetensors: ");
    CHECK_CONTAINS(err.message, needle);
    tensor_file_free(&tf);
}

static void expect_header_error(const char *header, size_t data_len, const char *needle)
{
    size_t size;
    uint8_t *buf = make_file(header, data_len, &size);
    expect_st_error(buf, size, needle);
    free(buf);
}

TEST(safetensors_hostile_headers_fail_cleanly)
{
    const uint8_t tiny[4] = {1, 2, 3, 4};
    expect_st_error(tiny, 4, "not a safetensors file");
    uint8_t past[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0};
    expect_st_error(past, sizeof past, "runs past the end of the file");
    uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    expect_st_error(huge, sizeof huge, "runs past the end of the file");
    expect_header_error("{not json", 0, "header is not valid JSON");
    expect_header_error("[1,2,3]", 0, "header is not a JSON object");
    expect_header_error("{\"a\": 5}", 0, "tensor a: entry is not an object");
    expect_header_error("{\"a\": {\"dtype\": \"F64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 8, "unsupported dtype F64");
    expect_header_error("{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "dtype missing");
    expect_header_error("{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, "shape missing");
    expect_header_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4, "shape[0] is not a size");
    expect_header_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 4, "shape[0] is not a size");
    expect_header_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 4]}}",
                        4, "shape larger than the file");
    expect_header_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}", 4,
                        "9 dimensions");
    expect_header_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 16]}}", 8,
                        "data_offsets [0, 16] outside the data (8 bytes)");
    expect_header_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", 8, "outside the data");
    expect_header_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0]}}", 8, "data_offsets must be two sizes");
    expect_header_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8, "8 bytes for 3 F32 values");
    expect_header_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                        " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
                        12, "tensors a and b overlap");
    expect_header_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                        " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                        8, "tensor a appears twice");
}

TEST(safetensors_truncated_file_is_refused_before_reading)
{
    /* the real tiny-a file cut short: the header now claims data the file does not have */
    tensor_file tf;
    align_error err;
    CHECK(checkpoint_open(fixture("tiny-a/model.safetensors"), &tf, &err) == ALIGN_OK);
    size_t cut = tf.map.size - 100;
    expect_st_error(tf.map.data, cut, "outside the data");
    expect_st_error(tf.map.data, 20, "runs past the end of the file");
    tensor_file_free(&tf);
    /* and through the file path too: a truncated file on disk */
    CHECK(checkpoint_open(fixture("tiny-b/model.safetensors"), &tf, &err) == ALIGN_OK);
    const char *path = write_tmp("truncated.safetensors", tf.map.data, tf.map.size / 2);
    tensor_file_free(&tf);
    CHECK(checkpoint_open(path, &tf, &err) == ALIGN_ERR_FORMAT);
    CHECK_CONTAINS(err.message, "truncated.safetensors: tensor ");
    CHECK(checkpoint_open(write_tmp("empty.safetensors", "", 0), &tf, &err) == ALIGN_ERR_FORMAT);
    CHECK_CONTAINS(err.message, "not a safetensors file (0 bytes)");
}

TEST(safetensors_f16_and_bf16_widen_exactly)
{
    /* 1.0, -2.0, 65504 (largest half), 2^-24 (smallest subnormal half) */
    const char *header = "{\"h\": {\"dtype\": \"F16\", \"shape\": [4], \"data_offsets\": [0, 8]},"
                         " \"b\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [8, 12]}}";
    size_t size;
    uint8_t *buf = make_file(header, 12, &size);
    uint8_t *data = buf + size - 12;
    const uint8_t bytes[12] = {0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00, 0x80, 0x3f, 0x49, 0x40};
    memcpy(data, bytes, 12);
    tensor_file tf = {0};
    align_error err;
    CHECK(safetensors_parse(buf, size, "x", &tf, &err) == ALIGN_OK);
    float v[4];
    tensor_to_f32(tensor_file_find(&tf, "h"), v);
    CHECK(v[0] == 1.0f && v[1] == -2.0f && v[2] == 65504.0f && v[3] == ldexpf(1, -24));
    tensor_to_f32(tensor_file_find(&tf, "b"), v);
    CHECK(v[0] == 1.0f && v[1] == 3.140625f);
    CHECK(f32_to_f16(65504.0f) == 0x7bff && f32_to_f16(ldexpf(1, -24)) == 0x0001 && f32_to_f16(-2.0f) == 0xc000);
    CHECK(f32_to_bf16(3.14159f) == 0x4049);
    tensor_file_free(&tf);
    free(buf);
}

/* ---- the checkpoint against the config -------------------------------------------------------- */

TEST(spec_check_names_every_wrong_tensor)
{
    align_config cfg;
    align_error err;
    tensor_file tf;
    CHECK(config_read(fixture("tiny-a/config.json"), &cfg, &err) == ALIGN_OK);
    CHECK(checkpoint_open(fixture("tiny-a/model.safetensors"), &tf, &err) == ALIGN_OK);
    spec_list specs = {0};
    model_specs(&cfg, &specs, &err);
    CHECK_MSG(spec_check(&specs, &tf, "model.safetensors", &err) == ALIGN_OK, "%s", err.message);
    /* the same file against a config with wider block-3 projections, and one entry renamed away */
    for (size_t i = 0; i < specs.count; i++) {
        if (strcmp(specs.items[i].name, "vision_model.encoder.blocks.3.projection.project_conv.weight") == 0)
            specs.items[i].shape[1] = 160;
        if (strcmp(specs.items[i].name, "text_projection.bias") == 0) strcpy(specs.items[i].name, "text_projection.bias2");
    }
    CHECK(spec_check(&specs, &tf, "model.safetensors", &err) == ALIGN_ERR_WEIGHTS);
    CHECK_CONTAINS(err.message, "model.safetensors: 2 tensors wrong");
    CHECK_CONTAINS(err.message, "vision_model.encoder.blocks.3.projection.project_conv.weight: expected [16, 160, 1, 1], file has [16, 96, 1, 1]");
    CHECK_CONTAINS(err.message, "text_projection.bias2: missing");
    spec_list_free(&specs);
    tensor_file_free(&tf);
    config_free(&cfg);
}

/* ---- the OpenBLAS kernel ---------------------------------------------------------------------- */

TEST(blas_kernel_upgrade_follows_the_cpu)
{
    /* the case this machine type meets: 0.3.21 does not know the CPU and loads its SSE3 kernel */
    CHECK_STR(core_upgrade("Prescott", LEVEL_AVX512), "SkylakeX");
    CHECK_STR(core_upgrade("Prescott", LEVEL_AVX2), "Haswell");
    CHECK_STR(core_upgrade("Nehalem", LEVEL_AVX), "Sandybridge");
    CHECK_STR(core_upgrade("Sandybridge", LEVEL_AVX512), "SkylakeX");
    CHECK_STR(core_upgrade("Haswell", LEVEL_AVX512), "SkylakeX");
    /* already right, or as good as the CPU allows */
    CHECK(core_upgrade("SkylakeX", LEVEL_AVX512) == NULL);
    CHECK(core_upgrade("Cooperlake", LEVEL_AVX512) == NULL);
    CHECK(core_upgrade("SapphireRapids", LEVEL_AVX512) == NULL);
    CHECK(core_upgrade("Zen", LEVEL_AVX2) == NULL);
    CHECK(core_upgrade("Prescott", LEVEL_SSE) == NULL);
    /* a kernel name this code has never heard of is left alone */
    CHECK(core_upgrade("Zen5", LEVEL_AVX512) == NULL);
}

/* A kernel this CPU's OpenBLAS has but would not pick, and the name it then reports (its arm64
 * kernels report themselves in lower case). */
#if defined(__aarch64__)
static const char chosen_core[] = "CortexA57", reported_core[] = "cortexa57";
#else
static const char chosen_core[] = "Prescott", reported_core[] = "Prescott";
#endif

TEST(blas_kernel_the_user_chose_is_kept)
{
    run_result r = run_cmd("OPENBLAS_CORETYPE=%s %s info -m %s --json", chosen_core, align_bin(), fixture("tiny-a"));
    CHECK_MSG(r.status == 0, "%s", r.err);
    char expected[96];
    snprintf(expected, sizeof expected, "\"core\":\"%s\",\"better_core\":null", reported_core);
    CHECK_CONTAINS(r.out, expected);
    run_free(&r);
    /* without a choice, whatever runs is what this CPU should run */
    r = run_cmd("env -u OPENBLAS_CORETYPE %s info -m %s --json", align_bin(), fixture("tiny-a"));
    CHECK_CONTAINS(r.out, "\"better_core\":null");
    run_free(&r);
}

/* ---- file mapping ----------------------------------------------------------------------------- */

/* A file of 2 MB or more is mapped at a 2 MB boundary (so that the kernel can map it with 2 MB
 * pages), a smaller one anywhere; either way every byte reads back as written. */
TEST(weight_files_map_at_a_huge_page_boundary)
{
    const size_t sizes[] = {4096 + 3, ((size_t)5 << 20) + 12345};
    for (int i = 0; i < 2; i++) {
        size_t n = sizes[i];
        uint8_t *bytes = malloc(n);
        for (size_t k = 0; k < n; k++) bytes[k] = (uint8_t)(k * 131 + k / 4099);
        const char *path = write_tmp(i ? "big.bin" : "small.bin", bytes, n);
        file_map map;
        align_error err;
        CHECK_MSG(file_map_open(path, &map, &err) == ALIGN_OK, "%s", err.message);
        CHECK_INT(map.size, n);
        if (i) CHECK_MSG(((uintptr_t)map.data & (((uintptr_t)2 << 20) - 1)) == 0, "mapped at %p", (void *)map.data);
        CHECK(memcmp(map.data, bytes, n) == 0);
        file_map_close(&map);
        free(bytes);
    }
}
