/* The image stream: each batch decoded on every thread at once, then through the vision tower.
 *
 * The batch is decoded first and encoded after, not one beside the other: a decoding thread beside
 * the tower took a core from one of the tower's threads, and each of the tower's jobs waited for
 * the slower one (2 cores, 3 interleaved rounds: 16 JPEGs of 12 megapixels 1.82-1.95 -> 1.67-1.73
 * s; 32 of 640 x 480 no slower, 2.40-2.47 -> 2.38-2.45 s). The next batch starts decoding as a
 * batch is handed out, and the first as the stream opens, so that classify's labels encode while
 * it decodes. */
#include "stream.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inputs.h"
#include "progress.h"
#include "report.h"

/* An image decoded: its pixels, or why not (error: malloc'ed, naming the file; NULL when there
 * was no memory for it). row: its row in the batch's embeddings. */
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

    /* Decoding: image i goes to ring[i % batch]. The caller of next() and the workers take
     * images in order up to limit, the end of the batch to decode; the workers wait between
     * batches, so only one batch's pixels are held. */
    decoded *ring;      /* [batch] */
    pthread_t *workers; /* [n_workers]: threads - 1 of them */
    int n_workers;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    size_t limit;    /* images below it may be decoded (under lock) */
    size_t claimed;  /* images [0, claimed) were taken by a decoder (under lock) */
    size_t finished; /* how many of them are decoded (under lock) */
    size_t done;     /* images [0, done) are handed out and their pixels freed */
    int stop;        /* close asks the workers to end (under lock) */

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
    return &s->ring[i % (size_t)s->batch];
}

/* Whether message starts with path and a colon, as the library writes a path into a message: a
 * line break as a space. */
static int starts_with_path(const char *message, const char *path)
{
    size_t i = 0;
    for (; path[i]; i++)
        if (message[i] != (path[i] == '\n' || path[i] == '\r' ? ' ' : path[i])) return 0;
    return message[i] == ':';
}

/* "path: reason": the decoder's messages start with the path already, the encoder's do not. The
 * path as it is (a JSON record escapes it; stderr shows a line break as a space). */
static char *naming(const char *path, const char *message)
{
    size_t n = strlen(path);
    const char *reason = starts_with_path(message, path) ? message + n + 2 : message;
    size_t len = n + strlen(reason) + 3;
    char *s = malloc(len);
    if (s) snprintf(s, len, "%s: %s", path, reason);
    return s;
}

/* Decodes an operand, a file or for "-" the bytes on stdin, to the image as the model resizes it
 * rather than at its full size: a batch of 12-megapixel photos would be 300 MB (and a JPEG is
 * resized as its rows are decoded, never held whole). */
align_status image_operand_load(const align_model *model, const char *path, const align_decode_options *opts,
                                align_image *img, align_error *err)
{
    if (strcmp(path, "-") != 0) return align_image_load_fitted(model, path, opts, img, err);
    char *data;
    size_t len;
    if (isatty(STDIN_FILENO)) { /* else the run would wait for an image typed in */
        snprintf(err->message, sizeof err->message, "-: stdin is a terminal, not an image: pipe one in "
                                                    "(cat photo.jpg | align ...)");
        return err->code = ALIGN_ERR_IO;
    }
    if (read_stream(stdin, "stdin", MAX_STREAM, &data, &len)) {
        snprintf(err->message, sizeof err->message, "-: cannot read the image from stdin");
        return err->code = ALIGN_ERR_IO;
    }
    align_status s = align_image_load_memory_fitted(model, data, len, "-", opts, img, err);
    free(data);
    return s;
}

static void decode_one(image_stream *s, size_t i)
{
    decoded *d = slot(s, i);
    align_error err = {0};
    *d = (decoded){{0}, 0, 0, NULL};
    align_status st = image_operand_load(s->model, s->paths[i], &s->opts.decode, &d->image, &err);
    if ((d->failed = st != ALIGN_OK)) d->error = naming(s->paths[i], err.message[0] ? err.message : "cannot decode");
}

