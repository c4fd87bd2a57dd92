/* align embed: the embeddings of images (through the image stream) or of texts (one call for all),
 * as JSON Lines, JSON or one .npy matrix. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blank.h"
#include "commands.h"
#include "options.h"
#include "outfile.h"
#include "records.h"
#include "report.h"
#include "resume.h"
#include "signals.h"
#include "stream.h"

static const char *const help =
    "usage: align embed [OPTIONS] [IMAGE | DIR]...\n"
    "       align embed [OPTIONS] --text TEXT...\n"
    "\n"
    "Prints the L2-normalised embedding of each image (or, with --text, of each text), the\n"
    "vectors whose dot products, divided by the model's temperature, are classify's logits.\n"
    "IMAGE '-' reads the image from stdin; a directory means the images in it, in sorted order.\n"
    "\n"
    "      --text              the operands are texts, not images\n"
    "      --unnormalized      the vectors before L2 normalisation (Hugging Face's\n"
    "                          get_image_features / get_text_features)\n"
    "  -r, --recursive         descend into subdirectories of DIR operands\n"
    "      --files-from FILE   image paths one per line ('-' = stdin)\n"
    "  -0, --null              --files-from paths are NUL-separated (find -print0)\n"
    "      --shard K/N         only this worker's share of the images: shard K (0 to N-1) of N,\n"
    "                          by a hash of each path; the N shards cover every image once\n"
    "  -f, --format F          jsonl (default), json or npy (one float32 matrix, rows in input order);\n"
    "                          --json and --jsonl for short\n"
    "  -o, --output FILE       write to FILE instead of stdout (to a temporary name, renamed at the end)\n"
    "      --resume            with -o FILE and jsonl: carry on what a killed run left in\n"
    "                          FILE.partial (else FILE), skipping the images it has (see README)\n"
    "  -m, --model DIR         model directory (default $ALIGN_MODEL, then ./weights/align-base,\n"
    "                          then " ALIGN_SHARE_DIR "/align-base)\n"
    "      --threads N         threads to use (default: every CPU align may use)\n"
    "      --max-pixels N      refuse larger images (default 178956970, where PIL does)\n"
    "  -q, --quiet             no progress line\n"
    "  -h, --help              this help\n"
    "\n"
    "example: align embed --format npy -o photos.npy photos/\n"
    "         align embed --text 'a photo of a cat'\n";

enum { OPT_TEXT = OPT_FIRST_OWN, OPT_UNNORMALIZED, OPT_RESUME };

typedef struct {
    common_opts o;
    int text, unnormalized, resume;
    const char *output;
    strlist inputs;
} embed_opts;

/* 0 to go on, 1 when --help was shown, -1 on a usage error (reported). */
static int parse_args(int argc, char **argv, embed_opts *e)
{
    static const struct option longopts[] = {{"text", no_argument, 0, OPT_TEXT},
                                             {"unnormalized", no_argument, 0, OPT_UNNORMALIZED},
                                             {"output", required_argument, 0, 'o'},
                                             {"resume", no_argument, 0, OPT_RESUME},
                                             OPTS_IMAGES,
                                             OPTS_FORMAT,
                                             OPTS_RUN,
                                             OPTS_MODEL,
                                             {0, 0, 0, 0}};
    int opt;
    e->o.format = FMT_JSONL;
    opterr = 0;
    const char *shorts = ":o:" SHORT_FORMAT SHORT_IMAGES SHORT_RUN SHORT_MODEL;
    while ((opt = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
        int common = common_option(opt, optarg, argv, &e->o, "embed", help);
        if (common < 0) return -1;
        if (common == 2) return 1;
        if (common) continue;
        if (opt == OPT_TEXT) e->text = 1;
        if (opt == OPT_UNNORMALIZED) e->unnormalized = 1;
        if (opt == 'o') e->output = optarg;
        if (opt == OPT_RESUME) e->resume = 1;
    }
    if (e->o.format != FMT_JSONL && e->o.format != FMT_JSON && e->o.format != FMT_NPY)
        return usage_error("embed", "embed writes jsonl, json or npy"), -1;
    if (e->text && e->o.images.files_from) return usage_error("embed", "--files-from names images, not texts"), -1;
    if (e->resume && (e->text || !e->output || strcmp(e->output, "-") == 0 || e->o.format != FMT_JSONL))
        return usage_error("embed", "--resume carries on a file of image records: it needs -o FILE and jsonl"), -1;
    /* texts are one call, never a worker's load */
    if (e->text && e->o.images.share.n) return usage_error("embed", "--shard shares out images, not texts"), -1;
    if (optind >= argc && !e->o.images.files_from) return usage_error("embed", e->text ? "no texts" : "no images"), -1;
    for (int i = optind; i < argc && e->text; i++)
        if (strlist_add(&e->inputs, argv[i], strlen(argv[i]))) return -1;
    /* as a blank label is: most likely an unset shell variable (white space here; run asks the tokenizer) */
    if (e->text && refuse_blank(NULL, e->inputs.items, e->inputs.count, "embed", "text")) return -1;
    if (!e->text && gather_images(argv + optind, argc - optind, &e->o.images, &e->inputs)) return -1;
    if (!e->inputs.count && !e->o.images.share.n) return report_no_images("embed", argv + optind, argc - optind);
    return 0;
}

/* ---- output: records as they come, or one matrix at the end ----------------------------------- */

typedef struct {
    record_writer w;
    resume *resume;  /* --resume: each batch's records go through it */
    const char *key; /* "image" or "text" */
    int dim;
    float *matrix; /* npy: the rows that succeeded, in input order */
    size_t rows, cap;
} embed_sink;

/* One input's vector, or its error. -1 when out of memory. */
static int put_row(embed_sink *s, const char *input, const float *v, const char *error)
{
    if (s->w.format != FMT_NPY) {
        record_begin(&s->w);
        record_string(&s->w, s->key, input);
        if (error)
            record_string(&s->w, "error", error);
        else
            record_floats(&s->w, "embedding", v, (size_t)s->dim);
        record_end(&s->w);
        return 0;
    }
    if (error) return 0;
    if (s->rows == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        float *m = realloc(s->matrix, sizeof(float) * cap * (size_t)s->dim);
        if (!m) return -1;
        s->matrix = m;
        s->cap = cap;
    }
    memcpy(s->matrix + s->rows++ * (size_t)s->dim, v, sizeof(float) * (size_t)s->dim);
    return 0;
}

/* NumPy's .npy v1.0: magic, header length, a Python dict literal padded so the data starts on a
 * 64-byte boundary, then the little-endian float32 rows. */
static void write_npy(FILE *out, const float *rows, size_t n, int dim)
{
    char header[128];
    int len = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %d), }", n, dim);
    int total = 10 + len + 1, pad = (64 - total % 64) % 64;
    fwrite("\x93NUMPY\x01\x00", 1, 8, out);
    unsigned hl = (unsigned)(len + pad + 1);
    fputc((int)(hl & 0xff), out);
    fputc((int)(hl >> 8), out);
    fwrite(header, 1, (size_t)len, out);
    for (int i = 0; i < pad; i++) fputc(' ', out);
    fputc('\n', out);
    fwrite(rows, sizeof(float), n * (size_t)dim, out);
}

