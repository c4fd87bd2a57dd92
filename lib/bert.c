#include "bert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ops.h"

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

/* ---- forward ---------------------------------------------------------------------------------- */

/* y[rows, out] = act(x[rows, in] W^T + b) */
static void linear(thread_pool *pool, const linear_weights *l, const float *x, int rows, act_kind act, float *y)
{
    gemm_bias_act(pool, rows, l->out, l->in, x, l->w, NULL, l->b, act, NULL, y);
}

typedef struct {
    const bert_weights *bw;
    const int32_t *const *ids;
    const int *lens, *offsets;
    float *x;
    double *scratch; /* hidden_size doubles per label */
} embed_job;

static void embed_label(void *arg, int i)
{
    const embed_job *j = arg;
    const text_config *t = j->bw->cfg;
    int h = t->hidden_size;
    for (int p = 0; p < j->lens[i]; p++) {
        float *row = j->x + (size_t)(j->offsets[i] + p) * h;
        const float *word = j->bw->word + (size_t)j->ids[i][p] * h, *pos = j->bw->position + (size_t)p * h;
        /* token type 0: labels are single sentences. Summed in double and normalised without an
         * intermediate float rounding: attention in the first layer is sensitive to this row */
        double *sum = j->scratch + (size_t)i * h;
        for (int k = 0; k < h; k++) sum[k] = (double)word[k] + j->bw->token_type[k] + pos[k];
        layer_norm_d(sum, row, h, j->bw->emb_ln_w, j->bw->emb_ln_b, t->layer_norm_eps);
    }
}

typedef struct {
    const text_config *cfg;
    const float *q, *k, *v;
    float *ctx;
    double *scratch; /* max_len + head size doubles per task */
    const int *lens, *offsets;
    int max_len;
} attention_job;

/* One head of one label: softmax(q k^T / sqrt(d)) v, over that label's own tokens only.
 * Accumulated in double: it costs little next to the matrix products, and the scores of an
 * ill-conditioned label amplify every rounding of q and k. */
static void attend(void *arg, int task)
{
    const attention_job *j = arg;
    int heads = j->cfg->num_heads, h = j->cfg->hidden_size, d = h / heads;
    int label = task / heads, head = task % heads, len = j->lens[label];
    double *scores = j->scratch + (size_t)task * (j->max_len + d), *acc = scores + j->max_len;
    double scale = sqrt((double)d);
    size_t base = (size_t)j->offsets[label] * h + (size_t)head * d;
    for (int r = 0; r < len; r++) {
        const float *q = j->q + base + (size_t)r * h;
        double max = -INFINITY, sum = 0;
        for (int c = 0; c < len; c++) {
            const float *k = j->k + base + (size_t)c * h;
            double dot = 0;
            for (int e = 0; e < d; e++) dot += (double)q[e] * k[e];
            scores[c] = dot / scale;
            if (scores[c] > max) max = scores[c];
        }
        for (int c = 0; c < len; c++) sum += scores[c] = exp(scores[c] - max);
        for (int e = 0; e < d; e++) acc[e] = 0;
        for (int c = 0; c < len; c++) {
            const float *v = j->v + base + (size_t)c * h;
            for (int e = 0; e < d; e++) acc[e] += scores[c] * v[e];
        }
        float *out = j->ctx + base + (size_t)r * h;
        for (int e = 0; e < d; e++) out[e] = (float)(acc[e] / sum);
    }
}

typedef struct {
    float *x;
    const float *residual, *ln_w, *ln_b;
    double *scratch; /* width doubles per part */
    int width, rows, parts;
    double eps;
} add_norm_job;

/* x = LayerNorm(x + residual), row by row; the sum is kept in double up to the normalised
 * result, one rounding instead of two. */
static void add_norm(void *arg, int part)
{
    const add_norm_job *j = arg;
    long begin, end;
    double *sum = j->scratch + (size_t)part * j->width;
    split_range(j->rows, j->parts, part, &begin, &end);
    for (long r = begin; r < end; r++) {
        float *row = j->x + r * j->width;
        const float *res = j->residual + r * j->width;
        for (int k = 0; k < j->width; k++) sum[k] = (double)row[k] + res[k];
        layer_norm_d(sum, row, j->width, j->ln_w, j->ln_b, j->eps);
    }
}

