/* align embed: L2-normalised embeddings of images or texts, as jsonl/json or one .npy matrix. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *const help =
    "usage: align embed [OPTIONS] IMAGE...\n"
    "       align embed [OPTIONS] --text TEXT...\n"
    "\n"
    "Prints the L2-normalised embedding of each image (or, with --text, of each text), the\n"
    "vectors whose dot products, divided by the model's temperature, are classify's logits.\n"
    "\n"
    "      --text              the operands are texts, not images\n"
    "  -r, --recursive         descend into subdirectories of DIR operands\n"
    "      --format F          jsonl (default), json or npy (one float32 matrix, rows in input order)\n"
    "  -o, --output FILE       write to FILE instead of stdout\n"
    "  -m, --model DIR         model directory (default $ALIGN_MODEL, then ./weights/align-base)\n"
    "      --threads N         threads to use (default: every core)\n"
    "      --max-pixels N      refuse larger images (default 89478485)\n"
    "  -q, --quiet             no progress line\n"
    "  -h, --help              this help\n"
    "\n"
    "example: align embed --format npy -o photos.npy photos/\n"
    "         align embed --text 'a photo of a cat'\n";

enum { OPT_TEXT = OPT_FIRST_OWN };

typedef struct {
    common_opts o;
    int text, recursive;
    strlist inputs;
} embed_opts;

/* One embedding record, or an error record in its place. */
static void write_record(FILE *out, out_format fmt, size_t index, const char *key, const char *value,
                         const float *emb, int dim, const char *error)
{
    char num[32];
    if (fmt == FMT_JSON) fputs(index ? ",\n" : "[\n", out);
    fprintf(out, "{\"%s\":", key);
    put_json_string(out, value);
    if (error) {
        fputs(",\"error\":", out);
        put_json_string(out, error);
    } else {
        fputs(",\"embedding\":[", out);
        for (int d = 0; d < dim; d++) {
            format_float(num, sizeof num, emb[d]);
            fprintf(out, d ? ",%s" : "%s", num);
        }
        fputc(']', out);
    }
    fputs(fmt == FMT_JSONL ? "}\n" : "}", out);
}

/* NumPy's .npy v1.0: magic, header length, a Python dict literal padded so the data starts on a
 * 64-byte boundary, then the little-endian float32 rows. */
static int write_npy(FILE *out, const float *rows, size_t n, int dim)
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
    return ferror(out) ? -1 : 0;
}

static int parse_args(int argc, char **argv, embed_opts *e)
{
    static const struct option longopts[] = {{"text", no_argument, 0, OPT_TEXT},
                                             {"recursive", no_argument, 0, 'r'},
                                             {"output", required_argument, 0, 'o'},
                                             COMMON_LONGOPTS,
                                             {0, 0, 0, 0}};
    int opt;
    e->o.format = FMT_JSONL;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":ro:" COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        int common = common_option(opt, optarg, argv, &e->o, "embed", help);
        if (common < 0) return -1;
        if (common == 2) return 1;
        if (common) continue;
        if (opt == OPT_TEXT) e->text = 1;
        if (opt == 'r') e->recursive = 1;
        if (opt == 'o') e->o.output = optarg;
    }
    if (e->o.format != FMT_JSONL && e->o.format != FMT_JSON && e->o.format != FMT_NPY)
        return usage_error("embed", "embed writes jsonl, json or npy"), -1;
    if (optind >= argc) return usage_error("embed", e->text ? "no texts" : "no images"), -1;
    for (int i = optind; i < argc; i++)
        if (e->text && strlist_add(&e->inputs, argv[i], strlen(argv[i]))) return -1;
    if (!e->text && expand_images(argv + optind, argc - optind, e->recursive, &e->inputs)) return -1;
    if (!e->inputs.count) return usage_error("embed", "no images"), -1;
    return 0;
}

