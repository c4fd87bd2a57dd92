/* memory.h: large buffers (weights, activations) backed by transparent huge pages where the kernel
 * offers them: a few hundred 2 MB page faults instead of tens of thousands of 4 KB ones. */
#ifndef ALIGN_MEMORY_H
#define ALIGN_MEMORY_H

#include <stddef.h>

typedef struct {
    void *map;      /* what munmap takes back */
    size_t map_len;
    void *data;     /* 2 MB aligned, at least the size asked for */
} big_buffer;

/* 0 on success; on failure (out of memory) b is zeroed. */
int big_alloc(big_buffer *b, size_t bytes);
void big_free(big_buffer *b);

#endif
