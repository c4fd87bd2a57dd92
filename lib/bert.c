/* bert.c: the text tower's forward pass, top to bottom: embeddings -> for each layer (attention:
 * query, key and value projections, each head's probabilities and context, output projection +
 * residual + LayerNorm; feed-forward: intermediate + GELU, output + residual + LayerNorm) -> each
 * label's [CLS] row -> the text projection. The weights and their load are in bert_weights.c; the
 * machinery each step runs on is in a file of its own: ops.c (products with their epilogue),
 * attention*.c and layer_norm*.c. In the shapes below, R is the token rows of all labels, stacked
 * unpadded, and n the labels. */
#include "bert.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ops.h"

/* One call: the labels' layout and every activation. */
typedef struct {
    const bert_weights *bw;
    thread_pool *pool;
    const int *lens;    /* [n]: label i's tokens are rows offsets[i] .. offsets[i] + lens[i] - 1 */
    const int *offsets; /* [n] */
    int n, rows, max_len; /* labels, R, and the longest label's tokens */
    float *x;           /* [R, hidden]: the hidden states, each layer's input and output */
    float *q, *k, *v;   /* [R, hidden] each: the heads side by side, head j in columns j d .. j d + d - 1 */
    float *ctx;         /* [R, hidden]: attention's context, before its output projection */
    float *attn;        /* [R, hidden]: LayerNorm(x + attention), the feed-forward's input and residual */
    float *inter;       /* [R, intermediate]: the feed-forward's GELU */
    float *cls;         /* [n, hidden]: each label's [CLS] row after the last layer */
    double *probs;      /* [n * heads, max_len]: each (label, head) task's probabilities of one query row */
} bert_state;

/* y [R or n, out] = act(x [R or n, in] W^T + b): a few rows without packing the weights, more by
 * OpenBLAS (ops.h, GEMM_DOT_ROWS) */
static void linear(const bert_state *s, const linear_weights *l, const float *x, int rows, act_kind act, float *y)
{
    const kernel_table *kt = s->bw->kernels;
    if (rows <= GEMM_DOT_ROWS)
        gemm_dot_epilogue(kt->gemm_dot, kt->epilogue, s->pool, rows, l->out, l->in, x, l->w, l->b, act, y);
    else
        gemm_epilogue_cut(kt->epilogue, s->pool, gemm_cut_alone(rows, s->bw->row_period), rows, l->out, l->in, x,
                          l->w, NULL, l->b, act, NULL, y);
}

typedef struct {
    const bert_state *s;
    const int32_t *const *ids;
} embed_job;

/* Label i's tokens -> x: LayerNorm(word + token type 0 + position), summed in double and normalised
 * without an intermediate float rounding: the first layer's attention is sensitive to this row. */
static void embed_label(void *arg, int i)
{
    const embed_job *j = arg;
    const bert_weights *bw = j->s->bw;
    int h = bw->cfg->hidden_size;
    for (int p = 0; p < j->s->lens[i]; p++)
        bw->kernels->layer_norm(j->s->x + (size_t)(j->s->offsets[i] + p) * h, bw->word + (size_t)j->ids[i][p] * h,
                                bw->token_type, bw->position + (size_t)p * h, h, bw->emb_ln_w, bw->emb_ln_b,
                                bw->cfg->layer_norm_eps);
}

static void embeddings(const bert_state *s, const int32_t *const *ids)
{
    embed_job j = {.s = s, .ids = ids};
    pool_run(s->pool, s->n, embed_label, &j);
}

/* x -> q, k, v */
static void qkv_projection(const bert_state *s, const bert_layer *L)
{
    linear(s, &L->query, s->x, s->rows, ACT_LINEAR, s->q);
    linear(s, &L->key, s->x, s->rows, ACT_LINEAR, s->k);
    linear(s, &L->value, s->x, s->rows, ACT_LINEAR, s->v);
}

