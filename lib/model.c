#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "checkpoint.h"
#include "cpu.h"
#include "error.h"
#include "fileio.h"
#include "ops.h"
#include "parallel.h"

/* Labels go through the text tower this many at a time, so tens of thousands of labels need
 * memory for one chunk, not for all. */
#define TEXT_CHUNK 256
/* Images per vision batch: big enough that late stages (9x9 maps) still make tall matrices. */
#define IMAGE_CHUNK 8

align_status model_specs(const align_config *cfg, spec_list *list, align_error *err)
{
    spec_add(list, 0, 0, 0, 0, 0, 0, "temperature");
    bert_specs(cfg, list);
    effnet_specs(cfg, list);
    spec_add(list, 0, 2, cfg->projection_dim, cfg->text.hidden_size, 0, 0, "text_projection.weight");
    spec_add(list, 0, 1, cfg->projection_dim, 0, 0, 0, "text_projection.bias");
    return list->out_of_memory ? align_fail(err, ALIGN_ERR_NOMEM, "out of memory") : ALIGN_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int64_t model_count_parameters(const spec_list *list)
{
    int64_t n = 0;
    for (size_t i = 0; i < list->count; i++) {
        const tensor_spec *s = &list->items[i];
        if ((s->flags & SPEC_I64) || ends_with(s->name, ".running_mean") || ends_with(s->name, ".running_var"))
            continue;
        int64_t k = 1;
        for (int d = 0; d < s->ndim; d++) k *= s->shape[d];
        n += k;
    }
    return n;
}

/* ---- loading ---------------------------------------------------------------------------------- */

static align_status open_weights(align_model *m, align_error *err)
{
    static const struct {
        const char *file, *format;
    } candidates[] = {{"model.safetensors", "safetensors"}, {"pytorch_model.bin", "pytorch"}};
    for (size_t i = 0; i < 2; i++) {
        char *path = path_join(m->dir, candidates[i].file);
        if (!path) return align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
        if (file_exists(path)) {
            m->weights_path = path;
            m->weights_format = candidates[i].format;
            return checkpoint_open(path, &m->tensors, err);
        }
        free(path);
    }
    return align_fail(err, ALIGN_ERR_IO, "%s: no model.safetensors or pytorch_model.bin", m->dir);
}

static align_status check_weights(align_model *m, align_error *err)
{
    spec_list specs = {0};
    align_status s = model_specs(&m->cfg, &specs, err);
    if (!s) s = spec_check(&specs, &m->tensors, m->weights_path, err);
    m->num_parameters = model_count_parameters(&specs);
    spec_list_free(&specs);
    return s;
}

static align_status load_tensors(align_model *m, align_error *err)
{
    m->store.tf = &m->tensors;
    m->store.file = m->weights_path;
    const float *t = weights_get(&m->store, "temperature", err);
    if (!t) return err->code;
    if (!(*t > 0) || !isfinite(*t))
        return align_fail(err, ALIGN_ERR_WEIGHTS, "%s: temperature is %g; it must be positive", m->weights_path, *t);
    m->temperature = *t;
    align_status s = bert_load(&m->text, &m->cfg, &m->store, err);
    return s ? s : effnet_load(&m->vision, &m->cfg, &m->store, err);
}

static align_status load_text_files(align_model *m, align_error *err)
{
    tokenizer_config tc;
    char *path = path_join(m->dir, "tokenizer_config.json");
    if (!path) return align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    align_status s = tokenizer_config_read(path, &tc, err);
    free(path);
    if (s) return s;
    if (!(path = path_join(m->dir, "vocab.txt"))) return align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    m->tok = tokenizer_load(path, &tc, err);
    free(path);
    if (!m->tok) return err->code;
    if (tokenizer_vocab_size(m->tok) > m->cfg.text.vocab_size)
        return align_fail(err, ALIGN_ERR_CONFIG, "%s/vocab.txt: %d tokens, more than the model's vocab_size %d",
                          m->dir, tokenizer_vocab_size(m->tok), m->cfg.text.vocab_size);
    return ALIGN_OK;
}

static align_status load_image_files(align_model *m, align_error *err)
{
    char *path = path_join(m->dir, "preprocessor_config.json");
    if (!path) return align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    align_status s = preprocess_config_read(path, &m->pre, err);
    free(path);
    return s;
}

static align_status load_all(align_model *m, align_error *err)
{
    char *path = path_join(m->dir, "config.json");
    if (!path) return align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    align_status s = config_read(path, &m->cfg, err);
    free(path);
    if (!s) s = kernel_table_choose(getenv("ALIGN_ISA"), "ALIGN_ISA", &m->kernels, err);
    /* the identity samples the tensors before loading releases their pages */
    if (s || (s = open_weights(m, err)) || (s = check_weights(m, err)) ||
        (s = model_id_compute(m->dir, &m->tensors, m->id, err)) || (s = load_tensors(m, err)) ||
        (s = load_text_files(m, err)) || (s = load_image_files(m, err)))
        return s;
    model_use_kernels(m, m->kernels);
    m->vision.row_period = blas_row_period(align_blas_core());
    m->text.row_period = m->vision.row_period;
    return ALIGN_OK;
}

void model_use_kernels(align_model *m, const kernel_table *kt)
{
    m->kernels = m->vision.kernels = m->text.kernels = kt;
}

/* ---- scratch ---------------------------------------------------------------------------------- */

/* Idle scratch kept for reuse; more concurrent callers than this allocate and free their own. */
#define MAX_IDLE_SCRATCH 4

/* A scratch with a pool of m->threads threads and at least n floats, or NULL when out of memory. */
static scratch *scratch_acquire(const align_model *cm, size_t n)
{
    align_model *m = (align_model *)cm; /* the handle is logically const: only the cache changes */
    pthread_mutex_lock(&m->scratch_lock);
    scratch *s = m->idle;
    if (s) m->idle = s->next;
    int threads = m->threads; /* align_model_set_threads may change it from another thread */
    pthread_mutex_unlock(&m->scratch_lock);
    if (!s && !(s = calloc(1, sizeof *s))) return NULL;
    if (s->pool && s->threads != threads) {
        pool_free(s->pool);
        s->pool = NULL;
    }
    if (!s->pool && threads > 1) s->pool = pool_create(threads);
    s->threads = threads;
    if (n && s->n_floats < n) {
        big_free(&s->buffer);
        s->floats = NULL;
        s->n_floats = 0;
        if (big_alloc(&s->buffer, sizeof(float) * n)) {
            pool_free(s->pool);
            free(s);
            return NULL;
        }
        s->floats = s->buffer.data;
        s->n_floats = n;
    }
    return s;
}

static void scratch_destroy(scratch *s)
{
    pool_free(s->pool);
    big_free(&s->buffer);
    free(s);
}

static void scratch_release(const align_model *cm, scratch *s)
{
    align_model *m = (align_model *)cm;
    int kept = 0;
    pthread_mutex_lock(&m->scratch_lock);
    for (scratch *t = m->idle; t; t = t->next) kept++;
    if (kept < MAX_IDLE_SCRATCH) {
        s->next = m->idle;
        m->idle = s;
        s = NULL;
    }
    pthread_mutex_unlock(&m->scratch_lock);
    if (s) scratch_destroy(s);
}

/* OpenBLAS's pthread build starts its server threads as it loads, and each spins on sched_yield for
 * some 2^28 cycles waiting for work: a short run of align loses a core to them for its first tenth
 * of a second. blas_thread_shutdown_ (exported, though not in cblas.h) stops them; OpenBLAS starts
 * them again if a multi-threaded call ever needs them. Weak, so that a BLAS without it still links. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

static void stop_blas_threads(void)
{
    if (blas_thread_shutdown_) blas_thread_shutdown_();
}

align_model *align_model_load(const char *dir, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    align_model *m = calloc(1, sizeof *m);
    if (!m || !(m->dir = strdup(dir))) {
        free(m);
        align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    m->threads = align_cpu_count();
    pthread_mutex_init(&m->scratch_lock, NULL);
    /* align splits every matrix product over its own threads; OpenBLAS's would only spin
     * against them */
    openblas_set_num_threads(1);
    stop_blas_threads();
    if (load_all(m, err)) {
        align_model_free(m);
        return NULL;
    }
    return m;
}

