#include "memory.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int big_alloc(big_buffer *b, size_t bytes)
{
    memset(b, 0, sizeof *b);
    if (bytes == 0 || bytes > SIZE_MAX - 2 * HUGE_PAGE) return -1;
    size_t len = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE + HUGE_PAGE;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
    uint8_t *aligned = huge_page_up(p);
    /* a hint: where the kernel has no huge pages to give, this is an ordinary mapping */
#ifdef MADV_HUGEPAGE /* Linux only */
    madvise(aligned, len - (size_t)(aligned - (uint8_t *)p), MADV_HUGEPAGE);
#endif
    b->map = p;
    b->map_len = len;
    b->data = aligned;
    return 0;
}

void big_free(big_buffer *b)
{
    if (b->map) munmap(b->map, b->map_len);
    memset(b, 0, sizeof *b);
}

void *big_malloc(size_t bytes)
{
    uint8_t *p = malloc(bytes);
#ifdef MADV_HUGEPAGE
    if (p && bytes >= 2 * HUGE_PAGE) {
        /* the whole 2 MB pages inside the block: the kernel's advice is per page */
        uint8_t *start = huge_page_up(p);
        uint8_t *end = (uint8_t *)((uintptr_t)(p + bytes) & ~(uintptr_t)(HUGE_PAGE - 1));
        if (end > start) madvise(start, (size_t)(end - start), MADV_HUGEPAGE);
    }
#endif
    return p;
}
