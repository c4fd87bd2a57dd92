/* vec.h: the kernels' vector of floats at the ISA level being compiled (kernels.h), as wide as
 * its registers: 16 floats (zmm, 32 registers) for AVX-512, 8 (ymm, 16 registers) for AVX2, 4
 * (xmm or NEON) otherwise; and SiLU on one, exp_fast's operations one for one (ops.h). For kernel
 * files only.
 *
 * KERNEL_VW=16 with AVX2 builds the avx512 level's loops for a CPU without AVX-512, each 16-float
 * operation as two 8-float ones with the same rounding: the tests run it wherever AVX2 runs, so
 * that machines without AVX-512 test those loops too (tests/kernel_levels.c); the library never
 * does. */
#ifndef ALIGN_VEC_H
#define ALIGN_VEC_H

#include "ops.h"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#if defined(__AVX512F__) || (defined(KERNEL_VW) && KERNEL_VW == 16 && defined(__AVX2__))
#define VW 16
#elif defined(__AVX2__)
#define VW 8
#else
#define VW 4
#endif

/* VW channels in one vector; loads and stores through it need only float alignment. */
typedef float vecf __attribute__((vector_size(VW * sizeof(float)), aligned(4)));
typedef int veci __attribute__((vector_size(VW * sizeof(int)), aligned(4)));
typedef unsigned vecu __attribute__((vector_size(VW * sizeof(unsigned)), aligned(4)));

#if VW == 16 && !defined(__AVX512F__)
#define VEC_HALVES 1
/* a 16-float vector's halves, and two halves joined, for the AVX2 build of 16-float loops */
typedef float vec8 __attribute__((vector_size(8 * sizeof(float))));
#define LO8(v) ((__m256)__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7))
#define HI8(v) ((__m256)__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15))
#define JOIN8(lo, hi)                                                                              \
    ((vecf)__builtin_shufflevector((vec8)(lo), (vec8)(hi), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#endif

/* a * b + c in one rounding where the ISA has the instruction, whatever the compiler's contraction
 * (clang under AddressSanitizer leaves some a * b + c unfused: a kernel's two paths then differ in
 * their bits); elsewhere as the compiler contracts it. */
static inline __attribute__((always_inline)) vecf madd(vecf a, vecf b, vecf c)
{
#if defined(__AVX512F__)
    return (vecf)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#elif defined(VEC_HALVES)
    return JOIN8(_mm256_fmadd_ps(LO8(a), LO8(b), LO8(c)), _mm256_fmadd_ps(HI8(a), HI8(b), HI8(c)));
#elif defined(__AVX2__) && defined(__FMA__)
    return (vecf)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#else
    return a * b + c;
#endif
}

/* m clamped to [lo, hi], a NaN kept, as exp_fast clamps. x86's max and min return their second
 * operand when either is a NaN, so one of each does it; elsewhere, two compares and selects
 * (twice the instructions, on the critical path of every activation). */
static inline __attribute__((always_inline)) vecf clamp(vecf m, vecf lo, vecf hi)
{
#if defined(__AVX512F__)
    return (vecf)_mm512_min_ps((__m512)hi, _mm512_max_ps((__m512)lo, (__m512)m));
#elif defined(VEC_HALVES)
    return JOIN8(_mm256_min_ps(LO8(hi), _mm256_max_ps(LO8(lo), LO8(m))),
                 _mm256_min_ps(HI8(hi), _mm256_max_ps(HI8(lo), HI8(m))));
#elif defined(__AVX2__)
    return (vecf)_mm256_min_ps((__m256)hi, _mm256_max_ps((__m256)lo, (__m256)m));
#elif defined(__SSE2__)
    return (vecf)_mm_min_ps((__m128)hi, _mm_max_ps((__m128)lo, (__m128)m));
#else
    veci below = m < lo, above = m > hi;
    m = (vecf)((below & (veci)lo) | (~below & (veci)m));
    return (vecf)((above & (veci)hi) | (~above & (veci)m));
#endif
}

/* x / (1 + exp_fast(-x)) on a vector, exp_fast's operations one for one (ops.h). Written out
 * because GCC left the loop over a tile's activations scalar for the one-pixel tiles at AVX2's
 * width, and those calls were 30% of the depthwise time there (perf, batch 8). */
static inline __attribute__((always_inline)) vecf silu_vec(vecf x)
{
    vecf lo = (vecf){0} + exp_fast_limits[0], hi = (vecf){0} + exp_fast_limits[1];
    vecf m = clamp(-x, lo, hi), t, n, r, p;
    EXP_FAST_PARTS(m, (vecf){0}, t, n, r, p);
    vecf scale = (vecf)EXP_FAST_SCALE((vecu)t);
    return x / (1.0f + p * scale);
}

#endif
