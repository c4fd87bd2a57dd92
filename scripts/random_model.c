/* random-model: writes a complete align-base-shaped model directory with deterministic random
 * weights, for benchmarks and full-size tests on machines that cannot download the real one.
 *
 *     build/random-model OUT_DIR [--config-dir DIR] [--vocab FILE] [--seed N]
 *
 * The config files come from --config-dir (default tests/fixtures/align-base, kakaobrain/align-base's
 * own), the vocabulary from --vocab (default tests/fixtures/vocab.txt). Weights follow Hugging
 * Face's initialisation where it keeps activations finite (BERT: normal(0, 0.02), LayerNorm 1/0)
 * and He initialisation for the convolutions, so that 55 EfficientNet blocks neither vanish nor
 * blow up and different images keep different embeddings; batch-norm statistics are random but
 * with positive variance; temperature is 0.05. The same bits on every platform (the Makefile
 * compiles this without contracting products and sums into FMAs): tests/fixtures/fullsize holds a
 * float64 evaluation of them. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "model.h"
#include "safetensors.h"
#include "weights.h"

typedef struct {
    uint64_t s;
} rng;

static uint64_t next_u64(rng *r)
{
    /* splitmix64: fast, and every seed gives a full-quality stream */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float uniform(rng *r)
{
    return (float)((next_u64(r) >> 40) * (1.0 / 16777216.0));
}

/* Approximately normal (a sum of four uniforms, rescaled): the tails do not matter here, speed
 * does, with 172 M values to draw. */
