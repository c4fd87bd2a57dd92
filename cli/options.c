/* The shared options and the model they name. */
#include "options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "outfile.h"
#include "report.h"

/* The formats a command writes, for the message that refuses another. */
static const char *formats_of(const char *command)
{
    static const struct {
        const char *command, *formats;
    } writes[] = {{"classify", "text, json, jsonl or tsv"}, {"embed", "jsonl, json or npy"},
                  {"search", "text, json, jsonl, tsv or paths"}, {"tokenize", "jsonl or json"},
                  {"info", "text or json"}};
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++)
        if (strcmp(command, writes[i].command) == 0) return writes[i].formats;
    return "text, json, jsonl, tsv or npy";
}

static int parse_format(const char *s, common_opts *o, const char *command)
{
    static const struct {
        const char *name;
        out_format f;
    } names[] = {{"text", FMT_TEXT}, {"json", FMT_JSON}, {"jsonl", FMT_JSONL}, {"tsv", FMT_TSV}, {"npy", FMT_NPY}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) {
            o->format = names[i].f;
            return 0;
        }
    usage_error(command, "unknown format '%s' (%s)", s, formats_of(command));
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
    case 'f': return parse_format(arg, o, command) ? -1 : 1;
    case OPT_JSON: o->format = FMT_JSON; return 1;
    case OPT_JSONL: o->format = FMT_JSONL; return 1;
    case OPT_TSV: o->format = FMT_TSV; return 1;
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
    case 'r': o->images.recursive = 1; return 1;
    case OPT_FILES_FROM: o->images.files_from = arg; return 1;
    case '0': o->images.nul = 1; return 1;
    case OPT_SHARD:
        if (shard_parse(arg, &o->images.share) == 0) return 1;
        usage_error(command, "--shard takes K/N, a shard K from 0 to N-1 of N from 1 to %u, not '%s'", SHARD_MAX, arg);
        return -1;
    case 'h': fputs(help, stdout); return check_stdout() ? -1 : 2;
    case ':':
    case '?': option_error(command, opt, argv); return -1;
    }
    return 0;
}

int option_error(const char *command, int opt, char **argv)
{
    /* getopt leaves optind on a group of short options ("-dog") while it reads them, so a short
     * option is named by its letter; a long one is the argument getopt has just passed. A byte
     * that is no letter (a space, a UTF-8 sequence's first) is named by the argument holding it. */
    const char *arg = argv[optind - 1];
    char letter[3] = {'-', (char)optopt, 0};
    const char *name = optopt > ' ' && optopt < 127 && strncmp(arg, "--", 2) != 0 ? letter : arg;
    for (int i = optind - 1; optopt && name == arg && i <= optind && argv[i]; i++)
        if (argv[i][0] == '-' && argv[i][1] != '-' && strchr(argv[i] + 1, optopt)) name = argv[i];
    if (opt == ':') return usage_error(command, "option '%s' needs a value", name);
    return usage_error(command, "unknown option '%s' (an operand that starts with '-' goes after '--')", name);
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
                  env ? *env ? env : "empty" : "unset", ALIGN_SHARE_DIR);
        return NULL;
    }
    if (!*dir) {
        error_msg("--model is empty: it names the directory that holds config.json and the weights");
        return NULL;
    }
    /* where the name came from, when the user may not have it in mind */
    const char *from = dir == env && !o->model_dir ? " (from $ALIGN_MODEL)" : "";
    struct stat st;
    if (!is_dir(dir) && stat(dir, &st) == 0) {
        error_msg("%s%s: not a directory; --model names the directory that holds config.json and the weights", dir,
                  from);
        return NULL;
    }
    if (!is_dir(dir)) {
        error_msg("%s%s: model directory not found; get the weights with 'make weights' or pass --model DIR", dir,
                  from);
        return NULL;
    }
    char *config;
    if (asprintf(&config, "%s/config.json", dir) < 0) return error_msg("out of memory"), NULL;
    int no_config = stat(config, &st) != 0 && errno == ENOENT;
    free(config);
    if (no_config) {
        error_msg("%s%s: not a model directory (no config.json); --model names the directory that holds "
                  "config.json and the weights", dir, from);
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