/* Embeds every input; rows[i] is valid where errors[i] is NULL. Returns the number that failed. */
static size_t embed_all(align_model *m, const embed_opts *e, int dim, float *rows, char **errors)
{
    size_t failed = 0;
    align_error err;
    if (e->text) {
        for (size_t i = 0; i < e->inputs.count; i++) {
            const char *t = e->inputs.items[i];
            if (align_encode_text(m, &t, 1, rows + i * dim, NULL, &err)) errors[i] = strdup(err.message), failed++;
        }
        return failed;
    }
    align_decode_options opts = {e->o.max_pixels};
    progress p;
    progress_init(&p, e->inputs.count, e->o.quiet);
    for (size_t i = 0; i < e->inputs.count; i++) {
        align_image img;
        const char *path = e->inputs.items[i];
        align_status s = load_image_operand(path, &opts, &img, &err);
        if (s == ALIGN_OK) {
            s = align_encode_images(m, &img, 1, rows + i * dim, NULL, &err);
            align_image_free(&img);
            if (s) { /* the encoder's messages do not name the file */
                char msg[sizeof err.message + 4096];
                snprintf(msg, sizeof msg, "%s: %s", path, err.message);
                size_t len = strnlen(msg, sizeof err.message - 1);
                memcpy(err.message, msg, len);
                err.message[len] = 0;
            }
        }
        if (s) {
            progress_end(&p);
            error_msg("%s", err.message);
            errors[i] = strdup(err.message);
            failed++;
        }
        progress_step(&p);
    }
    progress_end(&p);
    return failed;
}

static FILE *open_output(const embed_opts *e)
{
    if (!e->o.output) {
        if (e->o.format == FMT_NPY && isatty(STDOUT_FILENO)) {
            error_msg("npy is binary: redirect stdout or use -o FILE");
            return NULL;
        }
        return stdout;
    }
    FILE *f = fopen(e->o.output, "wb");
    if (!f) error_msg("%s: %s", e->o.output, strerror(errno));
    return f;
}

static int write_all(FILE *out, const embed_opts *e, const float *rows, char **errors, int dim)
{
    const char *key = e->text ? "text" : "image";
    if (e->o.format != FMT_NPY) {
        for (size_t i = 0; i < e->inputs.count; i++)
            write_record(out, e->o.format, i, key, e->inputs.items[i], rows + i * dim, dim, errors[i]);
        if (e->o.format == FMT_JSON) fputs("\n]\n", out);
        return 0;
    }
    /* the matrix holds the inputs that succeeded, in input order */
    size_t k = 0;
    for (size_t i = 0; i < e->inputs.count; i++)
        if (!errors[i]) memmove((float *)rows + k++ * dim, rows + i * dim, sizeof(float) * (size_t)dim);
    return write_npy(out, rows, k, dim);
}

int cmd_embed(int argc, char **argv)
{
    embed_opts e = {0};
    int rc = parse_args(argc, argv, &e);
    if (rc) {
        strlist_free(&e.inputs);
        return rc > 0 ? EXIT_ALL_OK : EXIT_USAGE;
    }
    align_model *m = load_model(&e.o);
    rc = EXIT_USAGE;
    if (m) {
        align_model_info info;
        align_model_get_info(m, &info);
        int dim = info.projection_dim;
        float *rows = calloc(e.inputs.count, sizeof(float) * (size_t)dim);
        char **errors = calloc(e.inputs.count, sizeof *errors);
        FILE *out = rows && errors ? open_output(&e) : NULL;
        if (out) {
            size_t failed = embed_all(m, &e, dim, rows, errors);
            write_all(out, &e, rows, errors, dim);
            int bad = out == stdout ? check_stdout() : (fclose(out) != 0 ? (error_msg("%s: %s", e.o.output, strerror(errno)), -1) : 0);
            rc = bad ? EXIT_USAGE : failed ? EXIT_SOME_FAILED : EXIT_ALL_OK;
        } else if (!rows || !errors) {
            error_msg("out of memory");
        }
        for (size_t i = 0; errors && i < e.inputs.count; i++) free(errors[i]);
        free(errors);
        free(rows);
        align_model_free(m);
    }
    strlist_free(&e.inputs);
    return rc;
}
