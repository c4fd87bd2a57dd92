/* align index: embeds images into an index (an SQLite file, lib/index.c), skipping the files it
 * already holds unchanged; and merges indexes made apart. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "indexed.h"
#include "options.h"
#include "outfile.h"
#include "report.h"
#include "signals.h"
#include "stream.h"

static const char *const help =
    "usage: align index [OPTIONS] [IMAGE | DIR]...\n"
    "       align index --merge OUT.db SHARD.db...\n"
    "\n"
    "Embeds the images into an index (one SQLite file) that align search and align classify --db\n"
    "read. Images are keyed by absolute path; one whose size and modification time are those the\n"
    "index holds is not decoded again, a changed one is embedded again. Each batch is committed\n"
    "as it is done: an interrupted run keeps what it did, and running it again carries on. Ctrl-C\n"
    "(or kill) stops it once the batch in hand is written, leaving the index one whole file.\n"
    "\n"
    "      --db FILE           the index (default ./" DEFAULT_DB ", created when missing)\n"
    "      --prune             first drop the rows of files that are no longer there\n"
    "      --merge OUT.db      merge the indexes given as operands into OUT.db (no model needed)\n"
    "  -r, --recursive         descend into subdirectories of DIR operands\n"
    "      --files-from FILE   image paths one per line ('-' = stdin)\n"
    "  -0, --null              --files-from paths are NUL-separated (find -print0)\n"
    "      --shard K/N         only this worker's share of the images: shard K (0 to N-1) of N,\n"
    "                          by a hash of each path; merge the N indexes with --merge\n"
    "  -m, --model DIR         model directory (default $ALIGN_MODEL, then ./weights/align-base,\n"
    "                          then " ALIGN_SHARE_DIR "/align-base)\n"
    "      --threads N         threads to use (default: every CPU align may use)\n"
    "      --max-pixels N      refuse larger images (default 178956970, where PIL does)\n"
    "  -q, --quiet             no progress line and no summary\n"
    "  -h, --help              this help\n"
    "\n"
    "example: align index -r ~/Pictures --db photos.db && align search --db photos.db 'a red car'\n";

typedef struct {
    common_opts o;
    const char *db, *merge;
    int prune;
    strlist images;
} index_opts;

enum { OPT_DB = OPT_FIRST_OWN, OPT_PRUNE, OPT_MERGE };

typedef struct {
    char *key;
    size_t at;
} keyed;

static int by_key(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->at > y->at) - (x->at < y->at);
}

/* The same file named twice (pics//a.jpg, ./pics/a.jpg) is one row of the index: only its first
 * name is kept, so that it is embedded once. 0, or -1 when out of memory (reported). */
static int drop_repeats(strlist *images)
{
    size_t n = images->count, kept = 0;
    keyed *k = calloc(n + 1, sizeof *k);
    char *drop = calloc(n + 1, 1);
    int oom = !k || !drop;
    for (size_t i = 0; i < n && !oom; i++) oom = !(k[i] = (keyed){index_key(images->items[i]), i}).key;
    if (!oom) {
        qsort(k, n, sizeof *k, by_key);
        for (size_t i = 1; i < n; i++) drop[k[i].at] = strcmp(k[i].key, k[i - 1].key) == 0;
        for (size_t i = 0; i < n; i++)
            if (drop[i]) free(images->items[i]);
            else images->items[kept++] = images->items[i];
        images->count = kept;
    }
    for (size_t i = 0; k && i < n; i++) free(k[i].key);
    free(k);
    free(drop);
    if (oom) error_msg("out of memory");
    return oom ? -1 : 0;
}

/* 0 to go on, 1 when --help was shown, -1 on a usage error (reported). */
static int parse_args(int argc, char **argv, index_opts *x)
{
    static const struct option longopts[] = {{"db", required_argument, 0, OPT_DB},
                                             {"prune", no_argument, 0, OPT_PRUNE},
                                             {"merge", required_argument, 0, OPT_MERGE},
                                             OPTS_IMAGES,
                                             OPTS_RUN,
                                             OPTS_MODEL,
                                             {0, 0, 0, 0}};
    int opt, at = -1;
    char other[64] = ""; /* an option --merge has no use for */
    x->db = DEFAULT_DB;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":" SHORT_IMAGES SHORT_RUN SHORT_MODEL, longopts, &at)) != -1) {
        int common = common_option(opt, optarg, argv, &x->o, "index", help);
        if (common < 0) return -1;
        if (common == 2) return 1;
        if (opt == OPT_DB) x->db = optarg;
        if (opt == OPT_PRUNE) x->prune = 1;
        if (opt == OPT_MERGE) x->merge = optarg;
        if (opt != OPT_MERGE && opt != 'q' && !other[0]) {
            if (at >= 0) snprintf(other, sizeof other, "--%s", longopts[at].name);
            else snprintf(other, sizeof other, "-%c", opt);
        }
        at = -1;
    }
    if (x->merge && other[0])
        return usage_error("index", "--merge takes only -q and the indexes to merge, not %s", other), -1;
    if (x->merge) return optind < argc ? 0 : (usage_error("index", "--merge needs the indexes to merge"), -1);
    if (gather_images(argv + optind, argc - optind, &x->o.images, &x->images)) return -1;
    for (size_t i = 0; i < x->images.count; i++)
        if (strcmp(x->images.items[i], "-") == 0) return usage_error("index", "an index keeps files: stdin has no path"), -1;
    if (drop_repeats(&x->images)) return -1;
    /* a worker's share can be empty: its index is made all the same, for the merge */
    if (!x->images.count && !x->prune && !x->o.images.share.n)
        return report_no_images("index", argv + optind, argc - optind);
    return 0;
}

