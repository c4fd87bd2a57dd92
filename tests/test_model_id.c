/* A model's identity (lib/model_id.c): stable, the same for the same weights in either checkpoint
 * format, different for anything that changes an embedding. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "align.h"
#include "checkpoint.h"
#include "test.h"

/* The identity of the model in dir ("" when it does not load). */
static const char *id_of(const char *dir, char out[32])
{
    align_error err;
    align_model *m = align_model_load(dir, &err);
    CHECK_MSG(m != NULL, "%s", err.message);
    snprintf(out, 32, "%s", m ? align_model_id(m) : "");
    align_model_free(m);
    return out;
}

/* A copy of tiny-a in tmpdir/name: links to its files, except skip (left out). */
static const char *tiny_copy(const char *name, const char *skip)
{
    static const char *files[] = {"config.json", "model.safetensors", "pytorch_model.bin", "preprocessor_config.json",
                                  "special_tokens_map.json", "tokenizer_config.json", "vocab.txt"};
    static char dir[8][512];
    static int next;
    char *d = dir[next++ % 8];
    snprintf(d, sizeof dir[0], "%s/%s", test_tmpdir(), name);
    mkdir(d, 0755);
    char from[1024], to[1024], abs[1024];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        if (skip && strcmp(files[i], skip) == 0) continue;
        snprintf(from, sizeof from, "%s/%s", fixture("tiny-a"), files[i]);
        snprintf(to, sizeof to, "%s/%s", d, files[i]);
        CHECK(realpath(from, abs) != NULL);
        CHECK(symlink(abs, to) == 0);
    }
    return d;
}

static void replace_file(const char *dir, const char *name, const void *data, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, n, f) == n);
    if (f) fclose(f);
}

TEST(model_id_is_stable_and_tells_models_apart)
{
    char a[32], a2[32], b[32];
    id_of(fixture("tiny-a"), a);
    id_of(fixture("tiny-a"), a2);
    id_of(fixture("tiny-b"), b);
    CHECK_INT(strlen(a), 16);
    CHECK(strspn(a, "0123456789abcdef") == 16);
    CHECK_STR(a, a2);
    CHECK(strcmp(a, b) != 0);
}

TEST(model_id_is_the_same_for_the_same_weights_in_either_format)
{
    char a[32], pt[32];
    id_of(fixture("tiny-a"), a);
    id_of(tiny_copy("id-pytorch", "model.safetensors"), pt);
    CHECK_STR(pt, a);
}

TEST(model_id_changes_with_what_changes_an_embedding)
{
    char a[32], other[32];
    id_of(fixture("tiny-a"), a);

    /* another preprocessing (the file says the same with one more space) */
    const char *d = tiny_copy("id-pre", NULL);
    char path[1024];
    snprintf(path, sizeof path, "%s/preprocessor_config.json", fixture("tiny-a"));
    char *text;
    size_t n;
    align_error err;
    FILE *f = fopen(path, "rb");
    text = calloc(1, 1 << 16);
    n = f ? fread(text, 1, (1 << 16) - 2, f) : 0;
    if (f) fclose(f);
    text[n] = ' ';
    replace_file(d, "preprocessor_config.json", text, n + 1);
    CHECK(strcmp(id_of(d, other), a) != 0);
    free(text);

    /* one weight changed: the first byte of the word embeddings */
    snprintf(path, sizeof path, "%s/model.safetensors", fixture("tiny-a"));
    tensor_file tf;
    CHECK_MSG(checkpoint_open(path, &tf, &err) == ALIGN_OK, "%s", err.message);
    const tensor_entry *t = tensor_file_find(&tf, "text_model.embeddings.word_embeddings.weight");
    CHECK(t != NULL);
    if (t) {
        uint8_t *bytes = malloc(tf.map.size);
        memcpy(bytes, tf.map.data, tf.map.size);
        bytes[t->data - tf.map.data] ^= 1;
        d = tiny_copy("id-weight", "pytorch_model.bin");
        replace_file(d, "model.safetensors", bytes, tf.map.size);
        CHECK(strcmp(id_of(d, other), a) != 0);
        free(bytes);
    }
    tensor_file_free(&tf);
}
