/* align search: the indexed images nearest a query of texts and images (query.h), by cosine
 * similarity, through the library's streaming search. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blank.h"
#include "cache_dir.h"
#include "fileio.h"
#include "commands.h"
#include "indexed.h"
#include "options.h"
#include "outfile.h"
#include "inputs.h"
#include "query.h"
#include "records.h"
#include "report.h"
#include "signals.h"
#include "stream.h"

static const char *const help =
    "usage: align search [OPTIONS] QUERY...\n"
    "\n"
    "Ranks the images of an index (made by align index) by cosine similarity to the query and\n"
    "prints the best, most similar first. A query is a text, an image (search by example), or\n"
    "terms joined by + and - (each its own operand), each term optionally weighted N*:\n"
    "\n"
    "    align search 'a dog on a beach'\n"
    "    align search photo.jpg + 'at night' - 0.5*daytime\n"
    "\n"
    "A term naming a regular file is that image, any other a text; 'text:' or 'image:' before a\n"
    "term says which; image:- is the image on stdin. The query vector is the weighted sum of the\n"
    "terms' normalised embeddings.\n"
    "\n"
    "      --db FILE           the index (default ./" DEFAULT_DB ")\n"
    "  -k, --top N             print the N most similar (default 10; 0 = all)\n"
    "      --threshold S       only images whose similarity is above S (-1 to 1)\n"
    "  -f, --format F          text (default), json, jsonl, tsv or paths (one path a line);\n"
    "                          --json, --jsonl and --tsv for short\n"
    "  -0, --null              with paths, end each path with NUL (for xargs -0)\n"
    "      --no-cache          do not keep text embeddings in ~/.cache/align\n"
    "  -m, --model DIR         model directory (default $ALIGN_MODEL, then ./weights/align-base,\n"
    "                          then " ALIGN_SHARE_DIR "/align-base)\n"
    "      --threads N         threads to use (default: every CPU align may use)\n"
    "      --max-pixels N      refuse larger query images (default 178956970, where PIL does)\n"
    "  -q, --quiet             no warnings about the label cache\n"
    "  -h, --help              this help\n"
    "\n"
    "example: align search --db photos.db -k 5 -f paths -0 'a red car' | xargs -0 ls -l\n";

typedef struct {
    common_opts o;
    const char *db;
    long top;
    float threshold;
    int paths, no_cache;
} search_opts;

enum { OPT_DB = OPT_FIRST_OWN, OPT_THRESHOLD, OPT_NO_CACHE };

static int parse_threshold(const char *s, float *out)
{
    char *end;
    float v = strtof(s, &end);
    /* a cosine similarity: a bound outside [-1, 1] keeps every image or none, a typo either way */
    if (end == s || *end || !is_decimal(s) || !(v >= -1 && v <= 1))
        return usage_error("search", "--threshold takes a similarity from -1 to 1, not '%s'", s), -1;
    *out = v;
    return 0;
}

/* 0 to go on, 1 when --help was shown, -1 on a usage error (reported). */
static int parse_args(int argc, char **argv, search_opts *x)
{
    static const struct option longopts[] = {{"db", required_argument, 0, OPT_DB},
                                             {"top", required_argument, 0, 'k'},
                                             {"threshold", required_argument, 0, OPT_THRESHOLD},
                                             {"no-cache", no_argument, 0, OPT_NO_CACHE},
                                             {"null", no_argument, 0, '0'},
                                             OPTS_FORMAT,
                                             OPTS_TSV,
                                             OPTS_RUN,
                                             OPTS_MODEL,
                                             {0, 0, 0, 0}};
    int opt;
    *x = (search_opts){.db = DEFAULT_DB, .top = 10, .threshold = -INFINITY};
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":k:" SHORT_FORMAT "0" SHORT_RUN SHORT_MODEL, longopts, NULL)) != -1) {
        if (opt == 'f' && strcmp(optarg, "paths") == 0) {
            x->paths = 1;
            continue;
        }
        if (opt == 'f' || opt == OPT_JSON || opt == OPT_JSONL || opt == OPT_TSV) x->paths = 0;
        int common = common_option(opt, optarg, argv, &x->o, "search", help);
        if (common < 0) return -1;
        if (common == 2) return 1;
        if (opt == OPT_DB) x->db = optarg;
        if (opt == OPT_NO_CACHE) x->no_cache = 1;
        if (opt == 'k' && parse_count(optarg, "--top", "search", 0, 1L << 30, &x->top)) return -1;
        if (opt == OPT_THRESHOLD && parse_threshold(optarg, &x->threshold)) return -1;
    }
    if (x->o.format == FMT_NPY) return usage_error("search", "npy is a format of 'align embed'"), -1;
    if (x->o.images.nul && !x->paths) return usage_error("search", "-0 goes with --format paths"), -1;
    if (optind >= argc) return usage_error("search", "no query"), -1;
    return 0;
}

