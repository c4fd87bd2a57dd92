/* bert.h: the text tower, Hugging Face's AlignTextModel (a BERT encoder) plus ALIGN's text
 * projection of the [CLS] row. Labels run unpadded: each label's real tokens are stacked as rows,
 * so every linear layer is one matrix product over all labels at once. */
#ifndef ALIGN_BERT_H
#define ALIGN_BERT_H

#include <stdint.h>

#include "config.h"
#include "parallel.h"
#include "weights.h"

typedef struct {
    const float *w; /* [out, in], as PyTorch's nn.Linear stores it */
    const float *b; /* [out] */
    int out, in;
} linear_weights;

typedef struct {
    linear_weights query, key, value, attn_out, intermediate, output;
    const float *attn_ln_w, *attn_ln_b, *out_ln_w, *out_ln_b;
} bert_layer;

typedef struct {
    const text_config *cfg;
    const float *word, *position, *token_type, *emb_ln_w, *emb_ln_b;
    bert_layer *layers;
    linear_weights projection; /* text_projection: hidden -> projection_dim */
} bert_weights;

/* Called after the embeddings (layer 0) and after each encoder layer (1..num_layers) with the
 * hidden states of all tokens: label i's lens[i] rows start at row offsets[i]. For tests. */
typedef void (*bert_tap)(void *ctx, int layer, const float *hidden, const int *offsets, const int *lens,
                         int n_labels);

/* The text_model.* tensors; text_projection.* are listed by model.c, where the state_dict has them. */
void bert_specs(const align_config *cfg, spec_list *list);
align_status bert_load(bert_weights *bw, const align_config *cfg, weight_store *ws, align_error *err);
void bert_free(bert_weights *bw);

/* Encodes n token sequences (ids[i] of lens[i] tokens, [CLS] first). cls (n x hidden, may be NULL)
 * receives the last layer's [CLS] rows; projected (n x projection_dim) the text projection of
 * them, not normalised. */
align_status bert_encode(const bert_weights *bw, const int32_t *const *ids, const int *lens, int n,
                         float *cls, float *projected, thread_pool *pool, bert_tap tap, void *tap_ctx,
                         align_error *err);

#endif
