/* align classify: label probabilities for images. Labels are encoded once per run; images go
 * through the vision tower in batches, and results come out in input order. */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define BATCH 8

static const char *const help =
    "usage: align classify [OPTIONS] IMAGE LABEL [LABEL...]\n"
    "       align classify [OPTIONS] (-l LABEL)... | --labels FILE  [IMAGE | DIR]...\n"
    "\n"
    "Scores each image against the labels: softmax probabilities, highest first.\n"
    "Without -l/--labels the first operand is the image and the rest are labels. IMAGE '-' reads\n"
    "the image from stdin; a directory means the images in it, in sorted order.\n"
    "\n"
    "  -l, --label LABEL       a label (repeatable)\n"
    "      --labels FILE       labels one per line ('-' = stdin); blank and # lines skipped\n"
    "  -t, --template T        prompt template with {} for the label, e.g. 'a photo of a {}.';\n"
    "                          repeat for an ensemble (mean of the normalised embeddings)\n"
    "  -k, --top N             keep the N best labels per image\n"
    "  -r, --recursive         descend into subdirectories of DIR operands\n"
    "      --files-from FILE   image paths one per line ('-' = stdin)\n"
    "  -0, --null              --files-from paths are NUL-separated (find -print0)\n"
    "      --format F          text (default), json, jsonl or tsv; --json and --jsonl for short\n"
    "  -m, --model DIR         model directory (default $ALIGN_MODEL, then ./weights/align-base)\n"
    "      --threads N         threads to use (default: every core)\n"
    "      --max-pixels N      refuse larger images (default 89478485, PIL's limit)\n"
    "  -q, --quiet             no progress line\n"
    "  -h, --help              this help\n"
    "\n"
    "example: align classify cat.jpg 'a photo of a cat' 'a photo of a dog'\n"
    "         find photos -name '*.jpg' -print0 | align classify -0 --files-from - --labels labels.txt --jsonl\n";

typedef struct {
    common_opts o;
    strlist labels, templates, images;
    const char *labels_file, *files_from;
    long top;
    int recursive, nul;
} classify_opts;

enum { OPT_LABELS = OPT_FIRST_OWN, OPT_FILES_FROM };

/* 0 to go on, 1 when --help was shown, -1 on a usage error (reported). */
static int parse_args(int argc, char **argv, classify_opts *c)
{
    static const struct option longopts[] = {
        {"label", required_argument, 0, 'l'},    {"labels", required_argument, 0, OPT_LABELS},
        {"template", required_argument, 0, 't'}, {"top", required_argument, 0, 'k'},
        {"recursive", no_argument, 0, 'r'},      {"files-from", required_argument, 0, OPT_FILES_FROM},
        {"null", no_argument, 0, '0'},           COMMON_LONGOPTS,
        {0, 0, 0, 0}};
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":l:t:k:r0" COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        int common = common_option(opt, optarg, argv, &c->o, "classify", help);
        if (common < 0) return -1;
        if (common == 2) return 1;
        if (common) continue;
        switch (opt) {
        case 'l':
            if (strlist_add(&c->labels, optarg, strlen(optarg))) return -1;
            break;
        case OPT_LABELS: c->labels_file = optarg; break;
        case 't':
            if (!strstr(optarg, "{}")) return usage_error("classify", "template '%s' has no {} for the label", optarg), -1;
            if (strlist_add(&c->templates, optarg, strlen(optarg))) return -1;
            break;
        case 'k':
            if (parse_count(optarg, "--top", "classify", 1, 1L << 30, &c->top)) return -1;
            break;
        case 'r': c->recursive = 1; break;
        case OPT_FILES_FROM: c->files_from = optarg; break;
        case '0': c->nul = 1; break;
        }
    }
    if (c->o.format == FMT_NPY) return usage_error("classify", "npy is a format of 'align embed'"), -1;
    return 0;
}

/* Fills c->labels and c->images from the options and operands. */
static int gather_inputs(int argc, char **argv, classify_opts *c)
{
    char **ops = argv + optind;
    int n_ops = argc - optind;
    if (c->labels_file && read_labels_file(c->labels_file, &c->labels)) return -1;
    if (!c->labels_file && c->labels.count == 0) {
        /* the short form: IMAGE LABEL [LABEL...] */
        if (n_ops < 1) return usage_error("classify", "no image and no labels"), -1;
        if (expand_images(ops, 1, c->recursive, &c->images)) return -1;
        for (int i = 1; i < n_ops; i++)
            if (strlist_add(&c->labels, ops[i], strlen(ops[i]))) return -1;
    } else if (expand_images(ops, n_ops, c->recursive, &c->images)) {
        return -1;
    }
    if (c->files_from && read_files_from(c->files_from, c->nul, &c->images)) return -1;
    if (c->labels.count == 0) return usage_error("classify", "no labels to score"), -1;
    if (c->images.count == 0) return usage_error("classify", "no images"), -1;
    if (c->labels.count > (1u << 24)) return usage_error("classify", "too many labels (%zu)", c->labels.count), -1;
    return 0;
}

