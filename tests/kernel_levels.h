/* kernel_levels.h: the kernel tables the parity tests run on this CPU. */
#ifndef ALIGN_TEST_KERNEL_LEVELS_H
#define ALIGN_TEST_KERNEL_LEVELS_H

#include "kernels.h"

/* Every level this CPU runs, lowest first, then, on a CPU with AVX2, avx512_on_avx2: the avx512
 * level's loops built for AVX2 (the Makefile's TEST_KERNEL_LEVELS, lib/vec.h's KERNEL_VW), so that
 * a machine without AVX-512 tests them too. NULL-terminated. */
const kernel_table *const *test_kernel_tables(void);

/* avx512_on_avx2's table on x86-64 (it runs where AVX2 does), NULL elsewhere. */
const kernel_table *test_avx512_on_avx2(void);

#endif
