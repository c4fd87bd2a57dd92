/* align: zero-shot image classification with ALIGN, from the command line. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

#ifndef ALIGN_SHARE_DIR
#define ALIGN_SHARE_DIR "/usr/local/share/align"
#endif

static const char *const usage_text =
    "usage: align COMMAND [OPTIONS] ...\n"
    "\n"
    "Zero-shot image classification with Google's ALIGN (kakaobrain/align-base) on the CPU.\n"
    "\n"
    "commands:\n"
    "  classify IMAGE LABEL [LABEL...]            probabilities of the labels for an image\n"
    "  classify (-l LABEL)... | --labels FILE  [IMAGE | DIR]...\n"
    "                                             the same for many images\n"
    "  embed IMAGE... | --text TEXT...            L2-normalised embeddings\n"
    "  tokenize TEXT...                           BERT WordPiece ids and tokens\n"
    "  info                                       the model, the BLAS kernel, the threads\n"
    "  convert DIR [-o OUT] [--dtype f16|bf16]    pytorch_model.bin to model.safetensors\n"
    "\n"
    "`align COMMAND --help` describes a command's options. The model is read from --model DIR,\n"
    "else $ALIGN_MODEL, else ./weights/align-base, else " ALIGN_SHARE_DIR "/align-base.\n"
    "Exit status: 0 all done, 1 usage error or unusable model, 2 some images failed.\n";

void error_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("align: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("align: ", stderr);
    vfprintf(stderr, fmt, ap);
    if (command)
        fprintf(stderr, " (see 'align %s --help')\n", command);
    else
        fputs(" (see 'align --help')\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

int parse_format(const char *s, common_opts *o, const char *command)
{
    static const struct {
        const char *name;
        out_format f;
    } names[] = {{"text", FMT_TEXT}, {"json", FMT_JSON}, {"jsonl", FMT_JSONL}, {"tsv", FMT_TSV}, {"npy", FMT_NPY}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) {
            o->format = names[i].f;
            o->format_set = 1;
            return 0;
        }
    usage_error(command, "unknown format '%s' (text, json, jsonl, tsv or npy)", s);
    return -1;
}

int parse_count(const char *s, const char *option, const char *command, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        usage_error(command, "%s takes a whole number from %ld to %ld, not '%s'", option, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int common_option(int opt, const char *arg, char **argv, common_opts *o, const char *command, const char *help)
{
    long v;
    switch (opt) {
    case OPT_FORMAT: return parse_format(arg, o, command) ? -1 : 1;
    case OPT_JSON: o->format = FMT_JSON, o->format_set = 1; return 1;
    case OPT_JSONL: o->format = FMT_JSONL, o->format_set = 1; return 1;
    case 'm': o->model_dir = arg; return 1;
    case OPT_THREADS:
        if (parse_count(arg, "--threads", command, 1, 1024, &v)) return -1;
        o->threads = (int)v;
        return 1;
    case OPT_MAX_PIXELS:
        if (parse_count(arg, "--max-pixels", command, 1, 1L << 40, &v)) return -1;
        o->max_pixels = (uint64_t)v;
        return 1;
    case 'q': o->quiet = 1; return 1;
    case 'h': fputs(help, stdout); return check_stdout() ? -1 : 2;
    case ':': usage_error(command, "option '%s' needs a value", argv[optind - 1]); return -1;
    case '?': usage_error(command, "unknown option '%s'", argv[optind - 1]); return -1;
    }
    return 0;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

align_model *load_model(const common_opts *o)
{
    const char *env = getenv("ALIGN_MODEL");
    const char *dir = o->model_dir;
    if (!dir && env && *env) dir = env;
    if (!dir && is_dir("weights/align-base")) dir = "weights/align-base";
    if (!dir && is_dir(ALIGN_SHARE_DIR "/align-base")) dir = ALIGN_SHARE_DIR "/align-base";
    if (!dir) {
        error_msg("no model found: looked in --model, $ALIGN_MODEL (%s), ./weights/align-base and %s/align-base; "
                  "get kakaobrain/align-base with 'make weights' (or scripts/download-weights) or pass --model DIR",
                  env && *env ? env : "unset", ALIGN_SHARE_DIR);
        return NULL;
    }
    if (!is_dir(dir)) {
        error_msg("%s: model directory not found; get the weights with 'make weights' or pass --model DIR", dir);
        return NULL;
    }
    align_error err;
    align_model *m = align_model_load(dir, &err);
    if (!m) {
        error_msg("%s", err.message);
        return NULL;
    }
    align_model_set_threads(m, o->threads);
    return m;
}

int main(int argc, char **argv)
{
    /* OpenBLAS chooses its kernel as it loads; run again with the right one when it chose badly */
    align_blas_reexec(argv);
    /* a closed pipe (align ... | head) ends the run quietly, as for any filter */
    signal(SIGPIPE, SIG_DFL);
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return check_stdout() ? EXIT_USAGE : EXIT_ALL_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("align %s\n", ALIGN_VERSION);
        return check_stdout() ? EXIT_USAGE : EXIT_ALL_OK;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } commands[] = {{"classify", cmd_classify}, {"embed", cmd_embed}, {"tokenize", cmd_tokenize},
                    {"info", cmd_info},         {"convert", cmd_convert}};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    return usage_error(NULL, "unknown command '%s'", cmd);
}