/* One head of one label, query row by query row: probs = softmax(q k^T / sqrt(d)) over the label's
 * own tokens (the attention mask of an unpadded label), then ctx = probs v. */
static void attend(void *arg, int task)
{
    const bert_state *s = arg;
    const kernel_table *kt = s->bw->kernels;
    int heads = s->bw->cfg->num_heads, h = s->bw->cfg->hidden_size, d = h / heads;
    int label = task / heads, len = s->lens[label];
    size_t base = (size_t)s->offsets[label] * h + (size_t)(task % heads) * d;
    double *probs = s->probs + (size_t)task * s->max_len;
    for (int r = 0; r < len; r++) {
        kt->attention_probs(s->q + base + (size_t)r * h, s->k + base, (size_t)h, len, d, probs);
        kt->attention_context(probs, s->v + base, (size_t)h, len, d, s->ctx + base + (size_t)r * h);
    }
}

/* q, k, v -> ctx */
static void self_attention(bert_state *s)
{
    pool_run(s->pool, s->n * s->bw->cfg->num_heads, attend, s);
}

typedef struct {
    const bert_state *s;
    float *x;
    const float *residual, *weight, *bias;
    int parts;
} add_norm_job;

/* x = LayerNorm(x + residual), a part of the rows; the sum in double up to the normalised result,
 * one rounding instead of two. */
static void add_norm_part(void *arg, int part)
{
    const add_norm_job *j = arg;
    const bert_weights *bw = j->s->bw;
    int h = bw->cfg->hidden_size;
    long begin, end;
    split_range(j->s->rows, j->parts, part, &begin, &end);
    for (long r = begin; r < end; r++)
        bw->kernels->layer_norm(j->x + r * h, j->x + r * h, j->residual + r * h, NULL, h, j->weight, j->bias,
                                bw->cfg->layer_norm_eps);
}

static void add_norm(const bert_state *s, float *x, const float *residual, const float *weight, const float *bias)
{
    add_norm_job j = {.s = s, .x = x, .residual = residual, .weight = weight, .bias = bias,
                      .parts = pool_threads(s->pool)};
    pool_run(s->pool, j.parts, add_norm_part, &j);
}

/* ctx -> attn = LayerNorm(ctx Wo^T + bo + x) */
static void attention_output(const bert_state *s, const bert_layer *L)
{
    linear(s, &L->attn_out, s->ctx, s->rows, ACT_LINEAR, s->attn);
    add_norm(s, s->attn, s->x, L->attn_ln_w, L->attn_ln_b);
}

/* attn -> inter = act(attn W1^T + b1), GELU in BERT */
static void intermediate(const bert_state *s, const bert_layer *L)
{
    linear(s, &L->intermediate, s->attn, s->rows, s->bw->cfg->act, s->inter);
}

/* inter -> x = LayerNorm(inter W2^T + b2 + attn) */
static void output(const bert_state *s, const bert_layer *L)
{
    linear(s, &L->output, s->inter, s->rows, ACT_LINEAR, s->x);
    add_norm(s, s->x, s->attn, L->out_ln_w, L->out_ln_b);
}

static void layer(bert_state *s, const bert_layer *L)
{
    qkv_projection(s, L);
    self_attention(s);
    attention_output(s, L);
    intermediate(s, L);
    output(s, L);
}

/* x -> cls [n, hidden] (each label's first row, as AlignTextModel's last_hidden_state[:, 0]) ->
 * projected [n, projection_dim] = cls P^T + bp */
static void pool_project(const bert_state *s, float *cls, float *projected)
{
    size_t h = (size_t)s->bw->cfg->hidden_size;
    for (int i = 0; i < s->n; i++) memcpy(s->cls + i * h, s->x + (size_t)s->offsets[i] * h, sizeof(float) * h);
    if (cls) memcpy(cls, s->cls, sizeof(float) * h * (size_t)s->n);
    linear(s, &s->bw->projection, s->cls, s->n, ACT_LINEAR, projected);
}

