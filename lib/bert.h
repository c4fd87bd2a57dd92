/* bert.h: the text tower, Hugging Face's AlignTextModel (a BERT encoder) plus ALIGN's text
 * projection of the [CLS] row. Labels run unpadded: each label's real tokens are stacked as rows,
 * so every linear layer is one matrix product over all labels at once. The weights and their load
 * are in bert_weights.c, the forward pass in bert.c. Shapes use the config's names: hidden,
 * intermediate, heads (of d = hidden / heads columns each). */
#ifndef ALIGN_BERT_H
#define ALIGN_BERT_H

#include <stdint.h>

#include "config.h"
#include "kernels.h"
#include "parallel.h"
#include "weights.h"

typedef struct {
    const float *w; /* [out, in], as PyTorch's nn.Linear stores it */
    const float *b; /* [out] */
    int out, in;
} linear_weights;

typedef struct {
    linear_weights query, key, value;   /* [hidden, hidden] each, heads side by side in the rows */
    linear_weights attn_out;            /* [hidden, hidden]: attention's output projection */
    const float *attn_ln_w, *attn_ln_b; /* [hidden] each: the LayerNorm after attention */
    linear_weights intermediate;        /* [intermediate, hidden] */
    linear_weights output;              /* [hidden, intermediate] */
    const float *out_ln_w, *out_ln_b;   /* [hidden] each: the LayerNorm after the feed-forward */
} bert_layer;

typedef struct {
    const text_config *cfg;
    const float *word;                  /* [vocab_size, hidden] */
    const float *position;              /* [max_position, hidden] */
    const float *token_type;            /* [type_vocab_size, hidden]; labels are all type 0 */
    const float *emb_ln_w, *emb_ln_b;   /* [hidden] each */
    bert_layer *layers;                 /* [num_layers] */
    linear_weights projection;          /* text_projection: [projection_dim, hidden] */
    /* the hot loops at the ISA level chosen at load: the CPU's, unless the model handle caps it */
    const kernel_table *kernels;
    /* OpenBLAS's kernel's row period (cpu.h, blas_row_period), for cutting its products among the
     * threads without changing their bits */
    int row_period;
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
