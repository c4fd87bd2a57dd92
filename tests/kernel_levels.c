/* kernel_levels.c: the kernel tables the parity tests run, the test binary's own avx512_on_avx2
 * among them. */
#include "kernel_levels.h"

#if defined(__x86_64__)
KERNEL_DECLARE(avx512_on_avx2)
static const kernel_table avx512_on_avx2 = KERNEL_TABLE(avx512_on_avx2);

const kernel_table *test_avx512_on_avx2(void)
{
    return &avx512_on_avx2;
}
#else
const kernel_table *test_avx512_on_avx2(void)
{
    return NULL;
}
#endif

const kernel_table *const *test_kernel_tables(void)
{
    static const kernel_table *tables[5];
    int n = 0, top = kernel_cpu_level();
    for (int level = 0; level <= top; level++) tables[n++] = kernel_table_at(level);
    /* avx512_on_avx2 runs where x86-64's avx2, its level 1, does */
    if (test_avx512_on_avx2() && top >= 1) tables[n++] = test_avx512_on_avx2();
    tables[n] = NULL;
    return tables;
}
