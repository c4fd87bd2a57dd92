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
    char message[4352]; /* one line, names the file or input and the problem (room for a path of
                           PATH_MAX bytes and the reason) */
} align_error;

const char *align_status_name(align_status code);

/* ---- model ------------------------------------------------------------------------------------ */

typedef struct align_model align_model;

/* Reads config.json, model.safetensors (or pytorch_model.bin), vocab.txt, tokenizer_config.json
 * and preprocessor_config.json from dir and checks every tensor the config implies. The
 * environment variable ALIGN_ISA (baseline, avx2 or avx512), read here, caps the ISA level of the
 * hot loops; a level above the CPU's runs at the CPU's, an unknown name is ALIGN_ERR_ARG. */
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
    const char *isa; /* the ISA level the hot loops run at: "baseline", "avx2", "avx512" (x86-64)
                        or "generic"; the CPU's, capped by ALIGN_ISA read at load */
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

/* Where PIL refuses an image as a decompression bomb: twice its MAX_IMAGE_PIXELS (89,478,485, above
 * which it only warns), so that what Hugging Face's load_image reads, align reads. */
#define ALIGN_DEFAULT_MAX_PIXELS 178956970ull

/* Decodes the image formats Pillow 9.4 reads (JPEG, PNG, GIF, BMP, TGA, PNM, WebP, TIFF, ICO, CUR,
 * PSD, JPEG 2000 and rarer ones: the README's format table says which, and what each reads and
 * refuses) to RGB as PIL's convert("RGB") does, applying the EXIF orientation as exif_transpose
 * does. opts may be NULL. name is what error messages call the input. An EPS file is rendered as
 * Pillow renders it, by running Ghostscript's `gs` (found on PATH, with -dSAFER, output discarded,
 * stopped after 60 s) on a temporary copy in $TMPDIR (else /tmp); without gs it is refused. */
align_status align_image_load(const char *path, const align_decode_options *opts, align_image *out,
                              align_error *err);
align_status align_image_load_memory(const void *data, size_t size, const char *name,
                                     const align_decode_options *opts, align_image *out,
                                     align_error *err);
void align_image_free(align_image *image);

/* The image as the model's preprocessing resizes it, before its crop (a copy when it does not
 * resize): align_encode_images gives it the embedding it gives the image, bit for bit. A
 * program that decodes before encoding can hold this instead of a photo's full size (align's
 * CLI does).
 * Free it with align_image_free. */
align_status align_image_fit(const align_model *model, const align_image *image, align_image *out,
                             align_error *err);

/* align_image_load and then align_image_fit, the same bytes, in one pass where the format allows: a
 * JPEG is resized row by row as it is decoded, so a 12-megapixel photo never takes its 36 MB. */
align_status align_image_load_fitted(const align_model *model, const char *path, const align_decode_options *opts,
                                     align_image *out, align_error *err);
align_status align_image_load_memory_fitted(const align_model *model, const void *data, size_t size,
                                            const char *name, const align_decode_options *opts, align_image *out,
                                            align_error *err);

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
 * tensors stored as dtype "f32", "f16" or "bf16". Written to a temporary name and renamed; an
 * out_path that is in_path (or a link to it) is refused, as the rename would drop the checkpoint. */
align_status align_convert_checkpoint(const char *in_path, const char *out_path, const char *dtype,
                                      align_error *err);

/* ==== collections: the embedding index and the label cache (lib/index.c, lib/label_cache.c) ==== */

/* A model's identity: 16 hex digits hashing its configuration files, vocabulary and a sample of
 * every tensor (lib/model_id.c says why a sample suffices). The same weights read from
 * pytorch_model.bin or model.safetensors share an identity; another checkpoint, a converted dtype
 * or another preprocessing does not. Indexes and caches keep embeddings under it. */
const char *align_model_id(const align_model *model);

/* An index: one SQLite file mapping image paths to their embeddings, with the model identity and
 * embedding length it was made with. Any number of processes may read it while one writes (WAL);
 * a second writer waits up to 5 s for the first's transaction, then reports the file busy. A handle
 * is for one thread at a time. Embeddings are stored as float32 (little-endian), 4 * dim bytes. */
typedef struct align_index align_index;

enum {
    ALIGN_INDEX_READ = 0,   /* search and read; never writes */
    ALIGN_INDEX_WRITE = 1,  /* also add, remove, prune */
    ALIGN_INDEX_CREATE = 3  /* write, creating the file when it does not exist */
};

/* Opens the index at path. model_id and dim (the model's projection_dim) must match what the index
 * holds: a model can neither write nor search an index made by another. When only reading they may
 * be NULL and 0 to accept any model. Refuses, naming the file and writing or deleting nothing: a
 * file that is not an align index, an index of another model, a truncated or corrupt file, and, for
 * writing, a read-only file or directory (a file or directory with no write bit counts as read-only
 * even for root). NULL on failure. */
align_index *align_index_open(const char *path, const char *model_id, int dim, int flags, align_error *err);
void align_index_close(align_index *index);
const char *align_index_model_id(const align_index *index);
int align_index_dim(const align_index *index);

typedef struct {
    const char *path;     /* as the caller gave it: the index compares bytes, not files */
    int64_t size;         /* the file's size and modification time when it was embedded, so that */
    int64_t mtime_ns;     /* an unchanged file need not be embedded again */
    const float *embedding; /* dim floats, L2-normalised */
} align_index_row;

