#include "memory.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

int big_alloc(big_buffer *b, size_t bytes)
{
    memset(b, 0, sizeof *b);
    if (bytes == 0 || bytes > SIZE_MAX - 2 * HUGE_PAGE) return -1;
    size_t len = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE + HUGE_PAGE;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
    uintptr_t aligned = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    /* a hint: where the kernel has no huge pages to give, this is an ordinary mapping */
    madvise((void *)aligned, len - (aligned - (uintptr_t)p), MADV_HUGEPAGE);
    b->map = p;
    b->map_len = len;
    b->data = (void *)aligned;
    return 0;
}

void big_free(big_buffer *b)
{
    if (b->map) munmap(b->map, b->map_len);
    memset(b, 0, sizeof *b);
}
