/* The small commands: tokenize, info, convert. */
#include <getopt.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "options.h"
#include "outfile.h"
#include "records.h"
#include "report.h"

/* Parses a command that takes only shared options (those in longopts); returns 0 to go on, -1
 * when --help was shown, else the exit status. */
static int parse_common_only(int argc, char **argv, const struct option *longopts, common_opts *o,
                             const char *command, const char *help)
{
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":" SHORT_FORMAT SHORT_MODEL, longopts, NULL)) != -1) {
        int common = common_option(opt, optarg, argv, o, command, help);
        if (common < 0) return EXIT_FAILURE;
        if (common == 2) return -1;
    }
    return 0;
}

/* ---- tokenize --------------------------------------------------------------------------------- */

static const char *const tokenize_help =
    "usage: align tokenize [OPTIONS] TEXT...\n"
    "\n"
    "Prints the BERT WordPiece ids ([CLS] ... [SEP]) and tokens the text tower sees, one JSON\n"
    "object per text: {\"text\":...,\"ids\":[...],\"tokens\":[...]}.\n"
    "\n"
    "  -f, --format F          jsonl (default) or json; --json and --jsonl for short\n"
    "  -m, --model DIR         model directory (default $ALIGN_MODEL, then ./weights/align-base,\n"
    "                          then " ALIGN_SHARE_DIR "/align-base)\n"
    "  -h, --help              this help\n"
    "\n"
    "example: align tokenize 'a photo of a cat'\n";

static void write_tokens(const align_model *m, const char *text, record_writer *w, int *failed)
{
    int32_t *ids;
    size_t n;
    align_error err;
    record_begin(w);
    record_string(w, "text", text);
    if (align_tokenize(m, text, strlen(text), &ids, &n, &err)) {
        record_string(w, "error", err.message);
        error_msg("%s", err.message);
        (*failed)++;
    } else {
        record_ints(w, "ids", ids, n);
        record_open(w, "tokens", '[');
        for (size_t i = 0; i < n; i++) record_string(w, NULL, align_token_string(m, ids[i]));
        record_close(w);
        free(ids);
    }
    record_end(w);
}

int cmd_tokenize(int argc, char **argv)
{
    static const struct option longopts[] = {OPTS_FORMAT, OPTS_MODEL, {0, 0, 0, 0}};
    common_opts o = {.format = FMT_JSONL};
    int rc = parse_common_only(argc, argv, longopts, &o, "tokenize", tokenize_help);
    if (rc) return rc < 0 ? EXIT_SUCCESS : rc;
    if (o.format != FMT_JSONL && o.format != FMT_JSON) return usage_error("tokenize", "tokenize writes jsonl or json");
    if (optind >= argc) return usage_error("tokenize", "no texts");
    align_model *m = load_model(&o);
    if (!m) return EXIT_FAILURE;
    int failed = 0;
    record_writer w;
    records_start(&w, stdout, o.format, NULL);
    for (int i = optind; i < argc; i++) write_tokens(m, argv[i], &w, &failed);
    records_finish(&w);
    align_model_free(m);
    return check_stdout() ? EXIT_FAILURE : exit_status((size_t)failed, (size_t)(argc - optind));
}

/* ---- info ------------------------------------------------------------------------------------- */

static const char *const info_help =
    "usage: align info [OPTIONS]\n"
    "\n"
    "Loads and checks the model directory, then describes it: its identity (the one indexes and\n"
    "label caches are kept under), weights file, parameter count, embedding, each tower's shape,\n"
    "the BLAS library and the kernel it selected, the ISA level of the hot loops, and the threads\n"
    "in use.\n"
    "\n"
    "  -f, --format F          text (default) or json; --json for short\n"
    "  -m, --model DIR         model directory (default $ALIGN_MODEL, then ./weights/align-base,\n"
    "                          then " ALIGN_SHARE_DIR "/align-base)\n"
    "      --threads N         threads to use (default: every CPU align may use)\n"
    "  -h, --help              this help\n";

static void info_json(const align_model_info *i, const char *id, int threads)
{
    const char *better = align_blas_better_core();
    fputs("{\"model\":", stdout);
    put_json_string(stdout, i->dir);
    printf(",\"id\":\"%s\"", id);
    fputs(",\"weights\":", stdout);
    put_json_string(stdout, i->weights_path);
    printf(",\"format\":\"%s\",\"parameters\":%lld,\"projection_dim\":%d,\"temperature\":%.9g,"
           "\"text\":{\"layers\":%d,\"hidden_size\":%d,\"heads\":%d,\"max_tokens\":%d,\"vocab_size\":%d},"
           "\"vision\":{\"blocks\":%d,\"image_height\":%d,\"image_width\":%d,\"channels\":%d},"
           "\"blas\":{\"library\":\"OpenBLAS\",\"core\":",
           i->weights_format, (long long)i->num_parameters, i->projection_dim, (double)i->temperature, i->text_layers,
           i->text_hidden_size, i->text_heads, i->text_max_tokens, i->vocab_size, i->vision_blocks, i->image_height,
           i->image_width, i->vision_channels);
    put_json_string(stdout, align_blas_core());
    fputs(",\"better_core\":", stdout);
    if (better)
        put_json_string(stdout, better);
    else
        fputs("null", stdout);
    fputs("},\"isa\":", stdout);
    put_json_string(stdout, i->isa);
    printf(",\"threads\":%d}\n", threads);
}