void align_model_free(align_model *m)
{
    if (!m) return;
    while (m->idle) {
        scratch *s = m->idle;
        m->idle = s->next;
        scratch_destroy(s);
    }
    pthread_mutex_destroy(&m->scratch_lock);
    tokenizer_free(m->tok);
    bert_free(&m->text);
    effnet_free(&m->vision);
    weights_free(&m->store);
    tensor_file_free(&m->tensors);
    config_free(&m->cfg);
    free(m->weights_path);
    free(m->dir);
    free(m);
}

const char *align_model_id(const align_model *m)
{
    return m->id;
}

void align_model_get_info(const align_model *m, align_model_info *info)
{
    memset(info, 0, sizeof *info);
    info->dir = m->dir;
    info->weights_path = m->weights_path;
    info->weights_format = m->weights_format;
    info->projection_dim = m->cfg.projection_dim;
    info->text_hidden_size = m->cfg.text.hidden_size;
    info->text_layers = m->cfg.text.num_layers;
    info->text_heads = m->cfg.text.num_heads;
    info->text_max_tokens = m->cfg.text.max_position;
    info->vocab_size = m->cfg.text.vocab_size;
    info->vision_blocks = m->cfg.vision.n_blocks;
    info->vision_channels = m->cfg.vision.out_dim;
    preprocess_output_size(&m->pre, m->cfg.vision.image_size, m->cfg.vision.image_size, &info->image_width,
                           &info->image_height);
    info->num_parameters = m->num_parameters;
    info->temperature = m->temperature;
    info->batch_size = IMAGE_CHUNK;
    info->isa = m->kernels->isa;
}