static void finish_sink(embed_sink *s)
{
    if (s->w.format == FMT_NPY)
        write_npy(s->w.f, s->matrix, s->rows, s->dim);
    else
        records_finish(&s->w);
}

/* ---- the run ---------------------------------------------------------------------------------- */

/* Every image through the stream. Returns how many failed, or -1 on a write error or out of
 * memory (reported). */
static long embed_images(align_model *m, const embed_opts *e, embed_sink *out)
{
    stream_options so = {.decode = {e->o.max_pixels}, .unnormalized = e->unnormalized,
                         .quiet = e->o.quiet || records_leave_line_open(out->w.f, out->w.format),
                         .threads = e->o.threads};
    image_stream *s = image_stream_open(m, e->inputs.items, e->inputs.count, &so);
    if (!s) return -1;
    const stream_image *batch;
    int bad = 0;
    for (size_t k; !bad && (k = image_stream_next(s, &batch));) {
        if (out->resume && !(out->w.f = resume_batch(out->resume))) {
            bad = 1;
            break;
        }
        for (size_t i = 0; i < k && !bad; i++)
            bad = put_row(out, batch[i].path, e->unnormalized ? batch[i].unnormalized : batch[i].embedding,
                          batch[i].error);
        if (bad) error_msg("out of memory");
        bad = bad || (out->resume ? resume_flush(out->resume) != 0 : ferror(out->w.f));
        /* signals.h: after the batch's records are kept, unless it was the last */
        bad = bad || (out->resume && signals_caught() && image_stream_has_more(s));
    }
    long failed = bad ? -1 : (long)image_stream_failures(s);
    image_stream_close(s);
    return failed;
}

