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
 * product alone (at least BLAS_INDEPENDENT_ROWS rows an image): 1, any rows, for SkylakeX and
 * Cooperlake; 12 for Haswell, Zen and Sandybridge, whose row tiles come in an order that repeats
 * every 12 rows and end in a remainder tile computed another way, so only images of a whole number
 * of 12-row groups, with the threads' row cuts on 12-row boundaries and the same kind of cut (rows
 * or columns) as the image alone (ops.h, gemm_cut); 0, one product an image, for kernels not
 * measured. Measured on 0.3.21: 1 for SkylakeX and Cooperlake (products of 64 to 3,000 rows a
 * block, 3 blocks stacked against each alone, K and N from 3 to 3,840; their small-matrix path,
 * a few rows, differs); 12 for all five kernels on the vision tower's shapes, 2, 3 and 8 images
 * against each alone, cut for 2 threads. */
#define BLAS_INDEPENDENT_ROWS 64
int blas_row_period(const char *core);

#endif
