/* inputs.h: where images and labels come from: operands, directories, --files-from, --labels,
 * stdin. */
#ifndef ALIGN_CLI_INPUTS_H
#define ALIGN_CLI_INPUTS_H

#include <stddef.h>
#include <stdio.h>

#include "shard.h"
#include "strlist.h"

/* Labels and path lists are text: 256 MB is far past any real one and keeps a runaway pipe from
 * eating memory. Images piped on stdin get the same cap. */
#define MAX_STREAM (256u << 20)

/* The options that name images, beside the operands. */
typedef struct {
    int recursive;          /* -r: directories' subdirectories too */
    const char *files_from; /* --files-from FILE ("-" = stdin) */
    int nul;                /* -0: its paths are NUL-separated */
    shard share;            /* --shard K/N: only the inputs of shard K */
    int stdin_taken;        /* stdin is read for something else (classify's --labels -) */
} image_sources;

/* The images of a run, in order: each operand ("-" stays; a directory gives its images in sorted
 * order, recursively with -r; anything else is kept as given, to fail later with its own
 * message), then the --files-from paths; with --shard, only those of the share (which may be
 * none). Appends to out; -1 after reporting an error, such as stdin read twice (by two "-"
 * images, --files-from - or what stdin_taken says). */
int gather_images(char **operands, int n, const image_sources *src, strlist *out);
/* Whether stdin would be read more than once: by the images[0, n) that are "-", --files-from and
 * what stdin_taken says; reported. */
int stdin_given_twice(char *const *images, size_t n, const image_sources *src);
/* Whether name ends with an extension PIL registers for a format align reads: a directory's images
 * are its files named so. */
int is_image_name(const char *name);
/* Reads --files-from: paths one per line, or NUL-separated when nul is set; "-" reads stdin. */
int read_files_from(const char *path, int nul, strlist *out);
/* Reads --labels: one label per line, blank lines and #-lines skipped; "-" reads stdin. */
int read_labels_file(const char *path, strlist *out);
/* The parsing halves of the two readers above, on text already in memory (len bytes, not
 * necessarily NUL-terminated); name is what error messages call the source. They append to out
 * and return 0, or print one error line and return -1. */
int parse_files_from(const char *text, size_t len, const char *name, int nul, strlist *out);
int parse_labels(const char *text, size_t len, const char *name, strlist *out);
/* Reads all of a stream (at most max bytes) into a malloc'ed buffer; -1 after reporting why not. */
int read_stream(FILE *f, const char *name, size_t max, char **out, size_t *len);

#endif