static void info_text(const align_model_info *i, const char *id, int threads)
{
    const char *better = align_blas_better_core();
    fputs("model        ", stdout); /* paths as the text format shows names (report.h) */
    put_text(stdout, i->dir);
    printf("\nid           %s\nweights      ", id);
    put_text(stdout, i->weights_path);
    printf(" (%s)\n", i->weights_format);
    printf("parameters   %lld\n", (long long)i->num_parameters);
    printf("embedding    %d floats, temperature %.6g\n", i->projection_dim, (double)i->temperature);
    printf("text         BERT, %d layers, hidden %d, %d heads, up to %d tokens, vocabulary %d\n", i->text_layers,
           i->text_hidden_size, i->text_heads, i->text_max_tokens, i->vocab_size);
    printf("vision       EfficientNet, %d blocks, %dx%d input, %d channels\n", i->vision_blocks, i->image_width,
           i->image_height, i->vision_channels);
    printf("blas         OpenBLAS, %s kernel%s%s\n", align_blas_core(), better ? " (this CPU could run " : "",
           better ? better : "");
    if (better) printf(")\n");
    printf("isa          %s\n", i->isa);
    printf("threads      %d\n", threads);
}

int cmd_info(int argc, char **argv)
{
    static const struct option longopts[] = {{"format", required_argument, 0, 'f'},
                                             {"json", no_argument, 0, OPT_JSON},
                                             {"threads", required_argument, 0, OPT_THREADS},
                                             OPTS_MODEL,
                                             {0, 0, 0, 0}};
    common_opts o = {0};
    int rc = parse_common_only(argc, argv, longopts, &o, "info", info_help);
    if (rc) return rc < 0 ? EXIT_SUCCESS : rc;
    if (o.format != FMT_TEXT && o.format != FMT_JSON) return usage_error("info", "info writes text or json");
    if (optind < argc) return usage_error("info", "unexpected operand '%s'", argv[optind]);
    align_model *m = load_model(&o);
    if (!m) return EXIT_FAILURE;
    align_model_info info;
    align_model_get_info(m, &info);
    int threads = o.threads ? o.threads : align_cpu_count();
    if (o.format == FMT_JSON)
        info_json(&info, align_model_id(m), threads);
    else
        info_text(&info, align_model_id(m), threads);
    align_model_free(m);
    return check_stdout() ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- convert ---------------------------------------------------------------------------------- */

static const char *const convert_help =
    "usage: align convert DIR [-o OUT] [--dtype f32|f16|bf16]\n"
    "\n"
    "Writes DIR/pytorch_model.bin as safetensors (default DIR/model.safetensors), which loads\n"
    "without unpickling; f16 or bf16 halve the file. The output is written whole, then renamed.\n"
    "\n"
    "  -o, --output OUT        where to write\n"
    "      --dtype T           f32 (default), f16 or bf16\n"
    "  -q, --quiet             say nothing on success\n"
    "  -h, --help              this help\n";

/* Whether path is one of the files, other than the weights, that the model in dir is read from. */
static int is_model_file(const char *dir, const char *path)
{
    static const char *const files[] = {"config.json", "preprocessor_config.json", "tokenizer_config.json",
                                        "special_tokens_map.json", "vocab.txt"};
    char *copy = strdup(path), *model = realpath(dir, NULL), *parent = copy ? realpath(dirname(copy), NULL) : NULL;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int same = model && parent && strcmp(model, parent) == 0, hit = 0;
    for (size_t i = 0; same && i < sizeof files / sizeof files[0]; i++) hit |= strcmp(base, files[i]) == 0;
    free(copy), free(model), free(parent);
    return hit;
}

int cmd_convert(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, 0, 'o'},
                                             {"dtype", required_argument, 0, 'd'},
                                             {"quiet", no_argument, 0, 'q'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    const char *out = NULL, *dtype = "f32";
    int opt, quiet = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":o:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o': out = optarg; break;
        case 'd': dtype = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': fputs(convert_help, stdout); return check_stdout() ? EXIT_FAILURE : EXIT_SUCCESS;
        default: return option_error("convert", opt, argv);
        }
    }
    if (strcmp(dtype, "f32") && strcmp(dtype, "f16") && strcmp(dtype, "bf16"))
        return usage_error("convert", "--dtype is f32, f16 or bf16, not '%s'", dtype);
    if (argc - optind != 1) return usage_error("convert", "give one model directory");
    const char *dir = argv[optind];
    size_t len = strlen(dir) + 32;
    char *in = malloc(len), *def_out = malloc(len);
    if (!in || !def_out) {
        free(in);
        free(def_out);
        error_msg("out of memory");
        return EXIT_FAILURE;
    }
    snprintf(in, len, "%s/pytorch_model.bin", dir);
    snprintf(def_out, len, "%s/model.safetensors", dir);
    align_error err;
    int rc = EXIT_SUCCESS;
    if (out && is_model_file(dir, out)) {
        error_msg("%s: is one of the model's own files; write the checkpoint elsewhere", out);
        rc = EXIT_FAILURE;
    } else if (align_convert_checkpoint(in, out ? out : def_out, dtype, &err)) {
        error_msg("%s", err.message);
        rc = EXIT_FAILURE;
    } else if (!quiet) {
        struct stat st;
        stat(out ? out : def_out, &st);
        error_msg("wrote %s (%.1f MB, %s)", out ? out : def_out, st.st_size / 1e6, dtype);
    }
    free(in);
    free(def_out);
    return rc;
}
