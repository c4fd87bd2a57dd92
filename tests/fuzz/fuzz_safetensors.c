/* fuzz_safetensors: arbitrary bytes as a model.safetensors. A file that parses must describe
 * tensors lying inside it, each with exactly the bytes its dtype and shape need, none sharing
 * bytes; it must convert to float32, and a small one must write back (as F32 safetensors) and
 * read again to the same values. */
#include <stdint.h>
#include <unistd.h>

#include "checkpoint.h"
#include "fuzz_util.h"
#include "safetensors.h"

static char out_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(out_path, sizeof out_path, "/tmp/align-fuzz-st-%ld.safetensors", (long)getpid());
    return 0;
}

static void check_entries(const tensor_file *tf, const uint8_t *buf, size_t size)
{
    for (size_t i = 0; i < tf->count; i++) {
        const tensor_entry *t = &tf->entries[i];
        FUZZ_ASSERT(t->name && t->ndim >= 0 && t->ndim <= TENSOR_MAX_DIMS, "entry %zu", i);
        FUZZ_ASSERT(t->data >= buf && t->nbytes <= size && (size_t)(t->data - buf) <= size - t->nbytes,
                    "tensor %s lies outside the file", t->name);
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            FUZZ_ASSERT(t->shape[d] >= 0, "negative dimension in %s", t->name);
            numel *= (uint64_t)t->shape[d];
        }
        FUZZ_ASSERT(numel * dtype_size(t->dtype) == t->nbytes, "tensor %s: %zu bytes for %llu values", t->name,
                    t->nbytes, (unsigned long long)numel);
        FUZZ_ASSERT(tensor_file_find(tf, t->name) == t, "tensor %s not found by name", t->name);
        if (i) FUZZ_ASSERT(strcmp(tf->entries[i - 1].name, t->name) < 0, "names not sorted and unique");
        /* touch every byte: AddressSanitizer checks it lies in the input */
        volatile uint8_t sum = 0;
        for (size_t k = 0; k < t->nbytes; k++) sum ^= t->data[k];
        (void)sum;
    }
}

static float *to_f32(const tensor_entry *t)
{
    size_t n = (size_t)tensor_numel(t);
    float *v = malloc((n ? n : 1) * sizeof *v);
    if (v) tensor_to_f32(t, v);
    return v;
}

/* Writes tf as F32 safetensors and reads it back: same names, shapes and float values. */
static void round_trip(const tensor_file *tf)
{
    align_error err;
    align_status s = safetensors_write(out_path, tf, DTYPE_F32, &err);
    if (s) {
        fuzz_check_error(s, &err, out_path);
        return;
    }
    tensor_file back;
    s = checkpoint_open(out_path, &back, &err);
    FUZZ_ASSERT(s == ALIGN_OK, "written file does not read back: %s", err.message);
    FUZZ_ASSERT(back.count == tf->count, "%zu tensors written, %zu read", tf->count, back.count);
    for (size_t i = 0; i < tf->count; i++) {
        const tensor_entry *a = &tf->entries[i], *b = &back.entries[i];
        FUZZ_ASSERT(strcmp(a->name, b->name) == 0 && a->ndim == b->ndim, "tensor %s changed", a->name);
        for (int d = 0; d < a->ndim; d++) FUZZ_ASSERT(a->shape[d] == b->shape[d], "shape of %s changed", a->name);
        FUZZ_ASSERT(b->dtype == (a->dtype == DTYPE_I64 ? DTYPE_I64 : DTYPE_F32), "dtype of %s", a->name);
        if (a->dtype == DTYPE_I64) {
            FUZZ_ASSERT(a->nbytes == b->nbytes && memcmp(a->data, b->data, a->nbytes) == 0, "I64 %s changed", a->name);
            continue;
        }
        float *x = to_f32(a), *y = to_f32(b);
        FUZZ_ASSERT(x && y, "out of memory");
        /* bitwise, except that a NaN's payload may be quietened */
        for (int64_t k = 0; k < tensor_numel(a); k++)
            FUZZ_ASSERT(memcmp(&x[k], &y[k], 4) == 0 || (x[k] != x[k] && y[k] != y[k]), "%s[%lld] changed",
                        a->name, (long long)k);
        free(x);
        free(y);
    }
    tensor_file_free(&back);
    unlink(out_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tensor_file tf;
    memset(&tf, 0, sizeof tf);
    align_error err;
    align_status s = safetensors_parse(data, size, "fuzz.safetensors", &tf, &err);
    if (s) {
        fuzz_check_error(s, &err, "fuzz.safetensors");
    } else {
        check_entries(&tf, data, size);
        size_t total = 0;
        for (size_t i = 0; i < tf.count; i++) total += tf.entries[i].nbytes;
        if (total <= (1u << 20)) round_trip(&tf);
    }
    tensor_file_free(&tf);
    return 0;
}
