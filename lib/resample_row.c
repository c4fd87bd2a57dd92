/* resample_row.c: the horizontal pass of PIL's resize with five taps of a pixel's window at a time:
 * 16 bytes read from the row make 16 lanes (R, G, B of five input pixels, and one byte that meets a
 * zero weight), each multiplied by its tap's weight and summed over the window; at the end the lanes
 * of each channel are folded into its sum. A kernel file (kernels.h): compiled once per ISA level.
 *
 * The sums are the reference's integer sums in another order, in uint32 (whose wrapping is defined
 * and, as no sum leaves int32, never happens), so every level gives Pillow's bytes. The 16 lanes are
 * one vector at AVX-512, two at AVX2 and four with NEON, each part written out: GCC splits a 16-lane
 * vector for a narrower ISA through the stack, and widens bytes to 32 bits one byte at a time through
 * general registers on x86 and aarch64, so neither is left to it. */
#include <string.h>

#include "kernels.h"
#include "vec.h"

#if defined(__SSE2__)
#include <immintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

typedef uint8_t u8x16 __attribute__((vector_size(16)));
typedef uint32_t u32x4 __attribute__((vector_size(16)));
typedef uint32_t u32x8 __attribute__((vector_size(32)));
typedef uint32_t u32x16 __attribute__((vector_size(64)));

#if VW == 16
typedef u32x16 lanes16;

/* 16 bytes widened to 32-bit lanes: one instruction at AVX-512, two at AVX2 (vec.h, KERNEL_VW) */
static inline u32x16 widen16(u8x16 px)
{
#if defined(VEC_HALVES)
    u32x8 lo = (u32x8)_mm256_cvtepu8_epi32((__m128i)px);
    u32x8 hi = (u32x8)_mm256_cvtepu8_epi32(_mm_srli_si128((__m128i)px, 8));
    return __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
#else
    return (u32x16)_mm512_cvtepu8_epi32((__m128i)px);
#endif
}

/* acc += the 16 bytes of px, each times its tap's weight (k[0..4], lane 15 zero) */
static inline lanes16 add_group(lanes16 acc, u8x16 px, const int32_t *k)
{
    const u32x8 zero = {0};
    u32x8 k8;
    memcpy(&k8, k, sizeof k8);
    u32x16 kk = __builtin_shufflevector(k8, zero, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 8);
    return acc + widen16(px) * kk;
}

/* lanes 3j + c, j = 0..4, summed into lane c */
static inline u32x4 fold(lanes16 a)
{
    return __builtin_shufflevector(a, a, 0, 1, 2, 15) + __builtin_shufflevector(a, a, 3, 4, 5, 15) +
           __builtin_shufflevector(a, a, 6, 7, 8, 15) + __builtin_shufflevector(a, a, 9, 10, 11, 15) +
           __builtin_shufflevector(a, a, 12, 13, 14, 15);
}
#elif defined(__AVX2__)
typedef struct {
    u32x8 lo, hi;
} lanes16;

static inline lanes16 add_group(lanes16 acc, u8x16 px, const int32_t *k)
{
    const u32x8 zero = {0};
    u32x8 k8;
    memcpy(&k8, k, sizeof k8);
    u32x8 klo = __builtin_shufflevector(k8, k8, 0, 0, 0, 1, 1, 1, 2, 2);
    u32x8 khi = __builtin_shufflevector(k8, zero, 2, 3, 3, 3, 4, 4, 4, 8);
    acc.lo += (u32x8)_mm256_cvtepu8_epi32((__m128i)px) * klo;
    acc.hi += (u32x8)_mm256_cvtepu8_epi32(_mm_srli_si128((__m128i)px, 8)) * khi;
    return acc;
}

static inline u32x4 fold(lanes16 a)
{
    return __builtin_shufflevector(a.lo, a.lo, 0, 1, 2, 7) + __builtin_shufflevector(a.lo, a.lo, 3, 4, 5, 7) +
           __builtin_shufflevector(a.lo, a.hi, 6, 7, 8, 15) + __builtin_shufflevector(a.hi, a.hi, 1, 2, 3, 7) +
           __builtin_shufflevector(a.hi, a.hi, 4, 5, 6, 7);
}
#elif defined(__ARM_NEON)
typedef struct {
    u32x4 q[4];
} lanes16;

/* bytes 4i..4i+3 of px as four 32-bit lanes, by NEON's widening moves (GCC's own conversion goes
 * through general registers) */
static inline u32x4 widen4(u8x16 px, int i)
{
    uint16x8_t half = i < 2 ? vmovl_u8(vget_low_u8((uint8x16_t)px)) : vmovl_high_u8((uint8x16_t)px);
    return (u32x4)(i % 2 == 0 ? vmovl_u16(vget_low_u16(half)) : vmovl_high_u16(half));
}