/* The texts to encode: each label, or each label in each template (label-major). */
static char **label_texts(const classify_opts *c, size_t *count)
{
    size_t n = c->labels.count, t = c->templates.count ? c->templates.count : 1;
    char **texts = calloc(n * t, sizeof *texts);
    for (size_t i = 0; texts && i < n; i++)
        for (size_t k = 0; k < t; k++) {
            if (!c->templates.count) {
                texts[i] = strdup(c->labels.items[i]);
            } else {
                const char *tpl = c->templates.items[k], *hole = strstr(tpl, "{}");
                size_t len = strlen(tpl) - 2 + strlen(c->labels.items[i]) + 1;
                if ((texts[i * t + k] = malloc(len)))
                    snprintf(texts[i * t + k], len, "%.*s%s%s", (int)(hole - tpl), tpl, c->labels.items[i], hole + 2);
            }
            if (!texts[i * t + k]) {
                for (size_t j = 0; j < n * t; j++) free(texts[j]);
                free(texts);
                return NULL;
            }
        }
    *count = n * t;
    return texts;
}

/* Averages each label's t normalised template embeddings and normalises the mean again. */
static void ensemble(const float *all, size_t n, size_t t, int dim, float *out)
{
    for (size_t i = 0; i < n; i++) {
        float *mean = out + i * dim;
        double norm = 0;
        for (int d = 0; d < dim; d++) {
            double s = 0;
            for (size_t k = 0; k < t; k++) s += all[(i * t + k) * dim + d];
            mean[d] = (float)(s / t);
            norm += (double)mean[d] * mean[d];
        }
        norm = sqrt(norm);
        for (int d = 0; d < dim && norm > 0; d++) mean[d] = (float)(mean[d] / norm);
    }
}

/* Label embeddings, one row per label: the template ensemble when templates are given (as CLIP
 * does for zero-shot ImageNet), else the labels' own. */
static float *encode_labels(align_model *m, const classify_opts *c, int dim)
{
    size_t count, n = c->labels.count, t = c->templates.count ? c->templates.count : 1;
    char **texts = label_texts(c, &count);
    float *all = texts ? malloc(sizeof(float) * count * (size_t)dim) : NULL;
    float *out = all && t > 1 ? malloc(sizeof(float) * n * (size_t)dim) : all;
    align_error err;
    int ok = out != NULL;
    if (!ok)
        error_msg("out of memory for %zu labels", n);
    else if (align_encode_text(m, (const char *const *)texts, (int)count, all, NULL, &err))
        ok = 0, error_msg("%s", err.message);
    else if (out != all)
        ensemble(all, n, t, dim, out);
    for (size_t i = 0; texts && i < count; i++) free(texts[i]);
    free(texts);
    if (out != all) free(all);
    if (!ok && out) free(out);
    return ok ? out : NULL;
}

/* ---- output ----------------------------------------------------------------------------------- */

typedef struct {
    out_format format;
    size_t n_images, written;
    long top;
    const strlist *labels;
} writer;

typedef struct {
    int label;
    float score, logit;
} ranked;

static int by_score(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->label - y->label; /* ties keep the labels' order */
}

static void put_tsv_field(const char *s)
{
    for (; *s; s++) {
        if (*s == '\t')
            fputs("\\t", stdout);
        else if (*s == '\n')
            fputs("\\n", stdout);
        else if (*s == '\\')
            fputs("\\\\", stdout);
        else
            putchar(*s);
    }
}

static void begin_record(writer *w)
{
    if (w->format == FMT_JSON) fputs(w->written ? ",\n" : "[\n", stdout);
    w->written++;
}

