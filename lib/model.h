/* model.h: the model handle. Everything is read-only once align_model_load returns, so one
 * handle serves any number of threads; each call builds its own scratch and thread pool. */
#ifndef ALIGN_MODEL_H
#define ALIGN_MODEL_H

#include <pthread.h>

#include "align.h"
#include "bert.h"
#include "config.h"
#include "efficientnet.h"
#include "kernels.h"
#include "memory.h"
#include "model_id.h"
#include "preprocess.h"
#include "tensors.h"
#include "tokenizer.h"
#include "weights.h"

/* Scratch for one call: a thread pool and the vision tower's workspace. Kept between calls (a
 * pool's threads and a large arena cost page faults and thread starts every time otherwise). */
typedef struct scratch {
    struct scratch *next;
    thread_pool *pool;
    int threads;
    big_buffer buffer;
    float *floats;
    size_t n_floats;
} scratch;

struct align_model {
    char *dir, *weights_path;
    const char *weights_format;
    align_config cfg;
    tensor_file tensors;
    weight_store store;
    bert_weights text;
    effnet_weights vision;
    const kernel_table *kernels; /* the hot loops' ISA level, chosen at load */
    tokenizer *tok;
    preprocess_config pre;
    float temperature;
    int threads;
    int64_t num_parameters;
    /* the only state that changes after load: scratch not in use, behind a lock */
    pthread_mutex_t scratch_lock;
    scratch *idle;
    /* identity for indexes and caches (model_id.c) */
    char id[MODEL_ID_SIZE];
};

/* Every tensor an ALIGN checkpoint with this config holds, in Hugging Face's state_dict order. */
align_status model_specs(const align_config *cfg, spec_list *list, align_error *err);
/* Parameters (trainable tensors: not running statistics or int64 buffers) the specs describe. */
int64_t model_count_parameters(const spec_list *list);
/* Runs both towers and the preprocessing on kt's loops: the load's choice, or a test's (before the
 * handle's first use). */
void model_use_kernels(align_model *m, const kernel_table *kt);

#endif
