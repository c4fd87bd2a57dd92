/* tensors.h: a checkpoint as a table of named tensors that point into the mapped file.
 * safetensors.c and pytorch.c both produce one (checkpoint.c picks which); model.c consumes it by
 * Hugging Face name. */
#ifndef ALIGN_TENSORS_H
#define ALIGN_TENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "align.h"
#include "fileio.h"

#define TENSOR_MAX_DIMS 8

typedef enum { DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_I64 } tensor_dtype;

typedef struct {
    char *name;
    tensor_dtype dtype;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    const uint8_t *data; /* little-endian, contiguous, possibly unaligned */
    size_t nbytes;
} tensor_entry;

typedef struct {
    tensor_entry *entries; /* sorted by name once complete */
    size_t count, cap;
    file_map map;          /* owns the bytes the entries point into (empty when parsed from memory) */
} tensor_file;

size_t dtype_size(tensor_dtype dtype);
const char *dtype_name(tensor_dtype dtype);
int64_t tensor_numel(const tensor_entry *t);
int tensor_is_float(const tensor_entry *t);

/* Appends an entry, taking ownership of name. */
align_status tensor_file_add(tensor_file *tf, const tensor_entry *entry, const char *file,
                             align_error *err);
/* Sorts by name and refuses duplicate names. */
align_status tensor_file_finish(tensor_file *tf, const char *file, align_error *err);
const tensor_entry *tensor_file_find(const tensor_file *tf, const char *name);
void tensor_file_free(tensor_file *tf);

/* Widens a float tensor (F32/F16/BF16) to float32; out holds tensor_numel(t) floats. */
void tensor_to_f32(const tensor_entry *t, float *out);
float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
uint16_t f32_to_bf16(float f);

#endif
