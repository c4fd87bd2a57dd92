/* align classify: label probabilities for images. Labels are encoded once per run; the images
 * come through the image stream, and results go out in input order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "blank.h"
#include "cache_dir.h"
#include "commands.h"
#include "indexed.h"
#include "options.h"
#include "outfile.h"
#include "records.h"
#include "report.h"
#include "resume.h"
#include "shard.h"
#include "signals.h"
#include "stream.h"

static const char *const help =
    "usage: align classify [OPTIONS] IMAGE LABEL [LABEL...]\n"
    "       align classify [OPTIONS] (-l LABEL)... | --labels FILE  [IMAGE | DIR]...\n"
    "\n"
    "Scores each image against the labels: softmax probabilities, highest first.\n"
    "Without -l/--labels the first operand is the image and the rest are labels. IMAGE '-' reads\n"
    "the image from stdin; a directory means the images in it, in sorted order.\n"
    "\n"
    "  -l, --label LABEL       a label (repeatable)\n"
    "      --labels FILE       labels one per line ('-' = stdin); blank and # lines skipped;\n"
    "                          repeatable, the files' labels after the -l ones\n"
    "  -t, --template T        prompt template with {} for the label, e.g. 'a photo of a {}.';\n"
    "                          repeat for an ensemble (mean of the normalised embeddings)\n"
    "  -k, --top N             keep the N best labels per image\n"
    "      --db FILE           an index (align index): its images, when unchanged, are scored from\n"
    "                          their stored embeddings instead of the vision tower\n"
    "      --update            with --db, add the images it lacks (creating the index when missing)\n"
    "      --all               with --db, classify every image of the index (operands are labels)\n"
    "      --no-cache          do not keep label embeddings in $XDG_CACHE_HOME/align (~/.cache/align)\n"
    "  -v, --verbose           say how many labels and images were computed and how many read back\n"
    "  -r, --recursive         descend into subdirectories of DIR operands\n"
    "      --files-from FILE   image paths one per line ('-' = stdin)\n"
    "  -0, --null              --files-from paths are NUL-separated (find -print0)\n"
    "      --shard K/N         only this worker's share of the images: shard K (0 to N-1) of N,\n"
    "                          by a hash of each path (with --all, the index's); the N shards\n"
    "                          cover every image once\n"
    "  -f, --format F          text (default), json, jsonl or tsv; --json, --jsonl, --tsv\n"
    "  -o, --output FILE       write to FILE instead of stdout (to a temporary name, renamed at the end)\n"
    "      --resume            with -o FILE, jsonl or tsv: carry on what a killed run left in\n"
    "                          FILE.partial (else FILE), skipping the images it has (see README)\n"
    "  -m, --model DIR         model directory (default $ALIGN_MODEL, then ./weights/align-base,\n"
    "                          then " ALIGN_SHARE_DIR "/align-base)\n"
    "      --threads N         threads to use (default: every CPU align may use)\n"
    "      --max-pixels N      refuse larger images (default 178956970, where PIL does)\n"
    "  -q, --quiet             no progress line, no warnings about labels or the label cache\n"
    "  -h, --help              this help\n"
    "\n"
    "example: align classify cat.jpg 'a photo of a cat' 'a photo of a dog'\n"
    "         find photos -name '*.jpg' -print0 | align classify -0 --files-from - --labels labels.txt --jsonl\n"
    "         align classify --db photos.db --all -l indoor -l outdoor\n";

typedef struct {
    common_opts o;
    strlist labels, templates, images, labels_files; /* --labels adds up, as -l does */
    const char *db, *output;
    long top;
    int update, all, no_cache, verbose, resume;
} classify_opts;

enum { OPT_LABELS = OPT_FIRST_OWN, OPT_DB, OPT_UPDATE, OPT_ALL, OPT_NO_CACHE, OPT_RESUME };

#define TSV_HEADER "image\tlabel\tscore\tlogit"

