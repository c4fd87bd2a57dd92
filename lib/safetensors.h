/* safetensors.h: Hugging Face's safetensors format (8-byte little-endian header length, a JSON
 * header of name -> {dtype, shape, data_offsets}, then the raw data). */
#ifndef ALIGN_SAFETENSORS_H
#define ALIGN_SAFETENSORS_H

#include "tensors.h"

/* Parses buf (which must outlive out) and validates every entry; name is used in messages.
 * out's entries point into buf. */
align_status safetensors_parse(const uint8_t *buf, size_t size, const char *name, tensor_file *out,
                               align_error *err);

/* Writes tensors to path as safetensors: float tensors in dtype (DTYPE_F32, F16 or BF16), I64
 * tensors as they are. Written to a temporary file, flushed to disk and renamed, so path is never
 * half-written; the file then leaves the page cache (see file_evict). */
align_status safetensors_write(const char *path, const tensor_file *tensors, tensor_dtype dtype,
                               align_error *err);

#endif
