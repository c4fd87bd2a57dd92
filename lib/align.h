/* align.h: zero-shot image classification with Google's ALIGN (EfficientNet + BERT) on the CPU.
 *
 * Basic usage: the whole pipeline, from a model directory to the probabilities of labels.
 *
 *     align_error err;
 *     align_model *m = align_model_load("weights/align-base", &err);      // 1. load the model
 *     if (!m) { fprintf(stderr, "%s\n", err.message); return 1; }
 *     align_model_info info;
 *     align_model_get_info(m, &info);             // projection_dim floats an embedding, batch_size
 *
 *     const char *labels[] = {"a photo of a cat", "a photo of a dog"};
 *     float *text = malloc(sizeof(float) * 2 * info.projection_dim);
 *     if (align_encode_text(m, labels, 2, text, NULL, &err)) ...         // 2. encode the labels, once
 *
 *     align_image img;
 *     if (align_image_load("cat.jpg", NULL, &img, &err)) ...             // 3. load an image
 *     float *image = malloc(sizeof(float) * info.projection_dim);
 *     if (align_encode_images(m, &img, 1, image, NULL, &err)) ...        // 4. encode images (up to
 *     align_image_free(&img);                                            //    batch_size at once)
 *
 *     float logits[2], probs[2];
 *     align_logits(m, image, 1, text, 2, logits);                        // 5. logits
 *     align_softmax(logits, 2, probs);                                   // 6. probabilities
 *     align_model_free(m);
 *
 * Errors: every call that can fail returns an align_status and fills an align_error with a
 * one-line message naming the file or input and the problem. The library never prints, exits or
 * aborts.
 *
 * Threads: a loaded handle may be shared by any number of threads, each calling any function of
 * this header on it at the same time, except align_model_free, which must come after every other
 * call on the handle has returned. align_model_set_threads is safe at any time: calls already
 * running keep the thread count they started with.
 */
#ifndef ALIGN_H
#define ALIGN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ALIGN_VERSION "0.1.0"

typedef enum {
    ALIGN_OK = 0,
    ALIGN_ERR_IO,      /* a file is missing or cannot be read */
    ALIGN_ERR_FORMAT,  /* a file is not what it claims to be (JSON, safetensors, zip, pickle, image) */
    ALIGN_ERR_CONFIG,  /* config.json holds a value no ALIGN model can have */
    ALIGN_ERR_WEIGHTS, /* the checkpoint lacks tensors the config asks for, or has other shapes */
    ALIGN_ERR_INPUT,   /* a label or image the model cannot take */
    ALIGN_ERR_LIMIT,   /* over a size limit (pixels, tokens) */
    ALIGN_ERR_NOMEM,   /* out of memory */
    ALIGN_ERR_ARG      /* the caller passed an invalid argument */
} align_status;

typedef struct {
    align_status code;
    char message[1024]; /* one line, names the file or input and the problem */
} align_error;

const char *align_status_name(align_status code);

/* ---- model ------------------------------------------------------------------------------------ */

typedef struct align_model align_model;

/* Reads config.json, model.safetensors (or pytorch_model.bin), vocab.txt, tokenizer_config.json
 * and preprocessor_config.json from dir and checks every tensor the config implies. */
align_model *align_model_load(const char *dir, align_error *err);
void align_model_free(align_model *model);

typedef struct {
    const char *dir;
    const char *weights_path;  /* the checkpoint file that was read */
    const char *weights_format; /* "safetensors" or "pytorch" */
    int projection_dim;        /* length of every embedding */
    int text_hidden_size, text_layers, text_heads, text_max_tokens, vocab_size;
    int vision_blocks, vision_channels; /* vision_channels == projection_dim for ALIGN */
    int image_height, image_width;      /* what the vision tower is fed after preprocessing */
    int64_t num_parameters;
    float temperature;
    int batch_size; /* images align_encode_images runs through the vision tower together: pass at
                       least this many at a time for full speed */
} align_model_info;

void align_model_get_info(const align_model *model, align_model_info *info);