static float normal(rng *r)
{
    return (uniform(r) + uniform(r) + uniform(r) + uniform(r) - 2.0f) * 1.7320508f;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Whether name is the projection batch norm's weight of a block that adds its input. */
static int residual_projection(const vision_config *vc, const char *name)
{
    int block, end = 0;
    if (sscanf(name, "vision_model.encoder.blocks.%d.projection.project_bn.weight%n", &block, &end) != 1 ||
        name[end] != '\0')
        return 0;
    return block >= 0 && block < vc->n_blocks && vc->blocks[block].residual;
}

static void fill(const vision_config *vc, const tensor_spec *s, float *v, int64_t n, rng *r)
{
    const char *name = s->name;
    int64_t fan_in = s->ndim >= 2 ? n / s->shape[0] : 1;
    if (strcmp(name, "temperature") == 0) {
        v[0] = 0.05f;
    } else if (ends_with(name, "running_var")) {
        for (int64_t i = 0; i < n; i++) v[i] = 0.5f + uniform(r);
    } else if (ends_with(name, "running_mean")) {
        for (int64_t i = 0; i < n; i++) v[i] = 0.1f * normal(r);
    } else if (ends_with(name, "LayerNorm.weight") || ends_with(name, "bn.weight") || ends_with(name, "norm.weight") ||
               ends_with(name, "batchnorm.weight")) {
        /* the projection's batch norm starts small in blocks that add their input, as residual
         * branches in ResNets do, so that sums over a stage's repeated blocks stay of order one;
         * in a stage's first block it passes the image on undiminished (at 0.2 there, what the
         * image contributes shrank tenfold a stage, and every image's embedding was the same to
         * 1e-7) */
        float base = residual_projection(vc, name) ? 0.2f : ends_with(name, "project_bn.weight") ? 1.4f : 1.0f;
        for (int64_t i = 0; i < n; i++) v[i] = base * (1.0f + 0.1f * normal(r));
    } else if (ends_with(name, ".bias")) {
        for (int64_t i = 0; i < n; i++) v[i] = 0.02f * normal(r);
    } else if (s->ndim == 4) { /* convolutions: He initialisation */
        float std = sqrtf(2.0f / (float)fan_in);
        for (int64_t i = 0; i < n; i++) v[i] = std * normal(r);
    } else {
        for (int64_t i = 0; i < n; i++) v[i] = 0.02f * normal(r);
    }
}

static int copy_file(const char *from, const char *dir, const char *name)
{
    char to[4096];
    snprintf(to, sizeof to, "%s/%s", dir, name);
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    if (!in || !out) {
        fprintf(stderr, "random-model: %s: %s\n", in ? to : from, strerror(errno));
        if (in) fclose(in);
        return -1;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    fclose(in);
    return fclose(out) == 0 ? 0 : -1;
}

static int write_weights(const align_config *cfg, const char *dir, uint64_t seed)
{
    spec_list specs = {0};
    align_error err;
    if (model_specs(cfg, &specs, &err)) return fprintf(stderr, "random-model: %s\n", err.message), -1;
    size_t total = 0;
    for (size_t i = 0; i < specs.count; i++) {
        int64_t n = 1;
        for (int d = 0; d < specs.items[i].ndim; d++) n *= specs.items[i].shape[d];
        total += (size_t)n * 8; /* room for I64 too */
    }
    uint8_t *data = malloc(total);
    tensor_file tf = {0};
    tf.entries = calloc(specs.count, sizeof *tf.entries);
    if (!data || !tf.entries) return fprintf(stderr, "random-model: out of memory\n"), -1;
    rng r = {seed};
    size_t at = 0;
    for (size_t i = 0; i < specs.count; i++) {
        const tensor_spec *s = &specs.items[i];
        tensor_entry *t = &tf.entries[tf.count++];
        int64_t n = 1;
        for (int d = 0; d < s->ndim; d++) n *= (t->shape[d] = s->shape[d]);
        t->name = strdup(s->name);
        t->ndim = s->ndim;
        t->data = data + at;
        if (s->flags & SPEC_I64) {
            t->dtype = DTYPE_I64;
            /* position_ids is arange; num_batches_tracked a count */
            for (int64_t k = 0; k < n; k++) ((int64_t *)(data + at))[k] = ends_with(s->name, "position_ids") ? k : 1000;
            t->nbytes = (size_t)n * 8;
        } else {
            t->dtype = DTYPE_F32;
            fill(&cfg->vision, s, (float *)(data + at), n, &r);
            t->nbytes = (size_t)n * 4;
        }
        at += (t->nbytes + 7) & ~(size_t)7;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int rc = safetensors_write(path, &tf, DTYPE_F32, &err) ? (fprintf(stderr, "random-model: %s\n", err.message), -1) : 0;
    for (size_t i = 0; i < tf.count; i++) free(tf.entries[i].name);
    free(tf.entries);
    free(data);
    spec_list_free(&specs);
    return rc;
}

int main(int argc, char **argv)
{
    const char *out = NULL, *config_dir = "tests/fixtures/align-base", *vocab = "tests/fixtures/vocab.txt";
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config-dir") == 0 && i + 1 < argc)
            config_dir = argv[++i];
        else if (strcmp(argv[i], "--vocab") == 0 && i + 1 < argc)
            vocab = argv[++i];
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && !out)
            out = argv[i];
        else
            return fprintf(stderr, "usage: random-model OUT_DIR [--config-dir DIR] [--vocab FILE] [--seed N]\n"), 1;
    }
    if (!out) return fprintf(stderr, "usage: random-model OUT_DIR [--config-dir DIR] [--vocab FILE] [--seed N]\n"), 1;
    if (mkdir(out, 0755) != 0 && errno != EEXIST) return fprintf(stderr, "random-model: %s: %s\n", out, strerror(errno)), 1;
    static const char *const files[] = {"config.json", "preprocessor_config.json", "tokenizer_config.json",
                                        "special_tokens_map.json"};
    char from[4096];
    for (int i = 0; i < 4; i++) {
        snprintf(from, sizeof from, "%s/%s", config_dir, files[i]);
        if (copy_file(from, out, files[i])) return 1;
    }
    if (copy_file(vocab, out, "vocab.txt")) return 1;
    align_config cfg;
    align_error err;
    snprintf(from, sizeof from, "%s/config.json", out);
    if (config_read(from, &cfg, &err)) return fprintf(stderr, "random-model: %s\n", err.message), 1;
    int rc = write_weights(&cfg, out, seed);
    config_free(&cfg);
    return rc ? 1 : 0;
}