static void write_result(writer *w, const char *image, const ranked *r, size_t n)
{
    char score[32], logit[32];
    begin_record(w);
    if (w->format == FMT_TEXT && w->n_images > 1) printf("%s%s\n", w->written > 1 ? "\n" : "", image);
    if (w->format == FMT_JSON || w->format == FMT_JSONL) {
        fputs("{\"image\":", stdout);
        put_json_string(stdout, image);
        fputs(",\"results\":[", stdout);
    }
    for (size_t i = 0; i < n; i++) {
        const char *label = w->labels->items[r[i].label];
        format_float(score, sizeof score, r[i].score);
        format_float(logit, sizeof logit, r[i].logit);
        switch (w->format) {
        case FMT_TEXT: printf("%s%6.2f%%  %s\n", w->n_images > 1 ? "  " : "", 100.0 * r[i].score, label); break;
        case FMT_TSV:
            put_tsv_field(image);
            putchar('\t');
            put_tsv_field(label);
            printf("\t%s\t%s\n", score, logit);
            break;
        default:
            fputs(i ? ",{\"label\":" : "{\"label\":", stdout);
            put_json_string(stdout, label);
            printf(",\"score\":%s,\"logit\":%s}", score, logit);
        }
    }
    if (w->format == FMT_JSON || w->format == FMT_JSONL) fputs(w->format == FMT_JSONL ? "]}\n" : "]}", stdout);
}

static void write_failure(writer *w, const char *image, const char *message)
{
    if (w->format == FMT_JSON || w->format == FMT_JSONL) {
        begin_record(w);
        fputs("{\"image\":", stdout);
        put_json_string(stdout, image);
        fputs(",\"error\":", stdout);
        put_json_string(stdout, message);
        fputs(w->format == FMT_JSONL ? "}\n" : "}", stdout);
    }
    error_msg("%s", message);
}

/* ---- the run ---------------------------------------------------------------------------------- */

typedef struct {
    align_model *model;
    const float *label_emb;
    int dim, n_labels;
    align_decode_options decode;
    writer w;
    progress prog;
    int failures;
    ranked *ranks;
    float *logits;
} run_state;

static void score_image(run_state *st, const char *path, const float *image_emb)
{
    align_logits(st->model, image_emb, 1, st->label_emb, st->n_labels, st->logits);
    float *probs = st->logits + st->n_labels;
    align_softmax(st->logits, st->n_labels, probs);
    for (int j = 0; j < st->n_labels; j++) st->ranks[j] = (ranked){j, probs[j], st->logits[j]};
    qsort(st->ranks, (size_t)st->n_labels, sizeof *st->ranks, by_score);
    size_t keep = st->w.top && st->w.top < st->n_labels ? (size_t)st->w.top : (size_t)st->n_labels;
    write_result(&st->w, path, st->ranks, keep);
}

/* Reports an image that failed; the message names the file (the decoder's errors start with the
 * path already, the encoder's get it prefixed here). */
static void fail_image(run_state *st, const char *path, const char *message)
{
    char full[1400];
    size_t n = strlen(path);
    if (strncmp(message, path, n) == 0 && message[n] == ':')
        snprintf(full, sizeof full, "%s", message);
    else
        snprintf(full, sizeof full, "%s: %s", path, message);
    progress_end(&st->prog);
    st->failures++;
    write_failure(&st->w, path, full);
}

/* Encodes a batch of decoded images; when the batch fails as a whole, each image alone, so one
 * bad image cannot take its neighbours down. */
static void encode_batch(run_state *st, char **paths, align_image *imgs, int n, float *emb)
{
    align_error err;
    if (align_encode_images(st->model, imgs, n, emb, NULL, &err) == ALIGN_OK) {
        for (int i = 0; i < n; i++) score_image(st, paths[i], emb + (size_t)i * st->dim);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (n > 1 && align_encode_images(st->model, imgs + i, 1, emb, NULL, &err) == ALIGN_OK)
            score_image(st, paths[i], emb);
        else
            fail_image(st, paths[i], err.message);
    }
}

/* A batch of images decoded ahead, on another thread, while the previous batch computes. */
typedef struct {
    char **paths;
    int n;
    align_decode_options opts;
    align_image imgs[BATCH];
    char *errors[BATCH]; /* NULL where the image decoded */
    pthread_t thread;
    int started;
} decoded_batch;

static void *decode_batch(void *arg)
{
    decoded_batch *b = arg;
    for (int i = 0; i < b->n; i++) {
        align_error err;
        b->errors[i] = NULL;
        if (load_image_operand(b->paths[i], &b->opts, &b->imgs[i], &err) != ALIGN_OK)
            b->errors[i] = strdup(err.message[0] ? err.message : "cannot decode");
    }
    return NULL;
}

static void start_decoding(decoded_batch *b, char **paths, int n, const align_decode_options *opts)
{
    b->paths = paths;
    b->n = n;
    b->opts = *opts;
    b->started = pthread_create(&b->thread, NULL, decode_batch, b) == 0;
    if (!b->started) decode_batch(b); /* no thread to be had: decode here */
}

