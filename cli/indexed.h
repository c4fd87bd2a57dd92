/* indexed.h: how the align command keys an image in an index, and tells whether the row it holds
 * is current. Keys are absolute paths, so that an index answers from any directory. */
#ifndef ALIGN_CLI_INDEXED_H
#define ALIGN_CLI_INDEXED_H

#include <stdint.h>

#include "align.h"
#include "stream.h"

/* The index --db names when none is given. */
#define DEFAULT_DB "align.db"

/* path made absolute against the working directory, with "." components and repeated slashes
 * taken out, and its part up to its last ".." resolved as the kernel resolves it (`realpath`),
 * symbolic links and all; malloc'ed, NULL when out of memory. */
char *index_key(const char *path);

/* The size and modification time of a regular file; -1 when path is not one. */
int file_stamp(const char *path, int64_t *size, int64_t *mtime_ns);

/* 1 when the index holds key with this size and mtime (embedding, when not NULL, gets its row;
 * it may be overwritten otherwise), 0 when it does not or holds another version, -1 on an index
 * error (reported). */
int index_current(align_index *ix, const char *key, int64_t size, int64_t mtime_ns, float *embedding);

/* The images of a run against an index: those it lacks or holds another version of go through the
 * vision tower, each with its key and the stamps it had before it was read (a change while it is
 * read shows at the next run); the others are read back. */
typedef struct {
    char **paths;            /* [count] the images to embed, in input order */
    char **keys;             /* [count] their keys; NULL for a path that is no regular file (it fails) */
    int64_t *sizes, *mtimes; /* [count] */
    size_t count;
    char **stored;           /* [inputs] the key of each input the index holds current, else NULL */
    size_t unchanged;        /* inputs the index holds current */
} index_plan;

/* Plans the n images against ix; -1 after reporting an error. */
int index_plan_make(align_index *ix, char *const *images, size_t n, index_plan *p);
void index_plan_free(index_plan *p, size_t inputs);
/* Adds the embeddings of a stream batch of the plan's paths, [at, at + k), in one transaction;
 * returns the rows added, -1 after reporting an index error. */
long index_plan_add(align_index *ix, const index_plan *p, size_t at, const stream_image *batch, size_t k);

#endif