/* Under the scratch lock, so that calls running on other threads read a whole value: each call
 * takes the count once, as it starts. */
void align_model_set_threads(align_model *m, int threads)
{
    int n = threads > 0 ? threads : align_cpu_count();
    pthread_mutex_lock(&m->scratch_lock);
    m->threads = n;
    pthread_mutex_unlock(&m->scratch_lock);
}

/* ---- text ------------------------------------------------------------------------------------- */

/* Prefixes err with the text it is about (a label, or a text to tokenize: len bytes), shortened
 * so the message stays one readable line. */
static align_status text_error(align_error *err, const char *what, const char *text, size_t len)
{
    char prefix[160];
    if (len > 60)
        snprintf(prefix, sizeof prefix, "%s \"%.57s...\"", what, text);
    else
        snprintf(prefix, sizeof prefix, "%s \"%.*s\"", what, (int)len, text);
    return align_error_prefix(err, prefix);
}

align_status align_tokenize(const align_model *m, const char *text, size_t len, int32_t **ids, size_t *n_ids,
                            align_error *err)
{
    align_status s = tokenizer_encode(m->tok, text, len, ids, n_ids, err);
    return s ? text_error(err, "text", text, len) : s;
}

const char *align_token_string(const align_model *m, int32_t id)
{
    return tokenizer_token(m->tok, id);
}


static align_status tokenize_chunk(const align_model *m, const char *const *labels, int n, int32_t **ids,
                                   int *lens, align_error *err)
{
    for (int i = 0; i < n; i++) {
        size_t count;
        if (!labels[i]) return align_fail(err, ALIGN_ERR_ARG, "text %d is NULL", i);
        if (tokenizer_encode(m->tok, labels[i], strlen(labels[i]), &ids[i], &count, err))
            return text_error(err, "text", labels[i], strlen(labels[i]));
        if (count > (size_t)m->cfg.text.max_position) {
            align_fail(err, ALIGN_ERR_LIMIT, "%zu tokens, more than the model's %d", count, m->cfg.text.max_position);
            return text_error(err, "text", labels[i], strlen(labels[i]));
        }
        lens[i] = (int)count;
    }
    return ALIGN_OK;
}

static align_status encode_text_chunk(const align_model *m, const char *const *labels, int n, float *embeds,
                                      float *unnormalized, thread_pool *pool, align_error *err)
{
    int32_t **ids = calloc((size_t)n, sizeof *ids);
    int *lens = calloc((size_t)n, sizeof *lens);
    align_status s = ids && lens ? ALIGN_OK : align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    if (!s) s = tokenize_chunk(m, labels, n, ids, lens, err);
    if (!s) s = bert_encode(&m->text, (const int32_t *const *)ids, lens, n, NULL, embeds, pool, NULL, NULL, err);
    int d = m->cfg.projection_dim;
    if (!s && unnormalized) memcpy(unnormalized, embeds, sizeof(float) * (size_t)n * d);
    for (int i = 0; !s && i < n; i++) l2_normalize(embeds + (size_t)i * d, d);
    for (int i = 0; ids && i < n; i++) free(ids[i]);
    free(ids);
    free(lens);
    return s;
}

align_status align_encode_text(const align_model *m, const char *const *labels, int n, float *embeds,
                               float *unnormalized, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    if (n <= 0) return align_fail(err, ALIGN_ERR_ARG, "no labels");
    scratch *sc = scratch_acquire(m, 0);
    if (!sc) return align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    int d = m->cfg.projection_dim;
    align_status s = ALIGN_OK;
    for (int at = 0; at < n && !s; at += TEXT_CHUNK) {
        int k = n - at < TEXT_CHUNK ? n - at : TEXT_CHUNK;
        s = encode_text_chunk(m, labels + at, k, embeds + (size_t)at * d,
                              unnormalized ? unnormalized + (size_t)at * d : NULL, sc->pool, err);
    }
    scratch_release(m, sc);
    return s;
}

/* ---- images ----------------------------------------------------------------------------------- */