typedef struct {
    float *x, *q, *k, *v, *ctx, *tmp, *inter, *cls;
    double *scratch, *norm_scratch;
} bert_state;

static void run_add_norm(thread_pool *pool, bert_state *s, float *x, const float *res, const float *w,
                         const float *b, int rows, const text_config *t)
{
    int parts = pool_threads(pool);
    add_norm_job j = {x, res, w, b, s->norm_scratch, t->hidden_size, rows, parts, t->layer_norm_eps};
    pool_run(pool, parts, add_norm, &j);
}

static void run_layer(const bert_layer *L, const text_config *t, bert_state *s, int rows, const int *lens,
                      const int *offsets, int n, int max_len, thread_pool *pool)
{
    linear(pool, &L->query, s->x, rows, ACT_LINEAR, s->q);
    linear(pool, &L->key, s->x, rows, ACT_LINEAR, s->k);
    linear(pool, &L->value, s->x, rows, ACT_LINEAR, s->v);
    attention_job aj = {t, s->q, s->k, s->v, s->ctx, s->scratch, lens, offsets, max_len};
    pool_run(pool, n * t->num_heads, attend, &aj);
    linear(pool, &L->attn_out, s->ctx, rows, ACT_LINEAR, s->tmp);
    run_add_norm(pool, s, s->tmp, s->x, L->attn_ln_w, L->attn_ln_b, rows, t);
    linear(pool, &L->intermediate, s->tmp, rows, t->act, s->inter);
    linear(pool, &L->output, s->inter, rows, ACT_LINEAR, s->x);
    run_add_norm(pool, s, s->x, s->tmp, L->out_ln_w, L->out_ln_b, rows, t);
}

static align_status check_inputs(const text_config *t, const int32_t *const *ids, const int *lens, int n,
                                 int *offsets, int *rows, int *max_len, align_error *err)
{
    long total = 0;
    *max_len = 1;
    for (int i = 0; i < n; i++) {
        if (lens[i] < 1 || lens[i] > t->max_position)
            return align_fail(err, ALIGN_ERR_LIMIT, "label %d has %d tokens; the model takes 1 to %d", i,
                              lens[i], t->max_position);
        for (int p = 0; p < lens[i]; p++)
            if (ids[i][p] < 0 || ids[i][p] >= t->vocab_size)
                return align_fail(err, ALIGN_ERR_INPUT, "label %d: token id %d is outside the vocabulary (%d)",
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
    size_t attention = (size_t)n * t->num_heads * (size_t)(max_len + t->hidden_size / t->num_heads);
    /* the embeddings' n x h doubles use the attention's space, before attention needs it */
    size_t doubles = attention + (size_t)pool_threads(pool) * h;
    double *arena = malloc(sizeof(double) * doubles + sizeof(float) * (R * (6 * h + inter) + (size_t)n * h));
    if (!arena) {
        free(offsets);
        return align_fail(err, ALIGN_ERR_NOMEM, "out of memory for %d labels (%d tokens)", n, rows);
    }
    float *f = (float *)(arena + doubles);
    bert_state s = {f, f + R * h, f + 2 * R * h, f + 3 * R * h, f + 4 * R * h, f + 5 * R * h, f + 6 * R * h,
                    f + R * (6 * h + inter), arena, arena + attention};

    embed_job ej = {bw, ids, lens, offsets, s.x, s.scratch};
    pool_run(pool, n, embed_label, &ej);
    if (tap) tap(tap_ctx, 0, s.x, offsets, lens, n);
    for (int l = 0; l < t->num_layers; l++) {
        run_layer(&bw->layers[l], t, &s, rows, lens, offsets, n, max_len, pool);
        if (tap) tap(tap_ctx, l + 1, s.x, offsets, lens, n);
    }
    for (int i = 0; i < n; i++) memcpy(s.cls + i * h, s.x + (size_t)offsets[i] * h, sizeof(float) * h);
    if (cls) memcpy(cls, s.cls, sizeof(float) * h * (size_t)n);
    linear(pool, &bw->projection, s.cls, n, ACT_LINEAR, projected);
    free(arena);
    free(offsets);
    return ALIGN_OK;
}