static align_status check_inputs(const text_config *t, const int32_t *const *ids, const int *lens, int n,
                                 int *offsets, int *rows, int *max_len, align_error *err)
{
    long total = 0;
    *max_len = 1;
    for (int i = 0; i < n; i++) {
        if (lens[i] < 1 || lens[i] > t->max_position)
            return align_fail(err, ALIGN_ERR_LIMIT, "text %d has %d tokens; the model takes 1 to %d", i,
                              lens[i], t->max_position);
        for (int p = 0; p < lens[i]; p++)
            if (ids[i][p] < 0 || ids[i][p] >= t->vocab_size)
                return align_fail(err, ALIGN_ERR_INPUT, "text %d: token id %d is outside the vocabulary (%d)",
                                  i, (int)ids[i][p], t->vocab_size);
        offsets[i] = (int)total;
        total += lens[i];
        if (lens[i] > *max_len) *max_len = lens[i];
        if (total > (1L << 28) / t->hidden_size)
            return align_fail(err, ALIGN_ERR_LIMIT, "too many tokens in one call (%ld)", total);
    }
    *rows = (int)total;
    return ALIGN_OK;
}

/* The first address from p on at the same offset from a 64-byte boundary as w: gemm_dot reads x
 * and w in whole aligned vectors when they share it (gemm_dot.c), and with hidden and intermediate
 * sizes multiples of 16 every activation row and every weight row does (the weights of a
 * checkpoint's text tower lie at one offset unless a tensor's size breaks the run). */
static float *at_offset_of(float *p, const float *w)
{
    uintptr_t off = ((uintptr_t)w - (uintptr_t)p) % 64;
    return (float *)((char *)p + off);
}

align_status bert_encode(const bert_weights *bw, const int32_t *const *ids, const int *lens, int n,
                         float *cls, float *projected, thread_pool *pool, bert_tap tap, void *tap_ctx,
                         align_error *err)
{
    const text_config *t = bw->cfg;
    if (n <= 0) return align_fail(err, ALIGN_ERR_ARG, "no labels to encode");
    int *offsets = malloc(sizeof(int) * (size_t)n), rows = 0, max_len = 1;
    if (!offsets) return align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    align_status st = check_inputs(t, ids, lens, n, offsets, &rows, &max_len, err);
    if (st) {
        free(offsets);
        return st;
    }
    size_t h = (size_t)t->hidden_size, R = (size_t)rows, inter = (size_t)t->intermediate_size;
    size_t doubles = (size_t)n * t->num_heads * max_len;
    /* 16 floats of room on each side of the activations, for their start's offset and the
     * kernels' whole-vector reads (gemm_dot.c) */
    double *arena = malloc(sizeof(double) * doubles + sizeof(float) * (R * (6 * h + inter) + (size_t)n * h + 48));
    if (!arena) {
        free(offsets);
        return align_fail(err, ALIGN_ERR_NOMEM, "out of memory for %d labels (%d tokens)", n, rows);
    }
    float *f = at_offset_of((float *)(arena + doubles) + 16, bw->layers[0].query.w);
    bert_state s = {
        .bw = bw, .pool = pool, .lens = lens, .offsets = offsets, .n = n, .rows = rows, .max_len = max_len,
        .x = f, .q = f + R * h, .k = f + 2 * R * h, .v = f + 3 * R * h, .ctx = f + 4 * R * h,
        .attn = f + 5 * R * h, .inter = f + 6 * R * h, .cls = f + R * (6 * h + inter), .probs = arena,
    };
    embeddings(&s, ids);
    if (tap) tap(tap_ctx, 0, s.x, offsets, lens, n);
    for (int l = 0; l < t->num_layers; l++) {
        layer(&s, &bw->layers[l]);
        if (tap) tap(tap_ctx, l + 1, s.x, offsets, lens, n);
    }
    pool_project(&s, cls, projected);
    free(arena);
    free(offsets);
    return ALIGN_OK;
}