typedef struct {
    const align_model *m;
    const align_image *images;
    float *pixels;
    size_t per_image;
    align_status status[IMAGE_CHUNK];
    align_error errors[IMAGE_CHUNK];
} preprocess_job;

static void preprocess_one(void *arg, int i)
{
    preprocess_job *j = arg;
    j->status[i] = image_preprocess(&j->m->pre, j->m->kernels->resample_row, &j->images[i],
                                    j->pixels + j->per_image * i, &j->errors[i]);
}

/* Preprocesses k images that share one output size (in parallel) and encodes them as one batch. */
static align_status encode_image_run(const align_model *m, const align_image *images, int k, int h, int w,
                                     float *pooled, align_error *err)
{
    size_t per = (size_t)h * w * 3, work = effnet_workspace_floats(&m->vision, k, h, w);
    scratch *sc = scratch_acquire(m, work + per * (size_t)k);
    if (!sc) return align_fail(err, ALIGN_ERR_NOMEM, "out of memory for %d images of %dx%d", k, w, h);
    preprocess_job pj = {m, images, sc->floats + work, per, {ALIGN_OK}, {{0}}};
    pool_run(sc->pool, k, preprocess_one, &pj);
    align_status s = ALIGN_OK;
    for (int i = 0; i < k && !s; i++)
        if ((s = pj.status[i])) *err = pj.errors[i];
    if (!s) s = effnet_encode(&m->vision, pj.pixels, k, h, w, pooled, sc->pool, sc->floats, NULL, NULL, err);
    scratch_release(m, sc);
    return s;
}

align_status align_image_fit(const align_model *m, const align_image *image, align_image *out, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    return image_fit(&m->pre, m->kernels->resample_row, image, out, err);
}

align_status align_image_load_memory_fitted(const align_model *m, const void *data, size_t size, const char *name,
                                            const align_decode_options *opts, align_image *out, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    return image_load_fitted(&m->pre, m->kernels->resample_row, m->kernels->resample_taps, data, size, name, opts, out, err);
}

align_status align_image_load_fitted(const align_model *m, const char *path, const align_decode_options *opts,
                                     align_image *out, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    if (out) memset(out, 0, sizeof *out);
    if (!path || !out) return align_fail(err, ALIGN_ERR_ARG, "align_image_load_fitted: no path or output");
    file_map map;
    align_status s = file_map_open(path, &map, err);
    if (s) return s;
    s = image_load_fitted(&m->pre, m->kernels->resample_row, m->kernels->resample_taps, map.data, map.size, path, opts, out, err);
    file_map_close(&map);
    return s;
}

align_status align_encode_images(const align_model *m, const align_image *images, int n, float *embeds,
                                 float *unnormalized, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    if (n <= 0) return align_fail(err, ALIGN_ERR_ARG, "no images");
    for (int i = 0; i < n; i++)
        if (!images[i].rgb || images[i].width < 1 || images[i].height < 1)
            return align_fail(err, ALIGN_ERR_ARG, "image %d is empty", i);
    int d = m->cfg.projection_dim;
    align_status s = ALIGN_OK;
    for (int at = 0; at < n && !s;) {
        /* a run of images whose preprocessed sizes agree goes through as one batch */
        int w, h, k = 1;
        preprocess_output_size(&m->pre, images[at].width, images[at].height, &w, &h);
        while (k < IMAGE_CHUNK && at + k < n) {
            int w2, h2;
            preprocess_output_size(&m->pre, images[at + k].width, images[at + k].height, &w2, &h2);
            if (w2 != w || h2 != h) break;
            k++;
        }
        s = encode_image_run(m, images + at, k, h, w, embeds + (size_t)at * d, err);
        at += k;
    }
    if (s) return s;
    if (unnormalized) memcpy(unnormalized, embeds, sizeof(float) * (size_t)n * d);
    for (int i = 0; i < n; i++) l2_normalize(embeds + (size_t)i * d, d);
    return ALIGN_OK;
}

/* ---- scores ----------------------------------------------------------------------------------- */

void align_logits(const align_model *m, const float *image_embeds, int n_images, const float *text_embeds,
                  int n_labels, float *logits)
{
    int d = m->cfg.projection_dim;
    for (int i = 0; i < n_images; i++)
        for (int j = 0; j < n_labels; j++) {
            float dot = 0;
            for (int k = 0; k < d; k++) dot += image_embeds[(size_t)i * d + k] * text_embeds[(size_t)j * d + k];
            logits[(size_t)i * n_labels + j] = dot / m->temperature;
        }
}

void align_softmax(const float *logits, int n, float *probs)
{
    if (n <= 0) return;
    memmove(probs, logits, sizeof(float) * (size_t)n);
    softmax_inplace(probs, n);
}
