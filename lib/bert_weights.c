/* bert_weights.c: the text tower's tensors, and their load (pointers into the weight store). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bert.h"
#include "error.h"

#define TEXT "text_model"

void bert_specs(const align_config *cfg, spec_list *l)
{
    const text_config *t = &cfg->text;
    int64_t h = t->hidden_size, in = t->intermediate_size;
    spec_add(l, SPEC_OPTIONAL | SPEC_I64, 2, 1, t->max_position, 0, 0, TEXT ".embeddings.position_ids");
    spec_add(l, 0, 2, t->vocab_size, h, 0, 0, TEXT ".embeddings.word_embeddings.weight");
    spec_add(l, 0, 2, t->max_position, h, 0, 0, TEXT ".embeddings.position_embeddings.weight");
    spec_add(l, 0, 2, t->type_vocab_size, h, 0, 0, TEXT ".embeddings.token_type_embeddings.weight");
    spec_add(l, 0, 1, h, 0, 0, 0, TEXT ".embeddings.LayerNorm.weight");
    spec_add(l, 0, 1, h, 0, 0, 0, TEXT ".embeddings.LayerNorm.bias");
    for (int i = 0; i < t->num_layers; i++) {
        static const char *const qkv[] = {"query", "key", "value"};
        for (int k = 0; k < 3; k++) {
            spec_add(l, 0, 2, h, h, 0, 0, TEXT ".encoder.layer.%d.attention.self.%s.weight", i, qkv[k]);
            spec_add(l, 0, 1, h, 0, 0, 0, TEXT ".encoder.layer.%d.attention.self.%s.bias", i, qkv[k]);
        }
        spec_add(l, 0, 2, h, h, 0, 0, TEXT ".encoder.layer.%d.attention.output.dense.weight", i);
        spec_add(l, 0, 1, h, 0, 0, 0, TEXT ".encoder.layer.%d.attention.output.dense.bias", i);
        spec_add(l, 0, 1, h, 0, 0, 0, TEXT ".encoder.layer.%d.attention.output.LayerNorm.weight", i);
        spec_add(l, 0, 1, h, 0, 0, 0, TEXT ".encoder.layer.%d.attention.output.LayerNorm.bias", i);
        spec_add(l, 0, 2, in, h, 0, 0, TEXT ".encoder.layer.%d.intermediate.dense.weight", i);
        spec_add(l, 0, 1, in, 0, 0, 0, TEXT ".encoder.layer.%d.intermediate.dense.bias", i);
        spec_add(l, 0, 2, h, in, 0, 0, TEXT ".encoder.layer.%d.output.dense.weight", i);
        spec_add(l, 0, 1, h, 0, 0, 0, TEXT ".encoder.layer.%d.output.dense.bias", i);
        spec_add(l, 0, 1, h, 0, 0, 0, TEXT ".encoder.layer.%d.output.LayerNorm.weight", i);
        spec_add(l, 0, 1, h, 0, 0, 0, TEXT ".encoder.layer.%d.output.LayerNorm.bias", i);
    }
    /* AlignTextModel has a tanh pooler that AlignModel never uses */
    spec_add(l, SPEC_OPTIONAL, 2, h, h, 0, 0, TEXT ".pooler.dense.weight");
    spec_add(l, SPEC_OPTIONAL, 1, h, 0, 0, 0, TEXT ".pooler.dense.bias");
}

static align_status get(weight_store *ws, const float **out, align_error *err, const char *fmt, int layer)
{
    char name[160];
    snprintf(name, sizeof name, fmt, layer);
    *out = weights_get(ws, name, err);
    return *out ? ALIGN_OK : err->code;
}

static align_status get_linear(weight_store *ws, linear_weights *l, int out, int in, align_error *err,
                               const char *prefix, int layer)
{
    char name[160];
    l->out = out;
    l->in = in;
    snprintf(name, sizeof name, "%s.weight", prefix);
    align_status s = get(ws, &l->w, err, name, layer);
    snprintf(name, sizeof name, "%s.bias", prefix);
    return s ? s : get(ws, &l->b, err, name, layer);
}

static align_status load_layer(bert_layer *L, const text_config *t, weight_store *ws, int i, align_error *err)
{
    int h = t->hidden_size, in = t->intermediate_size;
    align_status s;
    if ((s = get_linear(ws, &L->query, h, h, err, TEXT ".encoder.layer.%d.attention.self.query", i)) ||
        (s = get_linear(ws, &L->key, h, h, err, TEXT ".encoder.layer.%d.attention.self.key", i)) ||
        (s = get_linear(ws, &L->value, h, h, err, TEXT ".encoder.layer.%d.attention.self.value", i)) ||
        (s = get_linear(ws, &L->attn_out, h, h, err, TEXT ".encoder.layer.%d.attention.output.dense", i)) ||
        (s = get(ws, &L->attn_ln_w, err, TEXT ".encoder.layer.%d.attention.output.LayerNorm.weight", i)) ||
        (s = get(ws, &L->attn_ln_b, err, TEXT ".encoder.layer.%d.attention.output.LayerNorm.bias", i)) ||
        (s = get_linear(ws, &L->intermediate, in, h, err, TEXT ".encoder.layer.%d.intermediate.dense", i)) ||
        (s = get_linear(ws, &L->output, h, in, err, TEXT ".encoder.layer.%d.output.dense", i)) ||
        (s = get(ws, &L->out_ln_w, err, TEXT ".encoder.layer.%d.output.LayerNorm.weight", i)) ||
        (s = get(ws, &L->out_ln_b, err, TEXT ".encoder.layer.%d.output.LayerNorm.bias", i)))
        return s;
    return ALIGN_OK;
}

align_status bert_load(bert_weights *bw, const align_config *cfg, weight_store *ws, align_error *err)
{
    const text_config *t = &cfg->text;
    memset(bw, 0, sizeof *bw);
    bw->cfg = t;
    bw->kernels = kernel_table_at(kernel_cpu_level());
    bw->layers = calloc((size_t)t->num_layers, sizeof *bw->layers);
    if (!bw->layers) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", ws->file);
    align_status s;
    if ((s = get(ws, &bw->word, err, TEXT ".embeddings.word_embeddings.weight", 0)) ||
        (s = get(ws, &bw->position, err, TEXT ".embeddings.position_embeddings.weight", 0)) ||
        (s = get(ws, &bw->token_type, err, TEXT ".embeddings.token_type_embeddings.weight", 0)) ||
        (s = get(ws, &bw->emb_ln_w, err, TEXT ".embeddings.LayerNorm.weight", 0)) ||
        (s = get(ws, &bw->emb_ln_b, err, TEXT ".embeddings.LayerNorm.bias", 0)) ||
        (s = get_linear(ws, &bw->projection, cfg->projection_dim, t->hidden_size, err, "text_projection", 0)))
        return s;
    for (int i = 0; i < t->num_layers; i++)
        if ((s = load_layer(&bw->layers[i], t, ws, i, err))) return s;
    return ALIGN_OK;
}

void bert_free(bert_weights *bw)
{
    free(bw->layers);
    bw->layers = NULL;
}
