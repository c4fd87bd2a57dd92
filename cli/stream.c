/* The image stream: a decoding thread ahead of the batches, and the batches through the vision
 * tower. */
#include "stream.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "inputs.h"
#include "progress.h"
#include "report.h"

/* An image decoded ahead: its pixels, or why not (error: malloc'ed, naming the file; NULL when
 * there was no memory for it). row: its row in the batch's embeddings. */
typedef struct {
    align_image image;
    int failed, row;
    char *error;
} decoded;

struct image_stream {
    const align_model *model;
    char *const *paths;
    size_t count;
    stream_options opts;
    int batch, dim;

    /* Decoding ahead: image i goes to ring[i % cap] once it is fewer than cap images past the
     * first not handed out, so at most cap = two batches of pixels are held at once. */
    decoded *ring;
    size_t cap;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    size_t decoded; /* images [0, decoded) are decoded (under lock) */
    size_t done;    /* images [0, done) are handed out and their pixels freed (under lock) */
    int stop;       /* close asks the thread to end (under lock) */
    pthread_t thread;
    int threaded; /* else next() decodes on the caller's thread */

    /* the batch handed out */
    align_image *pixels;         /* [batch] the decoded ones, in order */
    float *embeds, *unnormalized; /* [batch][dim] a row per decoded image */
    stream_image *out;           /* [batch] */
    char **messages;             /* [batch] the errors out points to, owned */
    progress prog;
    size_t failures;
};

static decoded *slot(image_stream *s, size_t i)
{
    return &s->ring[i % s->cap];
}

/* message as one line naming the file: the decoder's messages start with the path already, the
 * encoder's do not. */
static char *naming(const char *path, const char *message)
{
    size_t n = strlen(path), len = n + strlen(message) + 3;
    char *s = malloc(len);
    if (!s) return NULL;
    if (strncmp(message, path, n) == 0 && message[n] == ':')
        snprintf(s, len, "%s", message);
    else
        snprintf(s, len, "%s: %s", path, message);
    return s;
}

/* Decodes an operand: a file, or for "-" the bytes on stdin. */
static align_status load_operand(const char *path, const align_decode_options *opts, align_image *img,
                                 align_error *err)
{
    if (strcmp(path, "-") != 0) return align_image_load(path, opts, img, err);
    char *data;
    size_t len;
    if (read_stream(stdin, "stdin", MAX_STREAM, &data, &len)) {
        snprintf(err->message, sizeof err->message, "-: cannot read the image from stdin");
        return err->code = ALIGN_ERR_IO;
    }
    align_status s = align_image_load_memory(data, len, "-", opts, img, err);
    free(data);
    return s;
}

/* Holds the image as the model resizes it rather than at its full size: two batches of 12-megapixel
 * photos would be 600 MB, and the resize runs here, beside the vision tower, not before it. */
static void decode_one(image_stream *s, size_t i)
{
    decoded *d = slot(s, i);
    align_error err = {0};
    align_image full;
    *d = (decoded){{0}, 0, 0, NULL};
    align_status st = load_operand(s->paths[i], &s->opts.decode, &full, &err);
    if (!st) {
        st = align_image_fit(s->model, &full, &d->image, &err);
        align_image_free(&full);
    }
    if ((d->failed = st != ALIGN_OK)) d->error = naming(s->paths[i], err.message[0] ? err.message : "cannot decode");
}

