/* fuzz_pytorch: arbitrary bytes as a pytorch_model.bin (a torch.save zip with its pickle). A file
 * that parses must give tensors that lie inside it, each with exactly the bytes its dtype and
 * shape need; a failure leaves the output empty. */
#include <stdint.h>

#include "fuzz_util.h"
#include "pytorch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tensor_file tf;
    memset(&tf, 0, sizeof tf);
    align_error err;
    align_status s = pytorch_parse(data, size, "fuzz.bin", &tf, &err);
    if (s) {
        fuzz_check_error(s, &err, "fuzz.bin");
        FUZZ_ASSERT(tf.count == 0 && tf.entries == NULL, "a failed parse left %zu entries", tf.count);
        return 0;
    }
    for (size_t i = 0; i < tf.count; i++) {
        const tensor_entry *t = &tf.entries[i];
        FUZZ_ASSERT(t->name && t->ndim >= 0 && t->ndim <= TENSOR_MAX_DIMS, "entry %zu", i);
        FUZZ_ASSERT(t->data >= data && t->nbytes <= size && (size_t)(t->data - data) <= size - t->nbytes,
                    "tensor %s lies outside the file", t->name);
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            FUZZ_ASSERT(t->shape[d] >= 0, "negative dimension in %s", t->name);
            numel *= (uint64_t)t->shape[d];
        }
        FUZZ_ASSERT(numel * dtype_size(t->dtype) == t->nbytes, "tensor %s: %zu bytes for %llu values", t->name,
                    t->nbytes, (unsigned long long)numel);
        FUZZ_ASSERT(tensor_file_find(&tf, t->name) == t, "tensor %s not found by name", t->name);
        volatile uint8_t sum = 0;
        for (size_t k = 0; k < t->nbytes; k++) sum ^= t->data[k];
        (void)sum;
        if (tensor_is_float(t) && numel <= (1u << 16)) {
            float *v = malloc((numel ? numel : 1) * sizeof *v);
            FUZZ_ASSERT(v != NULL, "out of memory");
            tensor_to_f32(t, v);
            free(v);
        }
    }
    tensor_file_free(&tf);
    return 0;
}