static void finish_decoding(decoded_batch *b)
{
    if (b->started) pthread_join(b->thread, NULL);
    b->started = 0;
}

static void free_batch(decoded_batch *b)
{
    for (int i = 0; i < b->n; i++) {
        if (b->errors[i])
            free(b->errors[i]);
        else
            align_image_free(&b->imgs[i]);
    }
    b->n = 0;
}

/* Scores a decoded batch, results in input order: a run of good images is encoded together, a bad
 * one is reported in its place. */
static int score_batch(run_state *st, decoded_batch *b, float *emb)
{
    align_image imgs[BATCH];
    char *ok_paths[BATCH];
    int k = 0;
    for (int i = 0; i < b->n; i++) {
        if (!b->errors[i]) {
            imgs[k] = b->imgs[i];
            ok_paths[k++] = b->paths[i];
            continue;
        }
        if (k) encode_batch(st, ok_paths, imgs, k, emb);
        k = 0;
        fail_image(st, b->paths[i], b->errors[i]);
    }
    if (k) encode_batch(st, ok_paths, imgs, k, emb);
    for (int i = 0; i < b->n; i++) progress_step(&st->prog);
    fflush(stdout);
    return ferror(stdout) ? -1 : 0;
}

/* Scores every image, decoding batch i + 1 while batch i computes. */
static void score_all(run_state *st, const classify_opts *c, decoded_batch slots[2], float *emb)
{
    size_t count = c->images.count;
    for (size_t at = 0, i = 0; at < count; at += BATCH, i++) {
        decoded_batch *cur = &slots[i % 2], *next = &slots[(i + 1) % 2];
        finish_decoding(cur);
        size_t after = at + BATCH;
        if (after < count) start_decoding(next, c->images.items + after, count - after < BATCH ? (int)(count - after) : BATCH, &st->decode);
        int failed = score_batch(st, cur, emb);
        free_batch(cur);
        if (failed) break;
    }
}

static int run(classify_opts *c)
{
    /* the first images decode while the model loads and the labels encode */
    decoded_batch slots[2] = {0};
    align_decode_options opts = {c->o.max_pixels};
    start_decoding(&slots[0], c->images.items, c->images.count < BATCH ? (int)c->images.count : BATCH, &opts);
    align_model *m = load_model(&c->o);
    int rc = EXIT_USAGE;
    float *label_emb = NULL, *emb = NULL;
    run_state st = {0};
    if (!m) goto done;
    align_model_info info;
    align_model_get_info(m, &info);
    st = (run_state){m, NULL, info.projection_dim, (int)c->labels.count, opts,
                     {c->o.format, c->images.count, 0, c->top, &c->labels}, {0}, 0, NULL, NULL};
    label_emb = encode_labels(m, c, st.dim);
    st.ranks = malloc(sizeof *st.ranks * c->labels.count);
    st.logits = malloc(sizeof(float) * 2 * c->labels.count);
    emb = malloc(sizeof(float) * BATCH * (size_t)st.dim);
    if (!label_emb || !st.ranks || !st.logits || !emb) {
        if (label_emb) error_msg("out of memory");
        goto done;
    }
    st.label_emb = label_emb;
    if (c->o.format == FMT_TSV) fputs("image\tlabel\tscore\tlogit\n", stdout);
    progress_init(&st.prog, c->images.count, c->o.quiet);
    score_all(&st, c, slots, emb);
    progress_end(&st.prog);
    if (c->o.format == FMT_JSON) fputs(st.w.written ? "\n]\n" : "[]\n", stdout);
    rc = check_stdout() ? EXIT_USAGE : st.failures ? EXIT_SOME_FAILED : EXIT_ALL_OK;
done:
    for (int i = 0; i < 2; i++) {
        finish_decoding(&slots[i]);
        free_batch(&slots[i]);
    }
    free(emb);
    free(st.logits);
    free(st.ranks);
    free(label_emb);
    align_model_free(m);
    return rc;
}

int cmd_classify(int argc, char **argv)
{
    classify_opts c = {0};
    int rc = parse_args(argc, argv, &c);
    if (rc == 0) rc = gather_inputs(argc, argv, &c) ? EXIT_USAGE : run(&c);
    else rc = rc > 0 ? EXIT_ALL_OK : EXIT_USAGE;
    strlist_free(&c.labels);
    strlist_free(&c.templates);
    strlist_free(&c.images);
    return rc;
}
