/* fuzz_config: arbitrary bytes as each of the model's JSON files: config.json (config_parse),
 * tokenizer_config.json and preprocessor_config.json. Whatever parses must hold sizes inside the
 * documented limits, with the vision blocks derived consistently. */
#include <stdint.h>

#include "config.h"
#include "fuzz_util.h"
#include "preprocess.h"
#include "resample.h"
#include "tokenizer.h"

static void check_config(const align_config *c)
{
    const text_config *t = &c->text;
    const vision_config *v = &c->vision;
    FUZZ_ASSERT(t->vocab_size >= 1 && t->hidden_size >= 1 && t->num_layers >= 1 && t->num_heads >= 1,
                "text sizes");
    FUZZ_ASSERT(t->hidden_size % t->num_heads == 0, "heads do not divide hidden_size");
    FUZZ_ASSERT(t->max_position >= 3 && t->intermediate_size >= 1, "positions");
    FUZZ_ASSERT(v->n_blocks >= 1 && v->n_blocks <= CONFIG_MAX_BLOCKS && v->blocks, "%d blocks", v->n_blocks);
    FUZZ_ASSERT(v->n_stages >= 1 && v->n_stages <= CONFIG_MAX_STAGES, "%d stages", v->n_stages);
    FUZZ_ASSERT(v->num_channels == 3 && v->stem_dim >= 1, "stem");
    for (int i = 0; i < v->n_blocks; i++) {
        const vision_block *b = &v->blocks[i];
        FUZZ_ASSERT(b->in_dim >= 1 && b->out_dim >= 1 && b->expand_dim >= b->in_dim && b->se_dim >= 1, "block %d", i);
        FUZZ_ASSERT(b->kernel >= 1 && b->kernel % 2 == 1 && (b->stride == 1 || b->stride == 2), "block %d", i);
        if (i) FUZZ_ASSERT(b->in_dim == v->blocks[i - 1].out_dim, "block %d does not continue %d", i, i - 1);
    }
    FUZZ_ASSERT(v->blocks[0].in_dim == v->stem_dim, "first block does not take the stem");
    FUZZ_ASSERT(v->out_dim == c->projection_dim, "out_dim %d, projection_dim %d", v->out_dim, c->projection_dim);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *json = (const char *)data;
    align_error err;

    align_config cfg;
    align_status s = config_parse(json, size, "config.json", &cfg, &err);
    if (s) {
        fuzz_check_error(s, &err, "config.json");
        FUZZ_ASSERT(cfg.vision.blocks == NULL, "a failed parse kept its blocks");
    } else {
        check_config(&cfg);
    }
    config_free(&cfg);

    tokenizer_config tc;
    s = tokenizer_config_parse(json, size, "tokenizer_config.json", &tc, &err);
    if (s) {
        fuzz_check_error(s, &err, "tokenizer_config.json");
    } else {
        FUZZ_ASSERT(memchr(tc.unk_token, 0, sizeof tc.unk_token) && memchr(tc.mask_token, 0, sizeof tc.mask_token),
                    "special token not terminated");
        FUZZ_ASSERT(tc.strip_accents >= -1 && tc.strip_accents <= 1, "strip_accents %d", tc.strip_accents);
    }

    preprocess_config pc;
    s = preprocess_config_parse(json, size, "preprocessor_config.json", &pc, &err);
    if (s) {
        fuzz_check_error(s, &err, "preprocessor_config.json");
    } else {
        FUZZ_ASSERT(pc.size_h >= 1 && pc.size_w >= 1 && pc.crop_h >= 1 && pc.crop_w >= 1, "sizes");
        FUZZ_ASSERT(pc.resample >= RESAMPLE_NEAREST && pc.resample <= RESAMPLE_HAMMING, "resample");
        for (int c = 0; c < 3; c++) FUZZ_ASSERT(pc.image_std[c] > 0, "image_std");
        int w, h;
        preprocess_output_size(&pc, 640, 480, &w, &h);
        FUZZ_ASSERT(w >= 1 && h >= 1, "output size %d x %d", w, h);
    }
    return 0;
}
