/* cli.h: the align command. A thin front end: argv, inputs and output formats here, every
 * computation in the library. */
#ifndef ALIGN_CLI_H
#define ALIGN_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "align.h"

/* Exit statuses. */
enum { EXIT_ALL_OK = 0, EXIT_USAGE = 1, EXIT_SOME_FAILED = 2 };

typedef enum { FMT_TEXT, FMT_JSON, FMT_JSONL, FMT_TSV, FMT_NPY } out_format;

/* A growable list of strings, each owned. */
typedef struct {
    char **items;
    size_t count, cap;
} strlist;

int strlist_add(strlist *l, const char *s, size_t len);
void strlist_free(strlist *l);

/* Options shared by every command. */
typedef struct {
    const char *model_dir;
    int threads;
    int quiet;
    out_format format;
    int format_set;
    uint64_t max_pixels;
    const char *output; /* -o FILE, embed only */
} common_opts;

/* getopt_long codes of the options every model-loading command takes. */
enum { OPT_FORMAT = 256, OPT_JSON, OPT_JSONL, OPT_THREADS, OPT_MAX_PIXELS, OPT_FIRST_OWN };
#define COMMON_LONGOPTS                                                                            \
    {"format", required_argument, 0, OPT_FORMAT}, {"json", no_argument, 0, OPT_JSON},             \
        {"jsonl", no_argument, 0, OPT_JSONL}, {"model", required_argument, 0, 'm'},               \
        {"threads", required_argument, 0, OPT_THREADS},                                            \
        {"max-pixels", required_argument, 0, OPT_MAX_PIXELS}, {"quiet", no_argument, 0, 'q'},     \
        {"help", no_argument, 0, 'h'}
#define COMMON_SHORTOPTS "m:qh"

/* Handles a common option: 1 when it was one, 0 when it is the command's own, -1 on a bad value
 * (reported). -h prints help and returns 2. */
int common_option(int opt, const char *arg, char **argv, common_opts *o, const char *command, const char *help);

/* One line on stderr: "align: " + message. */
void error_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error: the message, then a hint to run `align COMMAND --help`; returns EXIT_USAGE. */
int usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses a value of a common option; 0 on success, else prints the error. */
int parse_format(const char *s, common_opts *o, const char *command);
int parse_count(const char *s, const char *option, const char *command, long lo, long hi, long *out);

/* Finds the model directory (-m, $ALIGN_MODEL, ./weights/align-base, the installed one) and loads
 * it; prints why not and returns NULL when it cannot. */
align_model *load_model(const common_opts *o);

/* ---- inputs (inputs.c) ---- */

/* Expands image operands: "-" stays, a directory gives its images in sorted order (recursive when
 * asked), anything else is kept as given so that it fails later with its own message. */
int expand_images(char **operands, int n, int recursive, strlist *out);
/* Reads --files-from: paths one per line, or NUL-separated when nul is set; "-" reads stdin. */
int read_files_from(const char *path, int nul, strlist *out);
/* Reads --labels: one label per line, blank lines and #-lines skipped; "-" reads stdin. */
int read_labels_file(const char *path, strlist *out);
/* The parsing halves of the two readers above, on text already in memory (len bytes, not
 * necessarily NUL-terminated); name is what error messages call the source. They append to out
 * and return 0, or print one error line and return -1. */
int parse_files_from(const char *text, size_t len, const char *name, int nul, strlist *out);
int parse_labels(const char *text, size_t len, const char *name, strlist *out);
/* Reads all of a stream (at most max bytes) into a malloc'ed buffer. */
int read_stream(FILE *f, const char *name, size_t max, char **out, size_t *len);
/* Decodes one image operand ("-" = stdin bytes, read once and kept in stdin_buf). */
align_status load_image_operand(const char *operand, const align_decode_options *opts, align_image *img,
                                align_error *err);

/* ---- output (output.c) ---- */

/* The shortest decimal that reads back as the same float32. */
void format_float(char *buf, size_t cap, float v);
/* A JSON string literal of s (escaped, invalid UTF-8 replaced). */
void put_json_string(FILE *f, const char *s);
/* Checks stdout after writing; prints the error and returns nonzero on a write error. */
int check_stdout(void);

/* Progress on stderr for long runs: shown only on a terminal and without -q. */
typedef struct {
    int enabled;
    size_t total, done;
    double start;
} progress;

void progress_init(progress *p, size_t total, int quiet);
void progress_step(progress *p);
void progress_end(progress *p);
double now_seconds(void);

/* ---- commands ---- */

int cmd_classify(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);

#endif