static void *decode_ahead(void *arg)
{
    image_stream *s = arg;
    for (size_t i = 0; i < s->count; i++) {
        pthread_mutex_lock(&s->lock);
        while (!s->stop && i - s->done >= s->cap) pthread_cond_wait(&s->changed, &s->lock);
        int stop = s->stop;
        pthread_mutex_unlock(&s->lock);
        if (stop) break;
        decode_one(s, i);
        pthread_mutex_lock(&s->lock);
        s->decoded = i + 1;
        pthread_cond_broadcast(&s->changed);
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

image_stream *image_stream_open(const align_model *model, char *const *paths, size_t n, const stream_options *opts)
{
    align_model_info info;
    align_model_get_info(model, &info);
    image_stream *s = calloc(1, sizeof *s);
    size_t b = (size_t)info.batch_size, dim = (size_t)info.projection_dim;
    if (s) {
        *s = (image_stream){.model = model, .paths = paths, .count = n, .opts = *opts, .batch = info.batch_size,
                            .dim = info.projection_dim, .cap = 2 * b};
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->changed, NULL);
        s->ring = calloc(s->cap, sizeof *s->ring);
        s->pixels = calloc(b, sizeof *s->pixels);
        s->embeds = malloc(sizeof(float) * b * dim);
        s->unnormalized = opts->unnormalized ? malloc(sizeof(float) * b * dim) : NULL;
        s->out = calloc(b, sizeof *s->out);
        s->messages = calloc(b, sizeof *s->messages);
    }
    if (!s || !s->ring || !s->pixels || !s->embeds || (opts->unnormalized && !s->unnormalized) || !s->out ||
        !s->messages) {
        error_msg("out of memory");
        image_stream_close(s);
        return NULL;
    }
    s->threaded = pthread_create(&s->thread, NULL, decode_ahead, s) == 0;
    return s;
}

/* Waits until images [0, end) are decoded (or decodes them, without a thread). */
static void wait_decoded(image_stream *s, size_t end)
{
    if (!s->threaded) {
        for (; s->decoded < end; s->decoded++) decode_one(s, s->decoded);
        return;
    }
    pthread_mutex_lock(&s->lock);
    while (s->decoded < end) pthread_cond_wait(&s->changed, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

static float *row(float *m, int dim, int i)
{
    return m ? m + (size_t)i * dim : NULL;
}

/* Encodes images [at, at + n), which all decoded, into rows [first, first + n). When they fail
 * as a batch, each alone, so that one bad image cannot take its neighbours down. */
static void encode_run(image_stream *s, size_t at, int n, int first)
{
    align_error err;
    if (align_encode_images(s->model, s->pixels + first, n, row(s->embeds, s->dim, first),
                            row(s->unnormalized, s->dim, first), &err) == ALIGN_OK)
        return;
    for (int i = 0; i < n; i++) {
        decoded *d = slot(s, at + (size_t)i);
        if (n == 1 || align_encode_images(s->model, s->pixels + first + i, 1, row(s->embeds, s->dim, first + i),
                                          row(s->unnormalized, s->dim, first + i), &err) != ALIGN_OK)
            d->failed = 1, d->error = naming(s->paths[at + (size_t)i], err.message);
    }
}

/* Encodes the decoded images of [at, at + k), each run between failed ones as one batch: the
 * last bits of an embedding depend on what shares its batch, and these are the batches align
 * has always made. */
static void encode(image_stream *s, size_t at, int k)
{
    int n = 0;
    for (int i = 0; i < k; i++) {
        decoded *d = slot(s, at + (size_t)i);
        if (!d->failed) s->pixels[d->row = n++] = d->image;
    }
    for (int i = 0, j; i < k; i = j + 1) {
        for (j = i; j < k && !slot(s, at + (size_t)j)->failed;) j++;
        if (j > i) encode_run(s, at + (size_t)i, j - i, slot(s, at + (size_t)i)->row);
    }
}

/* Fills the batch handed out from the slots, frees their pixels and lets the decoder reuse them. */
static void hand_out(image_stream *s, size_t at, int k)
{
    for (int i = 0; i < k; i++) {
        decoded *d = slot(s, at + i);
        s->messages[i] = d->error;
        if (d->failed)
            s->out[i] = (stream_image){s->paths[at + i], NULL, NULL, d->error ? d->error : "out of memory"};
        else
            s->out[i] = (stream_image){s->paths[at + i], row(s->embeds, s->dim, d->row),
                                       row(s->unnormalized, s->dim, d->row), NULL};
        if (d->image.rgb) align_image_free(&d->image);
        *d = (decoded){{0}, 0, 0, NULL};
    }
    pthread_mutex_lock(&s->lock);
    s->done = at + (size_t)k;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

static void report(image_stream *s, int k)
{
    for (int i = 0; i < k; i++) {
        if (s->out[i].error) {
            progress_end(&s->prog);
            error_msg("%s", s->out[i].error);
            s->failures++;
        }
    }
    for (int i = 0; i < k; i++) progress_step(&s->prog);
}

size_t image_stream_next(image_stream *s, const stream_image **batch)
{
    for (int i = 0; i < s->batch; i++) free(s->messages[i]), s->messages[i] = NULL;
    size_t at = s->done, left = s->count - at;
    int k = left < (size_t)s->batch ? (int)left : s->batch;
    if (at == 0) progress_init(&s->prog, s->count, s->opts.quiet);
    if (!k) {
        progress_end(&s->prog);
        return 0;
    }
    wait_decoded(s, at + (size_t)k);
    encode(s, at, k);
    hand_out(s, at, k);
    report(s, k);
    *batch = s->out;
    return (size_t)k;
}

size_t image_stream_failures(const image_stream *s)
{
    return s->failures;
}

void image_stream_close(image_stream *s)
{
    if (!s) return;
    if (s->threaded) {
        pthread_mutex_lock(&s->lock);
        s->stop = 1;
        pthread_cond_broadcast(&s->changed);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    if (s->ring) /* decoded and never handed out */
        for (size_t i = s->done; i < s->decoded; i++) {
            decoded *d = slot(s, i);
            if (d->image.rgb) align_image_free(&d->image);
            free(d->error);
        }
    for (int i = 0; s->messages && i < s->batch; i++) free(s->messages[i]);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->changed);
    free(s->ring);
    free(s->pixels);
    free(s->embeds);
    free(s->unnormalized);
    free(s->out);
    free(s->messages);
    free(s);
}