/* Adds n rows, replacing rows of the same paths, in one transaction: after a crash or kill -9 the
 * index holds all of them or none. */
align_status align_index_add(align_index *index, const align_index_row *rows, int n, align_error *err);
/* Removes the rows of n paths (absent paths are ignored), in one transaction. */
align_status align_index_remove(align_index *index, const char *const *paths, int n, align_error *err);

/* Looks path up: *found is 1 and size, mtime_ns and embedding (dim floats) are filled when the
 * index holds it; each output may be NULL. */
align_status align_index_lookup(align_index *index, const char *path, int64_t *size, int64_t *mtime_ns,
                                float *embedding, int *found, align_error *err);
align_status align_index_count(align_index *index, int64_t *count, align_error *err);

/* Calls fn with the rows in path order, up to 4096 at a time, until it returns non-zero. The
 * embeddings of one call are contiguous, rows[0].embedding being an n x dim row-major matrix.
 * Everything given to fn is valid only during the call; fn must not change this index. */
typedef int (*align_index_scan_fn)(void *user, const align_index_row *rows, int n);
align_status align_index_scan(align_index *index, align_index_scan_fn fn, void *user, align_error *err);

/* Removes, in one transaction, the rows whose path keep() rejects (returns 0 for). keep == NULL
 * keeps the rows whose path is a regular file now. *removed (may be NULL) gets the count. */
typedef int (*align_index_keep_fn)(void *user, const char *path);
align_status align_index_prune(align_index *index, align_index_keep_fn keep, void *user, int64_t *removed,
                               align_error *err);

typedef struct {
    char *path;
    float score; /* cosine similarity to the query */
} align_index_hit;

/* Ranks every row by cosine similarity to query (dim floats, normalised here) and returns the best
 * k (k <= 0: all) whose similarity is above threshold (-INFINITY: no threshold), best first, equal
 * scores in path (byte) order. Rows are streamed: memory holds k hits, not the index. A row's score
 * depends on its embedding alone, so the same rows rank the same in any index. *hits is freed with
 * align_index_hits_free. */
align_status align_index_search(align_index *index, const float *query, int k, float threshold,
                                 align_index_hit **hits, int *n_hits, align_error *err);
void align_index_hits_free(align_index_hit *hits, int n);

/* SQLite's integrity check of the whole file, and every embedding's length: ALIGN_ERR_FORMAT with
 * the first problem. Reads every page: seconds for a million rows. */
align_status align_index_check(align_index *index, align_error *err);

/* Merges the rows of n shard indexes into out_path (created when missing). Every shard and an
 * existing out_path must hold the same model's embeddings; any mismatch is refused before anything
 * is written. Rows already identical are not rewritten, and each chunk of rows is a transaction,
 * so an interrupted merge can simply be run again. A path in several shards takes its row from the
 * last. */
align_status align_index_merge(const char *out_path, const char *const *shards, int n, align_error *err);
/* align_index_merge, asking stop(user) before each chunk's transaction (stop may be NULL): once it
 * answers non-zero the merge ends there with ALIGN_OK, the chunks merged before it committed and
 * the rest not, so that a caller told to stop (a signal's flag) can close the index at once. */
typedef int (*align_index_stop_fn)(void *user);
align_status align_index_merge_until(const char *out_path, const char *const *shards, int n, align_index_stop_fn stop,
                                     void *user, align_error *err);

/* A label cache: text embeddings kept across runs in dir/text-embeddings.db (dir is created when
 * missing), keyed by model identity and the exact text, stored bit for bit. Safe to share between
 * concurrent processes. A damaged entry reads as missing; a file that is not a label cache is
 * replaced. A read-only cache is read and not written. */
typedef struct align_label_cache align_label_cache;

align_label_cache *align_label_cache_open(const char *dir, const char *model_id, int dim, align_error *err);
void align_label_cache_close(align_label_cache *cache);

/* found[i] = 1 and embeds row i filled for each of the n texts the cache holds; *n_found (may be
 * NULL) counts them. */
align_status align_label_cache_get(align_label_cache *cache, const char *const *texts, int n, float *embeds,
                                   unsigned char *found, int *n_found, align_error *err);
/* Stores n embeddings (n x dim) in one transaction. */
align_status align_label_cache_put(align_label_cache *cache, const char *const *texts, int n,
                                   const float *embeds, align_error *err);

/* align_encode_text through the cache (which may be NULL): cached texts are read, the others
 * computed in one call and stored. A failing cache never fails the call: the texts are computed,
 * and align_label_cache_warning says what went wrong. *n_computed (may be NULL) counts the texts
 * that went through the text tower. */
align_status align_encode_text_cached(const align_model *model, align_label_cache *cache,
                                      const char *const *labels, int n, float *embeds, int *n_computed,
                                      align_error *err);
/* The last problem the cache met and shrugged off, or NULL. */
const char *align_label_cache_warning(const align_label_cache *cache);

/* ==== end of collections ==== */

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
/* The CPUs this process may use (at least 1): what a thread count of 0 means. The cores online,
 * fewer when its affinity mask (taskset, a cpuset) allows fewer, and at most its cgroup's CPU
 * quota (Docker's --cpus, a Kubernetes CPU limit), rounded up. */
int align_cpu_count(void);

#ifdef __cplusplus
}
#endif
#endif
