/* fileio.h: reading files whole or mapping them, with errors that name the file. */
#ifndef ALIGN_FILEIO_H
#define ALIGN_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "align.h"

/* A read-only view of a whole file: mmap'ed when it is a regular file. */
typedef struct {
    const uint8_t *data;
    size_t size;
    void *mapping;      /* munmap target, NULL for an empty file */
    size_t mapping_size;
} file_map;

align_status file_map_open(const char *path, file_map *out, align_error *err);
/* Whether path is an http or https address, which Hugging Face's load_image fetches and align,
 * reading files only, refuses with what to do instead. */
int path_is_url(const char *path);
void file_map_close(file_map *map);
/* Tells the kernel a mapped range will not be read again, so it leaves the process's resident set
 * (the page cache keeps it). */
void file_map_release(const file_map *map, const void *start, size_t len);

/* Flushes a file written through fd to disk and drops it from the page cache (-1 with errno when
 * the flush fails). A file written this way is read back by the next process that maps it, in
 * whatever page size that mapping asks for: file_map_open asks for 2 MB pages, which the page
 * cache keeps for every later process, where pages cached by the writer are 4 KB. */
int file_evict(int fd);

/* Reads a whole regular file of at most max_size bytes into a NUL-terminated buffer. */
align_status file_read_all(const char *path, size_t max_size, char **out, size_t *len,
                           align_error *err);
int file_exists(const char *path);
/* dir + "/" + name in a new malloc'ed string (NULL when out of memory). */
char *path_join(const char *dir, const char *name);

#endif
