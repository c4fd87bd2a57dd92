/* A model's identity: a hash of everything that decides its embeddings, cheap enough to compute
 * on every load.
 *
 * Hashed whole: config.json, preprocessor_config.json (image size, resampling, normalisation),
 * tokenizer_config.json and vocab.txt (the ids a label becomes). Hashed per tensor, in name order:
 * the name, dtype, shape, byte length, and the first and last TENSOR_SAMPLE bytes of its data.
 * Reading all 690 MB of weights would cost more than a text query; a sample suffices because a
 * different checkpoint differs everywhere: fine-tuning or retraining moves every weight, and a
 * conversion to another dtype changes the dtype and every byte. What a sample can miss is a
 * deliberate edit of the middle of a tensor, which nobody distributes as the same model.
 *
 * The container is not hashed (its header, the file size, the format), only the tensors: the same
 * weights as pytorch_model.bin or model.safetensors compute the same embeddings, so share an id. */
#include "model_id.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "hash.h"

#define TENSOR_SAMPLE 4096
#define MAX_TEXT_FILE (64u << 20)

static const char *const hashed_files[] = {"config.json", "preprocessor_config.json", "tokenizer_config.json",
                                           "vocab.txt"};

/* A length before each field, so that moving bytes between fields changes the hash. */
static uint64_t hash_field(uint64_t h, const void *data, size_t n)
{
    uint64_t len = n;
    return hash_bytes(hash_bytes(h, &len, sizeof len), data, n);
}

static align_status hash_file(uint64_t *h, const char *dir, const char *name, align_error *err)
{
    char *path = path_join(dir, name);
    if (!path) return align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    char *text = NULL;
    size_t len = 0;
    align_status s = ALIGN_OK;
    /* an optional file the loader did without still counts: absent hashes differently from empty */
    if (file_exists(path)) s = file_read_all(path, MAX_TEXT_FILE, &text, &len, err);
    *h = hash_field(*h, name, strlen(name));
    if (!s) *h = text ? hash_field(*h, text, len) : hash_bytes(*h, "-", 1);
    free(text);
    free(path);
    return s;
}

static uint64_t hash_tensor(uint64_t h, const tensor_entry *t)
{
    h = hash_field(h, t->name, strlen(t->name));
    int32_t dtype = t->dtype, ndim = t->ndim;
    h = hash_bytes(h, &dtype, sizeof dtype);
    h = hash_bytes(h, &ndim, sizeof ndim);
    h = hash_bytes(h, t->shape, sizeof t->shape[0] * (size_t)t->ndim);
    if (t->nbytes <= 2 * TENSOR_SAMPLE) return hash_field(h, t->data, t->nbytes);
    h = hash_field(h, t->data, TENSOR_SAMPLE);
    return hash_field(h, t->data + t->nbytes - TENSOR_SAMPLE, TENSOR_SAMPLE);
}

align_status model_id_compute(const char *dir, const tensor_file *tf, char id[MODEL_ID_SIZE], align_error *err)
{
    uint64_t h = HASH_INIT;
    for (size_t i = 0; i < sizeof hashed_files / sizeof *hashed_files; i++) {
        align_status s = hash_file(&h, dir, hashed_files[i], err);
        if (s) return s;
    }
    for (size_t i = 0; i < tf->count; i++) h = hash_tensor(h, &tf->entries[i]);
    snprintf(id, MODEL_ID_SIZE, "%016llx", (unsigned long long)h);
    return ALIGN_OK;
}
