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
/* How OpenBLAS kernel `core` lets images share a product and each still get the bits of its
 * product alone (at least BLAS_INDEPENDENT_ROWS rows an image), and threads cut a product without
 * changing a bit: its row period P. A kernel computes a product's rows in groups whose order
 * repeats every P rows and ends in a remainder group computed another way, so only images of a
 * whole number of P-row groups can share a product, and threads cut it on P-row boundaries, by rows
 * only when P > 1 (ops.h, gemm_cut). P = 1, any rows, and column cuts of 32 columns or more a side
 * too: SkylakeX, Cooperlake, Sandybridge, Nano and every aarch64 kernel (their small-matrix path, a
 * few rows, differs); 2 Prescott; 4 Core2, Penryn, Dunnington, Atom, Barcelona, Bobcat; 8 Nehalem;
 * 12 Haswell and Zen. 0, one product an image, for kernels not measured: those no machine here
 * can run (Opteron, Bulldozer to Excavator: 3DNow!, FMA4, XOP) and newer libraries' names.
 * Measured on 0.3.21 by scripts/blas_periods.c (the aarch64 ones under qemu); tests/test_ops.c
 * checks the loaded kernel's. */
#define BLAS_INDEPENDENT_ROWS 64
int blas_row_period(const char *core);

#endif
