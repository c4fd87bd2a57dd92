#include "safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "error.h"
#include "fileio.h"
#include "jsonutil.h"

/* The format's own reference reader refuses headers above 100 MB. */
#define MAX_HEADER (100u << 20)
/* JSON values in a header: some ten a tensor, so room for 400,000 tensors (an ALIGN config at its
 * limits has about 100,000). cJSON's nodes for a 100 MB header of "0," would take 4 GB; at this
 * bound, about 350 MB. */
#define MAX_HEADER_VALUES (1 << 22)
/* Integers in the header arrive as doubles; above 2^53 they are no longer exact. */
#define MAX_EXACT 9007199254740992.0

static int parse_dtype(const char *s, tensor_dtype *out)
{
    static const struct {
        const char *name;
        tensor_dtype dtype;
    } table[] = {{"F32", DTYPE_F32}, {"F16", DTYPE_F16}, {"BF16", DTYPE_BF16}, {"I64", DTYPE_I64}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(s, table[i].name) == 0) {
            *out = table[i].dtype;
            return 1;
        }
    return 0;
}

static int exact_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= MAX_EXACT) || d != floor(d)) return 0;
    *out = (uint64_t)d;
    return 1;
}

/* Fills t from one header entry; data_len is the size of the data region. */
static align_status parse_entry(const cJSON *item, const uint8_t *data, uint64_t data_len,
                                const char *file, tensor_entry *t, align_error *err)
{
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: tensor %s: entry is not an object", file, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dtype))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: tensor %s: dtype missing", file, name);
    if (!parse_dtype(dtype->valuestring, &t->dtype))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: tensor %s: unsupported dtype %.32s", file, name,
                          dtype->valuestring);
    if (!cJSON_IsArray(shape))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: tensor %s: shape missing", file, name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > TENSOR_MAX_DIMS)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: tensor %s: %d dimensions, at most %d", file, name,
                          ndim, TENSOR_MAX_DIMS);
    t->ndim = ndim;
    uint64_t numel = 1, dim;
    int empty = 0;
    for (int i = 0; i < ndim; i++) {
        if (!exact_uint(cJSON_GetArrayItem(shape, i), &dim))
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: tensor %s: shape[%d] is not a size", file, name, i);
        t->shape[i] = (int64_t)dim;
        empty |= dim == 0;
    }
    /* a zero anywhere makes the tensor empty, however large the other sizes */
    for (int i = 0; i < ndim && !empty; i++) {
        dim = (uint64_t)t->shape[i];
        if (numel > data_len / dim)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: tensor %s: shape larger than the file", file, name);
        numel *= dim;
    }
    if (empty) numel = 0;
    uint64_t begin, end;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !exact_uint(cJSON_GetArrayItem(offsets, 0), &begin) || !exact_uint(cJSON_GetArrayItem(offsets, 1), &end))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: tensor %s: data_offsets must be two sizes", file, name);
    if (begin > end || end > data_len)
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: tensor %s: data_offsets [%llu, %llu] outside the data (%llu bytes)", file,
                          name, (unsigned long long)begin, (unsigned long long)end,
                          (unsigned long long)data_len);
    if (end - begin != numel * dtype_size(t->dtype))
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: tensor %s: %llu bytes for %llu %s values", file, name,
                          (unsigned long long)(end - begin), (unsigned long long)numel,
                          dtype_name(t->dtype));
    t->data = data + begin;
    t->nbytes = (size_t)(end - begin);
    return ALIGN_OK;
}

static int by_offset(const void *a, const void *b)
{
    const tensor_entry *x = a, *y = b;
    return x->data < y->data ? -1 : x->data > y->data;
}

/* Two tensors must never share bytes: a writer that aliases them is broken or hostile. */
static align_status check_overlaps(const tensor_file *tf, const char *file, align_error *err)
{
    if (tf->count < 2) return ALIGN_OK;
    tensor_entry *sorted = malloc(tf->count * sizeof *sorted);
    if (!sorted) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", file);
    memcpy(sorted, tf->entries, tf->count * sizeof *sorted);
    qsort(sorted, tf->count, sizeof *sorted, by_offset);
    align_status s = ALIGN_OK;
    for (size_t i = 1; i < tf->count && !s; i++)
        if (sorted[i - 1].data + sorted[i - 1].nbytes > sorted[i].data)
            s = align_fail(err, ALIGN_ERR_FORMAT, "%s: tensors %s and %s overlap", file,
                           sorted[i - 1].name, sorted[i].name);
    free(sorted);
    return s;
}

static align_status parse_header(const cJSON *root, const uint8_t *data, uint64_t data_len,
                                 const char *file, tensor_file *out, align_error *err)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "__metadata__") == 0) continue;
        tensor_entry t = {0};
        align_status s = parse_entry(item, data, data_len, file, &t, err);
        if (s) return s;
        if (!(t.name = strdup(item->string))) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", file);
        if ((s = tensor_file_add(out, &t, file, err))) return s;
    }
    align_status s = check_overlaps(out, file, err);
    return s ? s : tensor_file_finish(out, file, err);
}