/* Threads the model's calls use (0 = every core, the default). Safe to call at any time, from
 * any thread: a call already running keeps the count it started with. align splits every matrix
 * product over its own threads and so runs OpenBLAS single-threaded: loading a model sets
 * OpenBLAS's process-wide thread count to 1 and stops its idle server threads. */
void align_model_set_threads(align_model *model, int threads);

/* ---- text ------------------------------------------------------------------------------------- */

/* BERT WordPiece ids of text, [CLS] ... [SEP], not truncated. *ids is malloc'ed; free() it. */
align_status align_tokenize(const align_model *model, const char *text, size_t len, int32_t **ids,
                            size_t *n_ids, align_error *err);
/* The vocabulary string of a token id, or NULL when out of range. */
const char *align_token_string(const align_model *model, int32_t id);

/* n labels -> n x projection_dim L2-normalised embeddings (row-major). unnormalized, when not
 * NULL, receives the text projections before normalisation. */
align_status align_encode_text(const align_model *model, const char *const *labels, int n,
                               float *embeds, float *unnormalized, align_error *err);

/* ---- images ----------------------------------------------------------------------------------- */

typedef struct {
    int width, height;
    uint8_t *rgb; /* width * height * 3 bytes, rows top to bottom */
} align_image;

typedef struct {
    uint64_t max_pixels; /* refuse larger images; 0 = ALIGN_DEFAULT_MAX_PIXELS */
} align_decode_options;

#define ALIGN_DEFAULT_MAX_PIXELS 89478485ull /* PIL's decompression-bomb limit */

/* Decodes JPEG/PNG/BMP/GIF/TGA/PNM to RGB as PIL's convert("RGB") does, applying the EXIF
 * orientation. opts may be NULL. name is what error messages call the input. */
align_status align_image_load(const char *path, const align_decode_options *opts, align_image *out,
                              align_error *err);
align_status align_image_load_memory(const void *data, size_t size, const char *name,
                                     const align_decode_options *opts, align_image *out,
                                     align_error *err);
void align_image_free(align_image *image);

/* n images -> n x projection_dim L2-normalised embeddings, preprocessed as the model's
 * preprocessor_config.json says. unnormalized (may be NULL) receives the pooled features. */
align_status align_encode_images(const align_model *model, const align_image *images, int n,
                                 float *embeds, float *unnormalized, align_error *err);

/* ---- scores ----------------------------------------------------------------------------------- */

/* logits[i * n_labels + j] = image_embeds[i] . text_embeds[j] / temperature */
void align_logits(const align_model *model, const float *image_embeds, int n_images,
                  const float *text_embeds, int n_labels, float *logits);
/* Numerically stable softmax of n values. */
void align_softmax(const float *logits, int n, float *probs);

/* ---- checkpoints ------------------------------------------------------------------------------ */

/* Rewrites a checkpoint (pytorch_model.bin or safetensors) as safetensors at out_path, float
 * tensors stored as dtype "f32", "f16" or "bf16". Written to a temporary name and renamed. */
align_status align_convert_checkpoint(const char *in_path, const char *out_path, const char *dtype,
                                      align_error *err);

/* ---- BLAS and CPU: process-wide, no model needed ---------------------------------------------- */

/* The OpenBLAS kernel in use ("SkylakeX", "Haswell", ...). */
const char *align_blas_core(void);
/* The OPENBLAS_CORETYPE this CPU should run, when the loaded kernel is slower than the CPU allows
 * (OpenBLAS picks its kernel as it loads, so a program acts on this by re-executing itself with
 * the variable set). NULL when the loaded kernel is already right or the user chose one. */
const char *align_blas_better_core(void);
/* Runs the program again (argv as main received it) with OPENBLAS_CORETYPE set to
 * align_blas_better_core(), before any BLAS work. Returns only when there is nothing better or the
 * exec failed, in which case the program goes on with the kernel it has. */
void align_blas_reexec(char **argv);
/* The cores online (at least 1): what a thread count of 0 means. */
int align_cpu_count(void);

#ifdef __cplusplus
}
#endif
#endif
