/* options.h: the options the commands share (model, threads, output format, image limit, image
 * sources, quiet, help), and finding and loading the model they name. */
#ifndef ALIGN_CLI_OPTIONS_H
#define ALIGN_CLI_OPTIONS_H

#include <getopt.h>
#include <stdint.h>

#include "align.h"
#include "inputs.h"
#include "records.h"

typedef struct {
    const char *model_dir; /* -m */
    int threads;           /* --threads; 0 = every core */
    int quiet;             /* -q */
    out_format format;     /* -f, --json, --jsonl, --tsv */
    uint64_t max_pixels;   /* --max-pixels; 0 = the library's default */
    image_sources images;  /* -r, --files-from, -0, --shard */
} common_opts;

/* getopt_long codes of the shared options that have no short form; a command's own start at
 * OPT_FIRST_OWN. */
enum { OPT_JSON = 256, OPT_JSONL, OPT_TSV, OPT_THREADS, OPT_MAX_PIXELS, OPT_FILES_FROM, OPT_SHARD, OPT_FIRST_OWN };

/* getopt_long entries of the shared options, in groups; a command's table lists the groups it
 * takes, and its --help every option in them. */
#define OPTS_MODEL {"model", required_argument, 0, 'm'}, {"help", no_argument, 0, 'h'}
#define OPTS_FORMAT                                                                                \
    {"format", required_argument, 0, 'f'}, {"json", no_argument, 0, OPT_JSON},                    \
        {"jsonl", no_argument, 0, OPT_JSONL}
/* --tsv, for the commands that write TSV (classify, search) */
#define OPTS_TSV {"tsv", no_argument, 0, OPT_TSV}
#define OPTS_RUN                                                                                   \
    {"threads", required_argument, 0, OPT_THREADS}, {"max-pixels", required_argument, 0, OPT_MAX_PIXELS}, \
        {"quiet", no_argument, 0, 'q'}
#define OPTS_IMAGES                                                                                \
    {"recursive", no_argument, 0, 'r'}, {"files-from", required_argument, 0, OPT_FILES_FROM},    \
        {"null", no_argument, 0, '0'}, {"shard", required_argument, 0, OPT_SHARD}
/* Their short forms, for getopt's option string. */
#define SHORT_MODEL "m:h"
#define SHORT_FORMAT "f:"
#define SHORT_RUN "q"
#define SHORT_IMAGES "r0"

/* Handles a shared option: 1 when it was one, 0 when it is the command's own, -1 on a bad value
 * (reported). -h prints help and returns 2. */
int common_option(int opt, const char *arg, char **argv, common_opts *o, const char *command, const char *help);
/* The usage error for getopt's ':' (a value missing) or '?' (an unknown option), naming the
 * option as it was typed; returns usage_error's status. */
int option_error(const char *command, int opt, char **argv);
/* Parses a whole number from lo to hi; 0 on success, else reports a usage error. */
int parse_count(const char *s, const char *option, const char *command, long lo, long hi, long *out);

/* Where `make install` puts the model (the Makefile sets it from PREFIX). */
#ifndef ALIGN_SHARE_DIR
#define ALIGN_SHARE_DIR "/usr/local/share/align"
#endif

/* Finds the model directory (-m, $ALIGN_MODEL, ./weights/align-base, the installed one) and loads
 * it with the threads asked for; reports why not and returns NULL when it cannot. */
align_model *load_model(const common_opts *o);

#endif