/* ---- the query vector ------------------------------------------------------------------------- */

/* image:- is the image on stdin, which can be read once. */
static int stdin_twice(const query_term *t, int n, char *msg, size_t cap)
{
    int readers = 0;
    for (int i = 0; i < n; i++) readers += t[i].kind == TERM_IMAGE && strcmp(t[i].value, "-") == 0;
    if (readers > 1) snprintf(msg, cap, "stdin (image:-) is given more than once: it can be read only once");
    return readers > 1;
}

/* Each image term's embedding into its row of emb: one image a batch, decoded straight to the
 * model's size as `align embed` decodes, so that it is the vector `align embed IMAGE` prints. */
static int embed_images(const align_model *m, const search_opts *x, const query_term *t, int n, float *emb, int dim)
{
    align_decode_options dec = {x->o.max_pixels};
    align_error err;
    for (int i = 0; i < n; i++) {
        if (t[i].kind != TERM_IMAGE) continue;
        align_image img;
        if (image_operand_load(m, t[i].value, &dec, &img, &err)) return error_msg("%s", err.message), -1;
        align_status s = align_encode_images(m, &img, 1, emb + (size_t)i * dim, NULL, &err);
        align_image_free(&img);
        if (s) return error_msg("%s: %s", t[i].value, err.message), -1;
    }
    return 0;
}

/* The text terms' embeddings, in one call through the label cache. */
static int embed_texts(const align_model *m, const search_opts *x, const query_term *t, int n, float *emb, int dim)
{
    const char **texts = malloc(sizeof *texts * (size_t)n);
    float *out = malloc(sizeof(float) * (size_t)n * dim);
    int k = 0, rc = -1;
    for (int i = 0; texts && i < n; i++)
        if (t[i].kind == TERM_TEXT) texts[k++] = t[i].value;
    align_label_cache *cache = k && !x->no_cache ? label_cache_open_default(m, x->o.quiet) : NULL;
    align_error err;
    if (!texts || !out)
        error_msg("out of memory");
    else if (k && align_encode_text_cached(m, cache, texts, k, out, NULL, &err))
        error_msg("%s", err.message);
    else
        rc = 0;
    label_cache_report(cache, x->o.quiet);
    for (int i = 0, j = 0; rc == 0 && i < n; i++)
        if (t[i].kind == TERM_TEXT) memcpy(emb + (size_t)i * dim, out + (size_t)j++ * dim, sizeof(float) * dim);
    align_label_cache_close(cache);
    free(texts);
    free(out);
    return rc;
}