/* Every text in one call; when that fails, each text alone, so that one bad text cannot take the
 * others down. Returns how many failed, or -1 when out of memory (reported). */
static long embed_texts(align_model *m, const embed_opts *e, embed_sink *out)
{
    size_t n = e->inputs.count, dim = (size_t)out->dim;
    const char *const *texts = (const char *const *)e->inputs.items;
    float *rows = malloc(sizeof(float) * n * dim), *unnorm = e->unnormalized ? malloc(sizeof(float) * n * dim) : NULL;
    char **errors = calloc(n, sizeof *errors);
    long failed = 0;
    align_error err;
    if (!rows || !errors || (e->unnormalized && !unnorm)) {
        error_msg("out of memory");
        failed = -1;
    } else if (align_encode_text(m, texts, (int)n, rows, unnorm, &err) != ALIGN_OK) {
        for (size_t i = 0; i < n; i++)
            if (n == 1 || align_encode_text(m, texts + i, 1, rows + i * dim, unnorm ? unnorm + i * dim : NULL, &err)) {
                error_msg("%s", err.message);
                failed = (errors[i] = strdup(err.message)) && failed >= 0 ? failed + 1 : -1;
            }
    }
    const float *vectors = e->unnormalized ? unnorm : rows;
    for (size_t i = 0; failed >= 0 && i < n; i++)
        if (put_row(out, texts[i], vectors + i * dim, errors[i]) != 0) failed = -1;
    if (failed < 0 && rows && errors) error_msg("out of memory");
    for (size_t i = 0; errors && i < n; i++) free(errors[i]);
    free(errors);
    free(unnorm);
    free(rows);
    return failed;
}

/* Embeds into FILE.partial, carrying on (--resume); the exit status. */
static int run_resumed(align_model *m, embed_opts *e, int dim)
{
    resume res;
    record_shape shape = {"embedding", (size_t)dim, NULL};
    signals_defer(); /* a signal ends the run between batches, the records so far kept */
    if (resume_open(&res, e->output, FMT_JSONL, NULL, &shape)) return EXIT_FAILURE;
    embed_sink sink = {.resume = &res, .key = "image", .dim = dim};
    records_start(&sink.w, NULL, FMT_JSONL, NULL);
    long failed = resume_skip_done(&res, &e->inputs) ? -1 : embed_images(m, e, &sink);
    int status = failed < 0 ? EXIT_FAILURE : resume_status(&res, (size_t)failed, e->inputs.count);
    return resume_close(&res, status != EXIT_FAILURE) ? EXIT_FAILURE : status;
}

static int run(embed_opts *e)
{
    /* -o must not name a file the run reads (texts are no files) */
    if (!e->text && (output_spares_inputs(e->output, &e->o.images.files_from, 1) ||
                     output_spares_inputs(e->output, (const char *const *)e->inputs.items, e->inputs.count)))
        return EXIT_FAILURE;
    align_model *m = load_model(&e->o);
    if (!m) return EXIT_FAILURE;
    if (e->text && refuse_blank(m, e->inputs.items, e->inputs.count, "embed", "text"))
        return align_model_free(m), EXIT_FAILURE;
    if (e->o.format == FMT_NPY && !e->output && isatty(STDOUT_FILENO)) {
        error_msg("npy is binary: redirect stdout or use -o FILE");
        align_model_free(m);
        return EXIT_FAILURE;
    }
    align_model_info info;
    align_model_get_info(m, &info);
    outfile out;
    int rc = EXIT_FAILURE;
    if (e->resume) {
        rc = run_resumed(m, e, info.projection_dim);
    } else if (outfile_open(&out, e->output) == 0) {
        embed_sink sink = {.key = e->text ? "text" : "image", .dim = info.projection_dim};
        records_start(&sink.w, out.f, e->o.format, NULL);
        long failed = e->text ? embed_texts(m, e, &sink) : embed_images(m, e, &sink);
        if (failed >= 0) finish_sink(&sink);
        /* a file is not replaced by a run that did nothing */
        int status = failed < 0 ? EXIT_FAILURE : exit_status((size_t)failed, e->inputs.count);
        if (outfile_close(&out, status != EXIT_FAILURE) == 0) rc = status;
        free(sink.matrix);
    }
    align_model_free(m);
    return rc;
}

int cmd_embed(int argc, char **argv)
{
    embed_opts e = {0};
    int rc = parse_args(argc, argv, &e);
    rc = rc == 0 ? run(&e) : rc > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    strlist_free(&e.inputs);
    return rc;
}
