/* outfile.h: where results go: stdout, or a file written under a temporary name in its directory
 * and renamed over it at the end, so that a run that fails or is killed leaves the old file whole. */
#ifndef ALIGN_CLI_OUTFILE_H
#define ALIGN_CLI_OUTFILE_H

#include <stdio.h>

typedef struct {
    FILE *f;
    const char *path; /* NULL for stdout */
    char *tmp;        /* the temporary name, while one is being written */
    char *target;     /* the file path names (output_target), which is what gets replaced */
} outfile;

/* The file written for path: the file a symbolic link names, followed as the shell's > follows
 * it (a link to a file not made yet names that file), else path itself. Allocated; NULL when out
 * of memory or the links go round (errno says). */
char *output_target(const char *path);
/* Opens path for writing (NULL or "-": stdout). A path that exists and is not a regular file (a
 * device, a pipe) is written in place; a symbolic link is followed (output_target), the link kept.
 * Returns 0, or -1 after reporting why not. */
int outfile_open(outfile *o, const char *path);
/* Flushes and checks every write. The temporary file is renamed over path when keep is set and
 * nothing failed; else it is removed. Returns 0, or -1 after reporting the error. */
int outfile_close(outfile *o, int keep);
/* With output a regular file that one of inputs[0, n) also names (NULL and "-" are skipped), reports
 * it and returns -1: renamed over it at the end, the input would be gone. Else 0. */
int output_spares_inputs(const char *output, const char *const *inputs, size_t n);
/* Checks stdout after writing (help, short outputs); returns -1 after reporting a write error. */
int check_stdout(void);

#endif