static int told_to_stop(void *user)
{
    (void)user;
    return signals_caught() != 0;
}

static int merge(const index_opts *x, char **shards, int n)
{
    align_error err;
    /* a signal stops the merge between two chunks, and the output is closed whole (no WAL left) */
    signals_defer();
    if (align_index_merge_until(x->merge, (const char *const *)shards, n, told_to_stop, NULL, &err)) {
        error_msg("%s", err.message);
        return EXIT_FAILURE;
    }
    if (x->o.quiet) return EXIT_SUCCESS;
    if (signals_caught())
        error_msg("%s: interrupted: it holds the rows merged so far; run the merge again to finish", x->merge);
    else
        error_msg("merged %d %s into %s", n, n == 1 ? "index" : "indexes", x->merge);
    return EXIT_SUCCESS;
}

/* Adds each batch's embeddings as one transaction, until a signal comes (signals.h); returns the
 * rows added, -1 on an index error. */
static long add_batches(align_index *ix, image_stream *s, const index_plan *p)
{
    const stream_image *b;
    long added = 0;
    size_t at = 0;
    for (size_t k; !signals_caught() && (k = image_stream_next(s, &b)); at += k) {
        long n = index_plan_add(ix, p, at, b, k);
        if (n < 0) return -1;
        added += n;
    }
    return added;
}

static int run(const index_opts *x)
{
    align_model *m = load_model(&x->o);
    if (!m) return EXIT_FAILURE;
    align_model_info info;
    align_model_get_info(m, &info);
    align_error err;
    /* from here a signal stops the run between two transactions, and the index is closed, which
     * folds SQLite's WAL into the file, before the process ends */
    signals_defer();
    align_index *ix = align_index_open(x->db, align_model_id(m), info.projection_dim, ALIGN_INDEX_CREATE, &err);
    int64_t pruned = 0, total = 0;
    index_plan p = {0};
    int rc = EXIT_FAILURE;
    long added = -1;
    image_stream *s = NULL;
    if (!ix)
        error_msg("%s", err.message);
    else if (x->prune && align_index_prune(ix, NULL, NULL, &pruned, &err))
        error_msg("%s", err.message);
    else if (signals_caught())
        added = 0;
    else if (index_plan_make(ix, x->images.items, x->images.count, &p) == 0) {
        stream_options so = {.decode = {x->o.max_pixels}, .quiet = x->o.quiet,
                             .threads = x->o.threads};
        s = image_stream_open(m, p.paths, p.count, &so);
        if (s) added = add_batches(ix, s, &p);
    }
    if (added >= 0 && align_index_count(ix, &total, &err) == 0) {
        size_t failed = s ? image_stream_failures(s) : 0;
        rc = exit_status(failed, p.count + p.unchanged);
        if (!x->o.quiet)
            error_msg("%s: %ld embedded, %zu unchanged, %zu failed, %lld pruned; %lld image%s in the index%s",
                    x->db, added, p.unchanged, failed, (long long)pruned, (long long)total, total == 1 ? "" : "s",
                    signals_caught() ? "; interrupted: run it again to carry on" : "");
    } else if (added >= 0) {
        error_msg("%s", err.message);
    }
    image_stream_close(s);
    index_plan_free(&p, x->images.count);
    align_index_close(ix);
    align_model_free(m);
    return rc;
}

int cmd_index(int argc, char **argv)
{
    index_opts x = {0};
    int rc = parse_args(argc, argv, &x);
    if (rc == 0)
        rc = x.merge ? merge(&x, argv + optind, argc - optind) : run(&x);
    else
        rc = rc > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    strlist_free(&x.images);
    return rc;
}