align_status safetensors_parse(const uint8_t *buf, size_t size, const char *name, tensor_file *out,
                               align_error *err)
{
    if (size < 8)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: not a safetensors file (%zu bytes)", name, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | buf[i];
    if (n > size - 8)
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: header length %llu runs past the end of the file (%zu bytes): truncated?",
                          name, (unsigned long long)n, size);
    if (n > MAX_HEADER)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: header of %llu bytes is too large", name,
                          (unsigned long long)n);
    if (json_value_bound((const char *)buf + 8, (size_t)n) > MAX_HEADER_VALUES)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: header holds more than %d JSON values", name,
                          MAX_HEADER_VALUES);
    cJSON *root = cJSON_ParseWithLength((const char *)buf + 8, (size_t)n);
    if (!root) return align_fail(err, ALIGN_ERR_FORMAT, "%s: header is not valid JSON", name);
    align_status s;
    if (!cJSON_IsObject(root))
        s = align_fail(err, ALIGN_ERR_FORMAT, "%s: header is not a JSON object", name);
    else
        s = parse_header(root, buf + 8 + n, size - 8 - n, name, out, err);
    cJSON_Delete(root);
    return s;
}

/* ---- writing ---------------------------------------------------------------------------------- */

static tensor_dtype out_dtype(const tensor_entry *t, tensor_dtype want)
{
    return tensor_is_float(t) ? want : t->dtype;
}

/* An integer as JSON text: cJSON prints numbers with 15 significant digits when that reads back
 * within its tolerance, which loses the last digits of sizes above 10^15. */
static cJSON *json_uint(uint64_t v)
{
    char text[24];
    snprintf(text, sizeof text, "%llu", (unsigned long long)v);
    return cJSON_CreateRaw(text);
}

static char *build_header(const tensor_file *tf, tensor_dtype dtype, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    uint64_t offset = 0;
    for (size_t i = 0; i < tf->count; i++) {
        const tensor_entry *t = &tf->entries[i];
        tensor_dtype d = out_dtype(t, dtype);
        uint64_t bytes = (uint64_t)tensor_numel(t) * dtype_size(d);
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        cJSON_AddStringToObject(e, "dtype", dtype_name(d));
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        for (int k = 0; k < t->ndim; k++) cJSON_AddItemToArray(shape, json_uint((uint64_t)t->shape[k]));
        cJSON *off = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(off, json_uint(offset));
        cJSON_AddItemToArray(off, json_uint(offset + bytes));
        offset += bytes;
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) return NULL;
    /* pad with spaces so the data starts 8-byte aligned, as Hugging Face's writer does */
    size_t n = strlen(text), padded = (n + 7) & ~(size_t)7;
    char *p = realloc(text, padded + 1);
    if (!p) {
        free(text);
        return NULL;
    }
    memset(p + n, ' ', padded - n);
    p[padded] = 0;
    *len = padded;
    return p;
}

static int write_tensor(FILE *f, const tensor_entry *t, tensor_dtype d)
{
    if (d == t->dtype) return fwrite(t->data, 1, t->nbytes, f) == t->nbytes;
    enum { CHUNK = 4096 };
    float vals[CHUNK];
    uint8_t bytes[CHUNK * 2];
    size_t n = (size_t)tensor_numel(t), esz = dtype_size(t->dtype);
    for (size_t at = 0; at < n; at += CHUNK) {
        size_t k = n - at < CHUNK ? n - at : CHUNK;
        tensor_entry part = *t;
        part.ndim = 1;
        part.shape[0] = (int64_t)k;
        part.data = t->data + at * esz;
        tensor_to_f32(&part, vals);
        if (d == DTYPE_F32) { /* x86 and arm64 are little-endian, as the format is */
            if (fwrite(vals, 4, k, f) != k) return 0;
            continue;
        }
        for (size_t i = 0; i < k; i++) {
            uint16_t h = d == DTYPE_F16 ? f32_to_f16(vals[i]) : f32_to_bf16(vals[i]);
            bytes[2 * i] = (uint8_t)h;
            bytes[2 * i + 1] = (uint8_t)(h >> 8);
        }
        if (fwrite(bytes, 2, k, f) != k) return 0;
    }
    return 1;
}

align_status safetensors_write(const char *path, const tensor_file *tf, tensor_dtype dtype,
                               align_error *err)
{
    if (dtype == DTYPE_I64) return align_fail(err, ALIGN_ERR_ARG, "%s: weights cannot be stored as I64", path);
    size_t hlen;
    char *header = build_header(tf, dtype, &hlen);
    if (!header) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", path);
    size_t plen = strlen(path) + 16;
    char *tmp = malloc(plen);
    if (!tmp) {
        free(header);
        return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, plen, "%s.partial", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        free(header);
        free(tmp);
        return align_fail(err, ALIGN_ERR_IO, "%s: %s", path, strerror(e));
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(header, 1, hlen, f) == hlen;
    for (size_t i = 0; ok && i < tf->count; i++)
        ok = write_tensor(f, &tf->entries[i], out_dtype(&tf->entries[i], dtype));
    int e = ok ? 0 : errno;
    if (ok && (fflush(f) != 0 || file_evict(fileno(f)) != 0)) {
        ok = 0;
        e = errno;
    }
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    free(header);
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) unlink(tmp);
    free(tmp);
    return ok ? ALIGN_OK : align_fail(err, ALIGN_ERR_IO, "%s: cannot write: %s", path, strerror(e ? e : EIO));
}
