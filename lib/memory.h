/* memory.h: large buffers (weights, activations, a photo's pixels) backed by transparent huge pages
 * where the kernel offers them: a few hundred 2 MB page faults instead of tens of thousands of 4 KB
 * ones. */
#ifndef ALIGN_MEMORY_H
#define ALIGN_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#define HUGE_PAGE ((size_t)2 << 20)

/* The first 2 MB boundary at or after p. */
static inline uint8_t *huge_page_up(void *p)
{
    return (uint8_t *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
}

typedef struct {
    void *map;      /* what munmap takes back */
    size_t map_len;
    void *data;     /* 2 MB aligned, at least the size asked for */
} big_buffer;

/* 0 on success; on failure (out of memory) b is zeroed. */
int big_alloc(big_buffer *b, size_t bytes);
void big_free(big_buffer *b);

/* malloc(bytes), its 2 MB pages asked to be huge before anything touches them: a 12-megapixel
 * photo's 36 MB of pixels take 18 page faults instead of 9,000 (each a trap to the hypervisor on a
 * VM). Freed with free(). */
void *big_malloc(size_t bytes);

#endif
