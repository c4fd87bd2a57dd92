/* cpu.h: what this CPU can run, and the OpenBLAS kernel that should run on it. */
#ifndef ALIGN_CPU_H
#define ALIGN_CPU_H

/* LEVEL_GENERIC: a CPU that is not x86, below every x86 level so that no x86 kernel is asked for. */
typedef enum { LEVEL_GENERIC, LEVEL_SSE, LEVEL_AVX, LEVEL_AVX2, LEVEL_AVX512 } simd_level;

/* The widest vector instructions both the CPU and the OS (which must save the registers) allow. */
simd_level cpu_level(void);
/* The OPENBLAS_CORETYPE to ask for when the loaded kernel is slower than the CPU allows, else NULL.
 * Kernel names OpenBLAS 0.3.21 does not have (a newer library's) are never replaced. */
const char *core_upgrade(const char *loaded, simd_level cpu);
/* Whether OpenBLAS kernel `core` gives a row of a product the same bits whatever rows share the
 * call, for products of at least BLAS_INDEPENDENT_ROWS rows a call. Measured on 0.3.21 (products
 * of 64 to 3,000 rows a block, 3 blocks stacked against each alone, K and N from 3 to 3,840):
 * SkylakeX and Cooperlake do; Haswell and Zen compute rows in tiles of 24 and the rows of a
 * remainder tile in another order, and SkylakeX's small-matrix path (a few rows) differs too. Any
 * kernel not measured counts as dependent. */
#define BLAS_INDEPENDENT_ROWS 64
int blas_rows_independent(const char *core);

#endif
