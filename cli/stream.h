/* stream.h: the one path images take through the align command. The paths are decoded a batch
 * (the library's batch size) at a time on every thread, each batch then encoded as one and
 * handed out in input order, each image with its embedding or the reason it failed. A failure is
 * reported on stderr as its batch is handed out, and the rest go on.
 *
 *     image_stream *s = image_stream_open(model, paths, n, &(stream_options){0});
 *     const stream_image *batch;
 *     for (size_t k; (k = image_stream_next(s, &batch));)
 *         for (size_t i = 0; i < k; i++) use(batch[i].path, batch[i].embedding or batch[i].error);
 *     image_stream_close(s);
 */
#ifndef ALIGN_CLI_STREAM_H
#define ALIGN_CLI_STREAM_H

#include <stddef.h>

#include "align.h"

typedef struct {
    const char *path;          /* as given; "-" is the image on stdin */
    const float *embedding;    /* projection_dim floats, L2-normalised; NULL when it failed */
    const float *unnormalized; /* the same before normalisation, when asked for; else NULL */
    const char *error;         /* why it failed, one line naming the file; NULL when it did not */
} stream_image;

typedef struct {
    align_decode_options decode;
    int unnormalized; /* hand out the vectors before normalisation too */
    int quiet;        /* no progress line */
    int threads;      /* decoding threads, the caller's among them (--threads); 0 = every core */
} stream_options;

typedef struct image_stream image_stream;

/* Starts decoding paths[0..n), which must outlive the stream; the model must too. NULL after
 * reporting when out of memory. */
image_stream *image_stream_open(const align_model *model, char *const *paths, size_t n,
                                const stream_options *opts);
/* The next batch, in input order: *batch gets the returned number of images (at most the
 * model's batch_size), valid until the next call. 0 at the end. */
size_t image_stream_next(image_stream *s, const stream_image **batch);
/* How many images failed so far. */
size_t image_stream_failures(const image_stream *s);
/* Whether images are left to hand out: a run told to stop between batches need not after the last. */
int image_stream_has_more(const image_stream *s);
/* Stops decoding, whether or not every batch was taken, and frees everything. */
void image_stream_close(image_stream *s);

/* One operand decoded as the stream decodes it, straight to the model's size: a path, or "-" for
 * the image on stdin (search's image:-). */
align_status image_operand_load(const align_model *model, const char *path, const align_decode_options *opts,
                                align_image *img, align_error *err);

#endif