/* Under the lock: takes the next image, decodes it without the lock, and counts it done. */
static void decode_next(image_stream *s)
{
    size_t i = s->claimed++;
    pthread_mutex_unlock(&s->lock);
    decode_one(s, i);
    pthread_mutex_lock(&s->lock);
    if (++s->finished == s->limit) pthread_cond_broadcast(&s->changed);
}

static void *worker(void *arg)
{
    image_stream *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->stop && s->claimed >= s->limit) pthread_cond_wait(&s->changed, &s->lock);
        if (s->stop) break;
        decode_next(s);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Lets the workers decode up to the batch that starts at `at`. */
static void start_batch(image_stream *s, size_t at)
{
    size_t left = s->count - at;
    pthread_mutex_lock(&s->lock);
    s->limit = at + (left < (size_t)s->batch ? left : (size_t)s->batch);
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

/* Decodes the images of the batch the workers have not taken, and waits for theirs. */
static void finish_batch(image_stream *s)
{
    pthread_mutex_lock(&s->lock);
    while (s->claimed < s->limit) decode_next(s);
    while (s->finished < s->limit) pthread_cond_wait(&s->changed, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

/* threads - 1 workers, no more than would find an image of the batch to decode */
static int worker_count(const image_stream *s)
{
    size_t n = (size_t)(s->opts.threads > 0 ? s->opts.threads : align_cpu_count()) - 1;
    if (n > (size_t)s->batch - 1) n = (size_t)s->batch - 1;
    return (int)(n < s->count ? n : s->count);
}

image_stream *image_stream_open(const align_model *model, char *const *paths, size_t n, const stream_options *opts)
{
    align_model_info info;
    align_model_get_info(model, &info);
    image_stream *s = calloc(1, sizeof *s);
    size_t b = (size_t)info.batch_size, dim = (size_t)info.projection_dim;
    if (s) {
        *s = (image_stream){.model = model, .paths = paths, .count = n, .opts = *opts, .batch = info.batch_size,
                            .dim = info.projection_dim};
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->changed, NULL);
        s->ring = calloc(b, sizeof *s->ring);
        s->workers = calloc(b, sizeof *s->workers);
        s->pixels = calloc(b, sizeof *s->pixels);
        s->embeds = malloc(sizeof(float) * b * dim);
        s->unnormalized = opts->unnormalized ? malloc(sizeof(float) * b * dim) : NULL;
        s->out = calloc(b, sizeof *s->out);
        s->messages = calloc(b, sizeof *s->messages);
    }
    if (!s || !s->ring || !s->workers || !s->pixels || !s->embeds || (opts->unnormalized && !s->unnormalized) ||
        !s->out || !s->messages) {
        error_msg("out of memory");
        image_stream_close(s);
        return NULL;
    }
    /* a worker that cannot start leaves its share to the others and the caller */
    for (int want = worker_count(s); s->n_workers < want; s->n_workers++)
        if (pthread_create(&s->workers[s->n_workers], NULL, worker, s) != 0) break;
    start_batch(s, 0);
    return s;
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
    s->done = at + (size_t)k;
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
    progress_show(&s->prog); /* up while the batch is computed */
    finish_batch(s);
    encode(s, at, k);
    hand_out(s, at, k);
    start_batch(s, s->done);
    report(s, k);
    if (s->prog.shares_screen) progress_end(&s->prog); /* the caller's results go to the same terminal */
    *batch = s->out;
    return (size_t)k;
}

size_t image_stream_failures(const image_stream *s)
{
    return s->failures;
}

int image_stream_has_more(const image_stream *s)
{
    return s->done < s->count;
}

void image_stream_close(image_stream *s)
{
    if (!s) return;
    if (s->done < s->count) progress_end(&s->prog); /* stopped early: its line is still up */
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->n_workers; i++) pthread_join(s->workers[i], NULL);
    if (s->ring) /* decoded and never handed out */
        for (size_t i = s->done; i < s->claimed; i++) {
            decoded *d = slot(s, i);
            if (d->image.rgb) align_image_free(&d->image);
            free(d->error);
        }
    for (int i = 0; s->messages && i < s->batch; i++) free(s->messages[i]);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->changed);
    free(s->ring);
    free(s->workers);
    free(s->pixels);
    free(s->embeds);
    free(s->unnormalized);
    free(s->out);
    free(s->messages);
    free(s);
}