static inline lanes16 add_group(lanes16 acc, u8x16 px, const int32_t *k)
{
    const u32x4 zero = {0};
    u32x4 ka, kb;
    memcpy(&ka, k, sizeof ka);
    memcpy(&kb, k + 4, sizeof kb);
    acc.q[0] += widen4(px, 0) * __builtin_shufflevector(ka, ka, 0, 0, 0, 1);
    acc.q[1] += widen4(px, 1) * __builtin_shufflevector(ka, ka, 1, 1, 2, 2);
    acc.q[2] += widen4(px, 2) * __builtin_shufflevector(ka, ka, 2, 3, 3, 3);
    acc.q[3] += widen4(px, 3) * __builtin_shufflevector(kb, zero, 0, 0, 0, 4);
    return acc;
}

static inline u32x4 fold(lanes16 a)
{
    return a.q[0] + __builtin_shufflevector(a.q[0], a.q[1], 3, 4, 5, 7) +
           __builtin_shufflevector(a.q[1], a.q[2], 2, 3, 4, 7) + __builtin_shufflevector(a.q[2], a.q[2], 1, 2, 3, 3) +
           a.q[3];
}
#endif

#if !defined(__AVX2__) && !defined(__ARM_NEON)
/* x86 before SSE4.1 multiplies no 32-bit lanes: emulated, the vectors were slower than Pillow's own
 * loop (a 12-megapixel photo's fit 24 against 21 ms), so this level, and a target without NEON or
 * AVX2, runs that. */
void KERNEL(resample_row)(const uint8_t *src, int in_w, uint8_t *dst, int out_w, const resample_weights *a)
{
    resample_row_reference(src, in_w, dst, out_w, a);
}
#else
void KERNEL(resample_row)(const uint8_t *src, int in_w, uint8_t *dst, int out_w, const resample_weights *a)
{
    for (int x = 0; x < out_w; x++) {
        const int32_t *k = a->k + (size_t)x * a->kstride;
        int first = a->first[x], n = a->count[x];
        const uint8_t *s = src + (size_t)first * 3;
        /* Groups of five taps, read as 16 bytes: as many as cover the window, while the 16 bytes stay
         * in the row. A group past the window's last tap multiplies the weights' zero padding. */
        int room = 3 * (in_w - first), groups = (n + 4) / 5;
        int fit = room >= 16 ? (room - 16) / 15 + 1 : 0;
        if (groups > fit) groups = fit;
        lanes16 acc;
        memset(&acc, 0, sizeof acc);
        for (int g = 0; g < groups; g++) {
            u8x16 px;
            memcpy(&px, s + 15 * g, sizeof px);
            acc = add_group(acc, px, k + 5 * g);
        }
        u32x4 sum = fold(acc) + (1u << (RESAMPLE_PRECISION_BITS - 1));
        for (int i = 5 * groups; i < n; i++)
            for (int c = 0; c < 3; c++) sum[c] += s[3 * i + c] * (uint32_t)k[i];
        for (int c = 0; c < 3; c++) dst[3 * x + c] = resample_clip8((int32_t)sum[c]);
    }
}
#endif

/* sum[i] += src[i] * k: 16 bytes widened to 32-bit lanes at a time (the same integer products as
 * resample_taps_reference's, in uint32, whose wrapping never happens) */
void KERNEL(resample_taps)(int32_t *sum, const uint8_t *src, size_t n, int32_t k)
{
    size_t i = 0;
#if VW == 16
    const u32x16 kk = (u32x16){0} + (uint32_t)k;
    for (; i + 16 <= n; i += 16) {
        u8x16 px;
        u32x16 acc;
        memcpy(&px, src + i, sizeof px);
        memcpy(&acc, sum + i, sizeof acc);
        acc += widen16(px) * kk;
        memcpy(sum + i, &acc, sizeof acc);
    }
#elif defined(__AVX2__)
    const u32x8 kk = (u32x8){0} + (uint32_t)k;
    for (; i + 16 <= n; i += 16) {
        u8x16 px;
        u32x8 lo, hi;
        memcpy(&px, src + i, sizeof px);
        memcpy(&lo, sum + i, sizeof lo);
        memcpy(&hi, sum + i + 8, sizeof hi);
        lo += (u32x8)_mm256_cvtepu8_epi32((__m128i)px) * kk;
        hi += (u32x8)_mm256_cvtepu8_epi32(_mm_srli_si128((__m128i)px, 8)) * kk;
        memcpy(sum + i, &lo, sizeof lo);
        memcpy(sum + i + 8, &hi, sizeof hi);
    }
#elif defined(__ARM_NEON)
    const u32x4 kk = (u32x4){0} + (uint32_t)k;
    for (; i + 16 <= n; i += 16) {
        u8x16 px;
        memcpy(&px, src + i, sizeof px);
        for (int q = 0; q < 4; q++) {
            u32x4 acc;
            memcpy(&acc, sum + i + 4 * q, sizeof acc);
            acc += widen4(px, q) * kk;
            memcpy(sum + i + 4 * q, &acc, sizeof acc);
        }
    }
#endif
    resample_taps_reference(sum + i, src + i, n - i, k);
}
