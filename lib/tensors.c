#include "tensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

size_t dtype_size(tensor_dtype dtype)
{
    switch (dtype) {
    case DTYPE_F32: return 4;
    case DTYPE_F16:
    case DTYPE_BF16: return 2;
    case DTYPE_I64: return 8;
    }
    return 0;
}

const char *dtype_name(tensor_dtype dtype)
{
    switch (dtype) {
    case DTYPE_F32: return "F32";
    case DTYPE_F16: return "F16";
    case DTYPE_BF16: return "BF16";
    case DTYPE_I64: return "I64";
    }
    return "?";
}

int64_t tensor_numel(const tensor_entry *t)
{
    /* the readers bound the product by the file's size, unless a size is 0: then the others may
     * be anything up to 2^53, and multiplying them first would overflow */
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] == 0) return 0;
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int tensor_is_float(const tensor_entry *t)
{
    return t->dtype == DTYPE_F32 || t->dtype == DTYPE_F16 || t->dtype == DTYPE_BF16;
}

align_status tensor_file_add(tensor_file *tf, const tensor_entry *entry, const char *file,
                             align_error *err)
{
    if (tf->count == tf->cap) {
        size_t cap = tf->cap ? tf->cap * 2 : 64;
        tensor_entry *e = realloc(tf->entries, cap * sizeof *e);
        if (!e) {
            free(entry->name);
            return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", file);
        }
        tf->entries = e;
        tf->cap = cap;
    }
    tf->entries[tf->count++] = *entry;
    return ALIGN_OK;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const tensor_entry *)a)->name, ((const tensor_entry *)b)->name);
}

align_status tensor_file_finish(tensor_file *tf, const char *file, align_error *err)
{
    if (tf->count) qsort(tf->entries, tf->count, sizeof *tf->entries, by_name);
    for (size_t i = 1; i < tf->count; i++)
        if (strcmp(tf->entries[i - 1].name, tf->entries[i].name) == 0)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: tensor %s appears twice", file,
                              tf->entries[i].name);
    return ALIGN_OK;
}

const tensor_entry *tensor_file_find(const tensor_file *tf, const char *name)
{
    if (!tf->count) return NULL;
    tensor_entry key = {.name = (char *)name};
    return bsearch(&key, tf->entries, tf->count, sizeof key, by_name);
}

void tensor_file_free(tensor_file *tf)
{
    for (size_t i = 0; i < tf->count; i++) free(tf->entries[i].name);
    free(tf->entries);
    file_map_close(&tf->map);
    memset(tf, 0, sizeof *tf);
}

float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                mant <<= 1;
                e++;
            } while (!(mant & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
        }
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    x += 0x7fff + ((x >> 16) & 1); /* round to nearest even */
    return (uint16_t)(x >> 16);
}

uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00);
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds past the largest half */
    if (ax < 0x38800000u) {
        /* subnormal half: scaling by 2^24 is exact and rintf rounds to nearest even; 1024 comes
         * out as the smallest normal, which is the right encoding */
        return (uint16_t)(sign | (uint32_t)rintf(fabsf(f) * 16777216.0f));
    }
    uint32_t v = (ax >> 13) - (112u << 10), rem = ax & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (v & 1))) v++;
    return (uint16_t)(sign | v);
}

void tensor_to_f32(const tensor_entry *t, float *out)
{
    size_t n = (size_t)tensor_numel(t);
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case DTYPE_F32: memcpy(out, p, n * 4); break;
    case DTYPE_F16:
        for (size_t i = 0; i < n; i++) out[i] = f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        break;
    case DTYPE_BF16:
        for (size_t i = 0; i < n; i++) out[i] = bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        break;
    case DTYPE_I64:
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            memcpy(&v, p + 8 * i, 8);
            out[i] = (float)v;
        }
        break;
    }
}