/* The weighted sum of the terms' embeddings into q (dim floats); -1 after reporting. */
static int query_vector(const align_model *m, const search_opts *x, query_term *t, int n, float *q, int dim)
{
    for (int i = 0; i < n; i++) {
        int64_t size, mtime;
        if (t[i].kind != TERM_AUTO) continue;
        t[i].kind = file_stamp(t[i].value, &size, &mtime) == 0 ? TERM_IMAGE : TERM_TEXT;
        /* an address was meant as an image (Hugging Face's load_image fetches one), not as a text */
        const char *v = t[i].value;
        if (t[i].kind == TERM_TEXT && path_is_url(v))
            return error_msg("%s: a URL, and align reads only files: download it first (curl -sLO URL), or write "
                             "text:%s to search for the text", v, v), -1;
        /* most likely a misspelt image: searched as the text asked for, but said */
        if (t[i].kind == TERM_TEXT && is_image_name(t[i].value))
            error_msg("%s: no such image, so searched as text (text:%s says so and is quiet)", t[i].value, t[i].value);
    }
    /* query_parse caught white space; the tokenizer knows every script's, and invisible characters */
    for (int i = 0; i < n; i++)
        if (t[i].kind == TERM_TEXT && text_tokenless(m, t[i].value))
            return usage_error("search", "the query term %d of %d is blank", i + 1, n), -1;
    float *emb = malloc(sizeof(float) * (size_t)n * dim);
    if (!emb) return error_msg("out of memory"), -1;
    int rc = embed_images(m, x, t, n, emb, dim);
    if (!rc) rc = embed_texts(m, x, t, n, emb, dim);
    for (int d = 0; !rc && d < dim; d++) {
        double s = 0;
        for (int i = 0; i < n; i++) s += (double)t[i].weight * emb[(size_t)i * dim + d];
        q[d] = (float)s;
    }
    free(emb);
    return rc;
}

/* ---- output ----------------------------------------------------------------------------------- */

static void write_hits(const search_opts *x, const align_index_hit *hits, int n)
{
    if (x->paths) {
        for (int i = 0; i < n; i++) printf("%s%c", hits[i].path, x->o.images.nul ? '\0' : '\n');
        return;
    }
    record_writer w;
    records_start(&w, stdout, x->o.format, "image\tsimilarity");
    for (int i = 0; i < n; i++) {
        char score[32];
        format_float(score, sizeof score, hits[i].score);
        if (x->o.format == FMT_TEXT) {
            printf("%.4f  ", (double)hits[i].score);
            put_text(stdout, hits[i].path);
            putchar('\n');
        } else if (x->o.format == FMT_TSV) {
            const char *fields[] = {hits[i].path, score};
            record_tsv_row(&w, fields, 2);
        } else {
            record_begin(&w);
            record_string(&w, "image", hits[i].path);
            record_float(&w, "similarity", hits[i].score);
            record_end(&w);
        }
    }
    records_finish(&w);
}

static int run(const search_opts *x, char *const *args, int n)
{
    query_term *terms = malloc(sizeof *terms * (size_t)n);
    int n_terms;
    char msg[512];
    if (!terms) return error_msg("out of memory"), EXIT_FAILURE;
    if (query_parse(args, n, terms, &n_terms, msg, sizeof msg) || stdin_twice(terms, n_terms, msg, sizeof msg)) {
        free(terms);
        return usage_error("search", "%s", msg);
    }
    align_model *m = load_model(&x->o);
    align_model_info info;
    align_index *ix = NULL;
    float *q = NULL;
    align_index_hit *hits = NULL;
    int n_hits = 0, rc = EXIT_FAILURE;
    align_error err;
    if (m) {
        align_model_get_info(m, &info);
        /* the index first: a wrong file is refused before any tower runs; and closed before a
           signal ends the process, so that SQLite's -wal and -shm files go with it */
        signals_defer();
        if (!(ix = align_index_open(x->db, align_model_id(m), info.projection_dim, ALIGN_INDEX_READ, &err)))
            error_msg("%s", err.message);
        else if (!(q = malloc(sizeof(float) * (size_t)info.projection_dim)))
            error_msg("out of memory");
        else if (query_vector(m, x, terms, n_terms, q, info.projection_dim) == 0 && !signals_caught()) {
            if (align_index_search(ix, q, (int)x->top, x->threshold, &hits, &n_hits, &err))
                error_msg("%s", err.message);
            else if (!signals_caught())
                write_hits(x, hits, n_hits), rc = check_stdout() ? EXIT_FAILURE : EXIT_SUCCESS;
        }
    }
    align_index_hits_free(hits, n_hits);
    free(q);
    align_index_close(ix);
    align_model_free(m);
    free(terms);
    return rc;
}

int cmd_search(int argc, char **argv)
{
    search_opts x;
    int rc = parse_args(argc, argv, &x);
    if (rc) return rc > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    return run(&x, argv + optind, argc - optind);
}