/* 0 to go on, 1 when --help was shown, -1 on a usage error (reported). */
static int parse_args(int argc, char **argv, classify_opts *c)
{
    static const struct option longopts[] = {
        {"label", required_argument, 0, 'l'},    {"labels", required_argument, 0, OPT_LABELS},
        {"template", required_argument, 0, 't'}, {"top", required_argument, 0, 'k'},
        {"db", required_argument, 0, OPT_DB},    {"update", no_argument, 0, OPT_UPDATE},
        {"all", no_argument, 0, OPT_ALL},        {"no-cache", no_argument, 0, OPT_NO_CACHE},
        {"verbose", no_argument, 0, 'v'},        {"output", required_argument, 0, 'o'},
        {"resume", no_argument, 0, OPT_RESUME},  OPTS_IMAGES, OPTS_FORMAT, OPTS_TSV, OPTS_RUN, OPTS_MODEL,
        {0, 0, 0, 0}};
    int opt;
    opterr = 0;
    const char *shorts = ":l:t:k:o:v" SHORT_FORMAT SHORT_IMAGES SHORT_RUN SHORT_MODEL;
    while ((opt = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
        int common = common_option(opt, optarg, argv, &c->o, "classify", help);
        if (common < 0) return -1;
        if (common == 2) return 1;
        if (common) continue;
        switch (opt) {
        case 'l':
            if (strlist_add(&c->labels, optarg, strlen(optarg))) return -1;
            break;
        case OPT_LABELS:
            if (strlist_add(&c->labels_files, optarg, strlen(optarg))) return -1;
            break;
        case 'o': c->output = optarg; break;
        case OPT_RESUME: c->resume = 1; break;
        case 't':
            if (!strstr(optarg, "{}")) return usage_error("classify", "template '%s' has no {} for the label", optarg), -1;
            if (strlist_add(&c->templates, optarg, strlen(optarg))) return -1;
            break;
        case 'k':
            if (parse_count(optarg, "--top", "classify", 1, 1L << 30, &c->top)) return -1;
            break;
        case OPT_DB: c->db = optarg; break;
        case OPT_UPDATE: c->update = 1; break;
        case OPT_ALL: c->all = 1; break;
        case OPT_NO_CACHE: c->no_cache = 1; break;
        case 'v': c->verbose = 1; break;
        }
    }
    if (c->o.format == FMT_NPY) return usage_error("classify", "npy is a format of 'align embed'"), -1;
    if ((c->update || c->all) && !c->db) return usage_error("classify", "--update and --all go with --db"), -1;
    if (c->update && c->all) return usage_error("classify", "--all reads the index; --update adds images to it"), -1;
    if (c->resume && (!c->output || strcmp(c->output, "-") == 0 || (c->o.format != FMT_JSONL && c->o.format != FMT_TSV)))
        return usage_error("classify", "--resume carries on a file: it needs -o FILE and --format jsonl or tsv"), -1;
    /* stored embeddings take no time to score: --resume is for the vision tower's runs */
    if (c->resume && c->db) return usage_error("classify", "--resume goes without --db"), -1;
    return 0;
}

/* A blank label is a mistake (an unset shell variable, say): refused. A repeated one is not always
 * (ImageNet's class names hold two cranes and two maillots): said, since its copies split its
 * probability between them. */
static int check_labels(const classify_opts *c)
{
    /* white space only: the model is not loaded yet (run checks what its tokenizer drops) */
    if (refuse_blank(NULL, c->labels.items, c->labels.count, "classify", "label")) return -1;
    const char *first;
    long repeated = strlist_repeats(&c->labels, &first);
    if (repeated < 0) return error_msg("out of memory for %zu labels", c->labels.count), -1;
    if (repeated == 1 && !c->o.quiet)
        error_msg("warning: label '%.80s' is given more than once: its copies share its probability", first);
    else if (repeated > 1 && !c->o.quiet)
        error_msg("warning: %ld labels are given more than once ('%.80s' the first): each one's copies share "
                  "its probability", repeated, first);
    return 0;
}

/* In the short form IMAGE LABEL..., a label that is an image file or a directory was most likely
 * meant as a second image. */
static int names_images(const char *label)
{
    struct stat st;
    return stat(label, &st) == 0 && (S_ISDIR(st.st_mode) || (S_ISREG(st.st_mode) && is_image_name(label)));
}

/* Fills c->labels and c->images from the options and operands. */
static int gather_inputs(int argc, char **argv, classify_opts *c)
{
    char **ops = argv + optind;
    int n_ops = argc - optind, image_ops = n_ops;
    for (size_t i = 0; i < c->labels_files.count; i++)
        c->o.images.stdin_taken += strcmp(c->labels_files.items[i], "-") == 0;
    /* said before the labels are read, or an image's bytes would be read as labels */
    if (c->o.images.stdin_taken && stdin_given_twice(ops, (size_t)n_ops, &c->o.images)) return -1;
    for (size_t i = 0; i < c->labels_files.count; i++)
        if (read_labels_file(c->labels_files.items[i], &c->labels)) return -1;
    if (c->all) {
        /* the images are the index's: every operand is a label */
        if (c->o.images.files_from) return usage_error("classify", "--all takes its images from the index"), -1;
        if ((c->labels_files.count || c->labels.count) && n_ops)
            return usage_error("classify", "--all takes its images from the index, not '%s'", ops[0]), -1;
        for (int i = 0; i < n_ops; i++)
            if (strlist_add(&c->labels, ops[i], strlen(ops[i]))) return -1;
    } else if (!c->labels_files.count && c->labels.count == 0) {
        /* the short form: IMAGE LABEL [LABEL...] */
        if (n_ops < 1) return usage_error("classify", "no image and no labels"), -1;
        image_ops = 1;
        if (gather_images(ops, 1, &c->o.images, &c->images)) return -1;
        int like_images = 0, first = 0;
        for (int i = 1; i < n_ops; i++) {
            if (strlist_add(&c->labels, ops[i], strlen(ops[i]))) return -1;
            if (!c->o.quiet && names_images(ops[i]) && !like_images++) first = i;
        }
        if (like_images == 1)
            error_msg("warning: the label '%.80s' is an image or a directory, and only the first operand is read "
                      "as one: to classify several, give the labels with -l", ops[first]);
        else if (like_images)
            error_msg("warning: %d labels are images or directories ('%.80s' the first), and only the first "
                      "operand is read as one: to classify several, give the labels with -l", like_images, ops[first]);
    } else if (gather_images(ops, n_ops, &c->o.images, &c->images)) {
        return -1;
    }
    if (c->labels.count == 0) return usage_error("classify", "no labels to score"), -1;
    /* a worker's share can be empty */
    if (c->images.count == 0 && !c->all && !c->o.images.share.n)
        return report_no_images("classify", ops, image_ops);
    if (c->labels.count > (1u << 24)) return usage_error("classify", "too many labels (%zu)", c->labels.count), -1;
    return check_labels(c);
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
    int ok = out != NULL, computed = 0;
    align_label_cache *cache = ok && !c->no_cache ? label_cache_open_default(m, c->o.quiet) : NULL;
    if (!ok)
        error_msg("out of memory for %zu labels", n);
    else if (align_encode_text_cached(m, cache, (const char *const *)texts, (int)count, all, &computed, &err))
        ok = 0, error_msg("%s", err.message);
    else if (out != all)
        ensemble(all, n, t, dim, out);
    label_cache_report(cache, c->o.quiet);
    align_label_cache_close(cache);
    if (ok && c->verbose)
        error_msg("%zu label text%s: %d through the text tower, %zu from the cache", count, count == 1 ? "" : "s",
                  computed, count - (size_t)computed);
    for (size_t i = 0; texts && i < count; i++) free(texts[i]);
    free(texts);
    if (out != all) free(all);
    if (!ok && out) free(out);
    return ok ? out : NULL;
}

/* ---- scoring and output ----------------------------------------------------------------------- */

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

typedef struct {
    align_model *model;
    const strlist *labels;
    const float *label_emb; /* [n_labels][projection_dim] */
    int n_labels;
    size_t keep;     /* labels shown per image */
    size_t n_images; /* text: a heading per image when there are several */
    size_t shown;    /* text: images shown so far */
    record_writer w;
    resume *resume;  /* --resume: each batch's records go through it */
    const shard *share; /* --all: the index's rows scored are this worker's share */
    size_t from_index;  /* --all: the rows scored */
    ranked *ranks;   /* [n_labels] */
    float *logits;   /* [2 * n_labels]: the logits, then the probabilities */
} scorer;

static void write_text(scorer *sc, const char *image, const ranked *r)
{
    const char *indent = sc->n_images > 1 ? "  " : "";
    if (sc->n_images > 1) {
        fputs(sc->shown ? "\n" : "", sc->w.f);
        put_text(sc->w.f, image);
        fputc('\n', sc->w.f);
    }
    for (size_t i = 0; i < sc->keep; i++) {
        fprintf(sc->w.f, "%s%6.2f%%  ", indent, 100.0 * r[i].score);
        put_text(sc->w.f, sc->labels->items[r[i].label]);
        fputc('\n', sc->w.f);
    }
    sc->shown++;
}

static void write_tsv(scorer *sc, const char *image, const ranked *r)
{
    for (size_t i = 0; i < sc->keep; i++) {
        char score[32], logit[32];
        format_float(score, sizeof score, r[i].score);
        format_float(logit, sizeof logit, r[i].logit);
        const char *fields[] = {image, sc->labels->items[r[i].label], score, logit};
        record_tsv_row(&sc->w, fields, 4);
    }
}

static void write_json(scorer *sc, const char *image, const ranked *r)
{
    record_begin(&sc->w);
    record_string(&sc->w, "image", image);
    record_open(&sc->w, "results", '[');
    for (size_t i = 0; i < sc->keep; i++) {
        record_open(&sc->w, NULL, '{');
        record_string(&sc->w, "label", sc->labels->items[r[i].label]);
        record_float(&sc->w, "score", r[i].score);
        record_float(&sc->w, "logit", r[i].logit);
        record_close(&sc->w);
    }
    record_close(&sc->w);
    record_end(&sc->w);
}

static void score_image(scorer *sc, const char *path, const float *image_emb)
{
    align_logits(sc->model, image_emb, 1, sc->label_emb, sc->n_labels, sc->logits);
    float *probs = sc->logits + sc->n_labels;
    align_softmax(sc->logits, sc->n_labels, probs);
    for (int j = 0; j < sc->n_labels; j++) sc->ranks[j] = (ranked){j, probs[j], sc->logits[j]};
    qsort(sc->ranks, (size_t)sc->n_labels, sizeof *sc->ranks, by_score);
    if (sc->w.format == FMT_TEXT)
        write_text(sc, path, sc->ranks);
    else if (sc->w.format == FMT_TSV)
        write_tsv(sc, path, sc->ranks);
    else
        write_json(sc, path, sc->ranks);
}

/* An image that failed has a record of its own in JSON; the stream reported it on stderr. */
static void write_failure(scorer *sc, const char *image, const char *message)
{
    if (sc->w.format != FMT_JSON && sc->w.format != FMT_JSONL) return;
    record_begin(&sc->w);
    record_string(&sc->w, "image", image);
    record_string(&sc->w, "error", message);
    record_end(&sc->w);
}

/* Where the images' embeddings come from: the stream for the planned paths (all of them without
 * an index), the index for the others. */
typedef struct {
    const strlist *images;
    align_index *ix; /* NULL without --db */
    index_plan plan;
    int update;
    float *row; /* a stored embedding */
    size_t failures;
} sources;

/* The batch the stream handed out last, and the next image in it. */
typedef struct {
    const stream_image *batch;
    size_t at, k, i;
} batch_cursor;

/* Ends the batch written so far: flushed, or with --resume appended to the file in one go. */
static int end_batch(scorer *sc)
{
    if (!sc->resume) return fflush(sc->w.f) != 0 || ferror(sc->w.f) ? -1 : 0;
    if (!sc->w.f) return 0;
    sc->w.f = NULL;
    return resume_flush(sc->resume);
}

/* The stream's next image, taking the next batch (and with --update adding it to the index) when
 * the last one is used up; NULL at the end, or on a write or index error (*failed set). */
static const stream_image *next_streamed(scorer *sc, sources *src, image_stream *s, batch_cursor *b, int *failed)
{
    if (b->i == b->k) {
        if (end_batch(sc)) return *failed = 1, NULL;
        b->at += b->k;
        b->i = 0;
        /* with an index open, a signal ends the run here, between two transactions (signals.h); with
           --resume, after the batch's records are in FILE.partial */
        if ((src->ix || sc->resume) && signals_caught() && image_stream_has_more(s)) return *failed = 1, NULL;
        if (!(b->k = image_stream_next(s, &b->batch))) return NULL;
        if (src->update && index_plan_add(src->ix, &src->plan, b->at, b->batch, b->k) < 0) return *failed = 1, NULL;
        if (sc->resume && !(sc->w.f = resume_batch(sc->resume))) return *failed = 1, NULL;
    }
    return &b->batch[b->i++];
}

/* Scores an image the index holds, reading its row back. */
static void score_stored(scorer *sc, sources *src, size_t i)
{
    const char *path = src->images->items[i];
    int found;
    align_error err;
    align_status s = align_index_lookup(src->ix, src->plan.stored[i], NULL, NULL, src->row, &found, &err);
    if (!s && found) {
        score_image(sc, path, src->row);
        return;
    }
    if (!s) snprintf(err.message, sizeof err.message, "%s: gone from the index during the run", path);
    error_msg("%s", err.message);
    write_failure(sc, path, err.message);
    src->failures++;
}

/* Scores every image in input order; -1 on a write or index error. */
static int score_all(scorer *sc, sources *src, image_stream *s)
{
    batch_cursor b = {0};
    int failed = 0;
    for (size_t i = 0; i < src->images->count && !failed; i++) {
        if (src->ix && signals_caught()) return -1;
        if (src->plan.stored && src->plan.stored[i]) {
            score_stored(sc, src, i);
            continue;
        }
        const stream_image *im = next_streamed(sc, src, s, &b, &failed);
        if (im && im->error) write_failure(sc, im->path, im->error);
        if (im && !im->error) score_image(sc, im->path, im->embedding);
    }
    /* the stream's end, which clears its progress line, and the last batch's rows */
    if (!failed) next_streamed(sc, src, s, &b, &failed);
    return failed ? -1 : 0;
}

/* --all: every row of the index, in path order. */
static int score_row_chunk(void *user, const align_index_row *rows, int n)
{
    scorer *sc = user;
    for (int i = 0; i < n; i++)
        if (shard_has(sc->share, rows[i].path)) score_image(sc, rows[i].path, rows[i].embedding), sc->from_index++;
    return ferror(sc->w.f) || signals_caught();
}

static int score_index(scorer *sc, align_index *ix)
{
    align_error err;
    int64_t count;
    if (align_index_count(ix, &count, &err)) return error_msg("%s", err.message), -1;
    sc->n_images = (size_t)count;
    if (align_index_scan(ix, score_row_chunk, sc, &err)) return error_msg("%s", err.message), -1;
    return ferror(sc->w.f) || signals_caught() ? -1 : 0;
}

/* Opens --db and plans which images it answers for; -1 after reporting. */
static int open_sources(const classify_opts *c, align_model *m, sources *src)
{
    align_model_info info;
    align_model_get_info(m, &info);
    src->images = &c->images;
    if (!c->db) return 0;
    align_error err;
    int flags = c->update ? ALIGN_INDEX_CREATE : ALIGN_INDEX_READ;
    /* the index is then closed before a signal ends the process: a writer's WAL is folded into
       it, and a reader's -wal and -shm files go (SQLite makes them for readers too) */
    signals_defer();
    if (!(src->ix = align_index_open(c->db, align_model_id(m), info.projection_dim, flags, &err)))
        return error_msg("%s", err.message), -1;
    src->update = c->update;
    if (!(src->row = malloc(sizeof(float) * (size_t)info.projection_dim))) return error_msg("out of memory"), -1;
    if (c->all) return 0;
    return index_plan_make(src->ix, c->images.items, c->images.count, &src->plan);
}

/* Scores the images into out (NULL: through sc->resume); the exit status. */
/* -v: where the scored images' embeddings came from, once the run has told */
static void say_sources(const classify_opts *c, const scorer *sc, const sources *src, size_t encoded_failures)
{
    size_t n = c->all ? sc->from_index : c->images.count, failures = src->failures + encoded_failures;
    char failed[64] = "";
    if (failures) snprintf(failed, sizeof failed, ", %zu failed", failures);
    if (c->all)
        error_msg("%zu image%s, all from the index", n, n == 1 ? "" : "s");
    else if (src->ix)
        error_msg("%zu image%s: %zu from the index, %zu through the vision tower%s", n, n == 1 ? "" : "s",
                  src->plan.unchanged - src->failures, src->plan.count - encoded_failures, failed);
}

static int score_run(const classify_opts *c, align_model *m, scorer *sc, FILE *out)
{
    align_model_info info;
    align_model_get_info(m, &info);
    sources src = {0};
    int ok = open_sources(c, m, &src) == 0;
    char *const *paths = src.plan.paths ? src.plan.paths : c->images.items;
    size_t n_paths = src.plan.paths ? src.plan.count : c->images.count;
    /* the images decode while the labels encode */
    stream_options so = {.decode = {c->o.max_pixels},
                         .quiet = c->o.quiet || records_leave_line_open(out, c->o.format),
                         .threads = c->o.threads};
    image_stream *s = ok && !c->all ? image_stream_open(m, paths, n_paths, &so) : NULL;
    size_t n = c->labels.count;
    sc->n_images = c->images.count;
    float *label_emb = ok && (s || c->all) ? encode_labels(m, c, info.projection_dim) : NULL;
    sc->label_emb = label_emb;
    sc->ranks = malloc(sizeof *sc->ranks * n);
    sc->logits = malloc(sizeof(float) * 2 * n);
    int rc = EXIT_FAILURE;
    if (label_emb && sc->ranks && sc->logits) {
        records_start(&sc->w, out, c->o.format, out ? TSV_HEADER : NULL);
        int failed = c->all ? score_index(sc, src.ix) : score_all(sc, &src, s);
        size_t encoded_failures = s ? image_stream_failures(s) : 0, failures = src.failures + encoded_failures;
        if (c->verbose && !failed) say_sources(c, sc, &src, encoded_failures);
        if (out) records_finish(&sc->w);
        rc = failed ? EXIT_FAILURE
             : sc->resume ? resume_status(sc->resume, failures, c->images.count)
                          : exit_status(failures, c->images.count);
    } else if (label_emb) {
        error_msg("out of memory");
    }
    image_stream_close(s);
    index_plan_free(&src.plan, c->images.count);
    align_index_close(src.ix);
    free(src.row);
    free(sc->logits);
    free(sc->ranks);
    free(label_emb);
    return rc;
}

/* -o must not name a file the run reads: an image, the labels, the list of images or the index. */
static int output_spares_its_inputs(const classify_opts *c)
{
    const char *named[] = {c->o.images.files_from, c->db};
    return output_spares_inputs(c->output, named, 2) ||
           output_spares_inputs(c->output, (const char *const *)c->labels_files.items, c->labels_files.count) ||
           output_spares_inputs(c->output, (const char *const *)c->images.items, c->images.count);
}

static int run(classify_opts *c)
{
    if (output_spares_its_inputs(c)) return EXIT_FAILURE;
    align_model *m = load_model(&c->o);
    if (!m) return EXIT_FAILURE;
    size_t n = c->labels.count;
    /* check_labels caught white space before the model loaded; the tokenizer knows every script's */
    if (refuse_blank(m, c->labels.items, n, "classify", "label")) return align_model_free(m), EXIT_FAILURE;
    resume res;
    outfile out;
    scorer sc = {.model = m,
                 .labels = &c->labels,
                 .n_labels = (int)n,
                 .keep = c->top && (size_t)c->top < n ? (size_t)c->top : n,
                 .resume = c->resume ? &res : NULL,
                 .share = &c->o.images.share};
    int rc = EXIT_FAILURE;
    record_shape shape = {"results", sc.keep, &c->labels};
    if (c->resume) signals_defer(); /* a signal ends the run between batches, the records so far kept */
    if (c->resume && resume_open(&res, c->output, c->o.format, TSV_HEADER, &shape) == 0) {
        if (resume_skip_done(&res, &c->images) == 0) rc = score_run(c, m, &sc, NULL);
        if (resume_close(&res, rc != EXIT_FAILURE)) rc = EXIT_FAILURE;
    } else if (!c->resume && outfile_open(&out, c->output) == 0) {
        rc = score_run(c, m, &sc, out.f);
        if (outfile_close(&out, rc != EXIT_FAILURE)) rc = EXIT_FAILURE;
    }
    align_model_free(m);
    return rc;
}

int cmd_classify(int argc, char **argv)
{
    classify_opts c = {0};
    int rc = parse_args(argc, argv, &c);
    if (rc == 0)
        rc = gather_inputs(argc, argv, &c) ? EXIT_FAILURE : run(&c);
    else
        rc = rc > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    strlist_free(&c.labels);
    strlist_free(&c.templates);
    strlist_free(&c.images);
    strlist_free(&c.labels_files);
    return rc;
}
