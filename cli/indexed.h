/* indexed.h: how the align command keys an image in an index, and tells whether the row it holds
 * is current. Keys are absolute paths, so that an index answers from any directory. */
#ifndef ALIGN_CLI_INDEXED_H
#define ALIGN_CLI_INDEXED_H

#include <stdint.h>

#include "align.h"

/* The index --db names when none is given. */
#define DEFAULT_DB "align.db"

/* path made absolute against the working directory, with "." components, repeated slashes and
 * ".." (lexically, as `realpath -s` does) taken out; malloc'ed, NULL when out of memory. */
char *index_key(const char *path);

/* The size and modification time of a regular file; -1 when path is not one. */
int file_stamp(const char *path, int64_t *size, int64_t *mtime_ns);

/* 1 when the index holds key with this size and mtime (embedding, when not NULL, gets its row;
 * it may be overwritten otherwise), 0 when it does not or holds another version, -1 on an index
 * error (reported). */
int index_current(align_index *ix, const char *key, int64_t size, int64_t mtime_ns, float *embedding);

#endif
