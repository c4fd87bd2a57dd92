/* model_id.h: a model's identity, the key under which indexes and caches keep its embeddings. */
#ifndef ALIGN_MODEL_ID_H
#define ALIGN_MODEL_ID_H

#include "align.h"
#include "tensors.h"

/* 16 hex digits and a NUL */
#define MODEL_ID_SIZE 17

/* Hashes what decides the model's embeddings: the files in dir that configure it and a sample of
 * every tensor in tf (see model_id.c for why a sample suffices). */
align_status model_id_compute(const char *dir, const tensor_file *tf, char id[MODEL_ID_SIZE],
                              align_error *err);

#endif
