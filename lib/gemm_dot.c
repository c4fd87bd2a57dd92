/* gemm_dot.c: a matrix product as dot products of rows, for products of a few rows whose
 * weights are read once (the text tower's few dozen token rows against BERT's 340 MB). A kernel
 * file (kernels.h).
 *
 * OpenBLAS packs each weight panel before multiplying it; at 70 rows that copy, waiting on memory,
 * was a quarter of the text tower's time (perf, AMD EPYC AVX-512). Here a weight row is read where
 * it lies: a tile of MR rows of x and NR rows of w keeps MR x NR vector accumulators over a block
 * of KC of k, the first row tile streaming the block's weight rows from memory and the others
 * finding them in L1. So that the first tile does not wait on memory for all of them, every row
 * tile asks for its share of the next group's lines (prefetch_share). (Copying the block to an
 * aligned buffer was slower: the copy waited on memory.) From about two hundred rows on, OpenBLAS's
 * packed kernel is faster (ops.h, GEMM_DOT_ROWS).
 *
 * The order of the additions is fixed for each output: lane l of the accumulators sums the terms
 * k = l (mod VW) of one block of KC, a fixed tree adds the lanes, and the blocks add in order. It
 * depends on nothing but k, so a row's results are the same bits whatever rows, columns or
 * threads share the product.
 *
 * A checkpoint's tensors need not start on a 64-byte boundary (a safetensors file's start where
 * its header ends), and then every weight vector straddles two cache lines. When x lies at the
 * same offset s from a vector boundary as w (and k is a multiple of VW, so every row does), the
 * phased tile loads whole aligned vectors instead, the first and last of each row masked to the
 * row. Lane p then sums the terms k = p - s (mod VW), in the same order as the plain tile's lane
 * p - s: the lanes are the plain tile's rotated by s, and the reduction (reduce()), adding lanes
 * half its width apart at every step, gives the same sums for any rotation. The same bits as the
 * plain tile, then. Measured on the text tower's products (AMD EPYC, AVX-512, one thread,
 * weights 4 bytes past a boundary): 83.3-84.5 -> 79.0-80.9 ms; aligned weights with the plain
 * tile took about 80. */
#include <stdint.h>
#include <string.h>

#include "gemm_dot.h"
#include "kernels.h"
#include "vec.h"

/* Tiles measured on the text tower (AMD EPYC, 10 labels, against OpenBLAS at the same level): at
 * AVX-512 4 x 6, 24 accumulators + 6 weight vectors + 1 x vector of the 32 registers (58 -> 54
 * ms; 3 x 8 reloads a weight vector for every row, 5 x 5 and 6 x 4 are slower); at AVX2 4 x 3,
 * 12 + 3 + 1 of the 16 (84 -> 73 ms; 2 x 4 takes 120, 3 x 4 93); with 4-float vectors 2 x 4
 * (SSE2: 194 -> 191 ms). */
#if VW == 16
#define MR 4
#define NR 6
#elif VW == 8
#define MR 4
#define NR 3
#else
#define MR 2
#define NR 4
#endif
/* the reduction's width: NR accumulators and zeros */
#define NRED (VW == 16 ? 8 : 4)

/* NR weight rows of KC floats stay in L1 (18 KB at AVX-512, 9 KB at AVX2, 12 KB below), and the
 * few rows of x of KC floats in L2 while every weight row passes them */
#define KC 768

/* NRED floats: one reduced sum per accumulator */
typedef float vecr __attribute__((vector_size(NRED * sizeof(float)), aligned(4)));

/* acc[0..NRED) reduced lane-wise to their NRED sums: each step adds the two halves of every
 * accumulator, packing two accumulators into one vector. Adding lanes l and l + half at every
 * step, it gives the same bits for an accumulator whose lanes are rotated (the phased tile's). */
static inline __attribute__((always_inline)) vecr reduce(const vecf *acc)
{
#if VW == 16
    vecf h[4], q[2], e;
    for (int p = 0; p < 4; p++)
        h[p] = __builtin_shufflevector(acc[2 * p], acc[2 * p + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21,
                                       22, 23) +
               __builtin_shufflevector(acc[2 * p], acc[2 * p + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27,
                                       28, 29, 30, 31);
    for (int p = 0; p < 2; p++)
        q[p] = __builtin_shufflevector(h[2 * p], h[2 * p + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25,
                                       26, 27) +
               __builtin_shufflevector(h[2 * p], h[2 * p + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29,
                                       30, 31);
    e = __builtin_shufflevector(q[0], q[1], 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
        __builtin_shufflevector(q[0], q[1], 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
    return __builtin_shufflevector(e, e, 0, 2, 4, 6, 8, 10, 12, 14) +
           __builtin_shufflevector(e, e, 1, 3, 5, 7, 9, 11, 13, 15);
#elif VW == 8
    vecf h[2], q;
    for (int p = 0; p < 2; p++)
        h[p] = __builtin_shufflevector(acc[2 * p], acc[2 * p + 1], 0, 1, 2, 3, 8, 9, 10, 11) +
               __builtin_shufflevector(acc[2 * p], acc[2 * p + 1], 4, 5, 6, 7, 12, 13, 14, 15);
    q = __builtin_shufflevector(h[0], h[1], 0, 1, 4, 5, 8, 9, 12, 13) +
        __builtin_shufflevector(h[0], h[1], 2, 3, 6, 7, 10, 11, 14, 15);
    return __builtin_shufflevector(q, q, 0, 2, 4, 6) + __builtin_shufflevector(q, q, 1, 3, 5, 7);
#else
    vecf h[2];
    for (int p = 0; p < 2; p++)
        h[p] = __builtin_shufflevector(acc[2 * p], acc[2 * p + 1], 0, 1, 4, 5) +
               __builtin_shufflevector(acc[2 * p], acc[2 * p + 1], 2, 3, 6, 7);
    return __builtin_shufflevector(h[0], h[1], 0, 2, 4, 6) + __builtin_shufflevector(h[0], h[1], 1, 3, 5, 7);
#endif
}

/* The last t < VW floats of a row as a vector, zeros after them (never read past the row). */
static inline vecf partial(const float *p, int t)
{
    vecf v = {0};
    memcpy(&v, p, sizeof(float) * (size_t)t);
    return v;
}

/* Masked loads of aligned vectors exist on AVX2 and AVX-512; elsewhere every tile is plain. */
#if VW == 16 || VW == 8
#define PHASED 1
/* Lanes [lo, hi) of the aligned vector at p, zeros in the others, which are not read (they may
 * lie outside the tensor). */
static inline __attribute__((always_inline)) vecf lanes(const float *p, int lo, int hi)
{
#if VW == 16 && !defined(VEC_HALVES)
    return (vecf)_mm512_maskz_load_ps((__mmask16)((1u << hi) - (1u << lo)), p);
#elif VW == 16
    veci lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, in = (lane >= lo) & (lane < hi);
    return JOIN8(_mm256_maskload_ps(p, (__m256i)__builtin_shufflevector(in, in, 0, 1, 2, 3, 4, 5, 6, 7)),
                 _mm256_maskload_ps(p + 8, (__m256i)__builtin_shufflevector(in, in, 8, 9, 10, 11, 12, 13, 14, 15)));
#else
    veci lane = {0, 1, 2, 3, 4, 5, 6, 7};
    return (vecf)_mm256_maskload_ps(p, (__m256i)((lane >= lo) & (lane < hi)));
#endif
}
#else
#define PHASED 0
#endif

/* acc[i][j] += x vectors at xr[i] + kk times w vectors at wr[j] + kk */
#define TILE_STEP(load)                                                                            \
    do {                                                                                           \
        vecf wv[NR];                                                                               \
        for (int j = 0; j < NR; j++) wv[j] = load(wr[j]);                                          \
        for (int i = 0; i < MR; i++) {                                                             \
            vecf xv = load(xr[i]);                                                                 \
            for (int j = 0; j < NR; j++) acc[i][j] = madd(xv, wv[j], acc[i][j]);                   \
        }                                                                                          \
    } while (0)

/* TILE_STEP's loads, at a tile's kk: whole vectors, the plain tile's last partial one (of `whole`
 * and kc), and the phased tile's first and last, masked to the row (s) */
#define WHOLE(p) (*(const vecf *)(p + kk))
#define PARTIAL(p) partial(p + whole, kc - whole)
#define HEAD(p) lanes(p, s, VW)
#define TAIL(p) lanes(p + kc, 0, s)

/* c rows [0, mr) x columns [0, nr) (+)= the lane sums of acc */
static inline __attribute__((always_inline)) void store(vecf acc[MR][NR], float *c, int ldc, int mr, int nr,
                                                        int first)
{
    for (int i = 0; i < mr; i++) {
        vecf row[NRED] = {0};
        for (int j = 0; j < NR; j++) row[j] = acc[i][j];
        vecr sum = reduce(row);
        float *ci = c + (size_t)i * ldc;
        for (int j = 0; j < nr; j++) ci[j] = first ? sum[j] : ci[j] + sum[j];
    }
}

/* The tile's row pointers, s floats back from x's and w's rows (ld apart); rows past mr read
 * row 0 and columns past nr weight row 0, and what they compute is dropped. */
#define TILE_START(s)                                                                              \
    vecf acc[MR][NR];                                                                              \
    const float *xr[MR], *wr[NR];                                                                  \
    for (int i = 0; i < MR; i++) {                                                                 \
        xr[i] = x - (s) + (i < mr ? (size_t)i * ld : 0);                                           \
        for (int j = 0; j < NR; j++) acc[i][j] = (vecf){0};                                        \
    }                                                                                              \
    for (int j = 0; j < NR; j++) wr[j] = w - (s) + (j < nr ? (size_t)j * ld : 0)

/* c rows [0, mr) x columns [0, nr) (+)= x's mr rows against w's nr rows, over kc of their k. */
static inline __attribute__((always_inline)) void tile(const float *x, const float *w, size_t ld, int kc, float *c,
                                                       int ldc, int mr, int nr, int first)
{
    TILE_START(0);
    int kk, whole = kc / VW * VW;
    for (kk = 0; kk < whole; kk += VW) TILE_STEP(WHOLE);
    if (whole < kc) TILE_STEP(PARTIAL);
    store(acc, c, ldc, mr, nr, first);
}

#if PHASED
/* The same, x and w s floats past a vector boundary and kc a multiple of VW (file comment). */
static inline __attribute__((always_inline)) void tile_phased(const float *x, const float *w, size_t ld, int kc,
                                                              float *c, int ldc, int mr, int nr, int first, int s)
{
    TILE_START(s);
    int kk;
    TILE_STEP(HEAD);
    for (kk = VW; kk < kc; kk += VW) TILE_STEP(WHOLE);
    if (s) TILE_STEP(TAIL);
    store(acc, c, ldc, mr, nr, first);
}

/* s for the phased tile: x's and w's common offset from a vector boundary, or -1 */
static int phase(const float *x, const float *w, int k)
{
    uintptr_t sx = (uintptr_t)x / sizeof(float) % VW, sw = (uintptr_t)w / sizeof(float) % VW;
    int floats = ((uintptr_t)x | (uintptr_t)w) % sizeof(float) == 0;
    return floats && k % VW == 0 && sx == sw ? (int)sx : -1;
}
#endif

/* floats in a 64-byte cache line */
#define LINE 16

/* The weight rows a product reads after group j's block of kc at k0 (the group's next block, or
 * the next group's first; none after the last), and how many of their cache lines each of the
 * group's `tiles` row tiles asks for. */
typedef struct {
    const float *w;
    long rows, lines, per; /* rows, cache lines a row, lines a tile */
} next_rows;

static inline next_rows next_group(const float *w, int n, int k, int j, int k0, int kc, long tiles)
{
    next_rows nx = {w, 0, 1, 0};
    int nr = n - j < NR ? n - j : NR;
    if (k0 + kc < k) {
        int next_kc = k - k0 - kc < KC ? k - k0 - kc : KC;
        nx = (next_rows){w + (size_t)j * k + k0 + kc, nr, (next_kc + LINE - 1) / LINE, 0};
    } else if (j + NR < n) {
        int first_kc = k < KC ? k : KC;
        nx = (next_rows){w + (size_t)(j + NR) * k, n - j - NR < NR ? n - j - NR : NR, (first_kc + LINE - 1) / LINE, 0};
    }
    nx.per = (nx.rows * nx.lines + tiles - 1) / tiles;
    return nx;
}

/* Row tile t of a group asks for its share of the next group's cache lines, into L2, so that the
 * next group's first tile finds its weight rows there, not in memory: the hardware prefetcher had
 * not kept up with NR rows of 3 KB at once (Intel Xeon, AVX-512, 58 rows, one thread: 768 -> 768
 * 91 -> 104 GFLOP/s, 768 -> 3072 84 -> 97, 3072 -> 768 81 -> 87). Always inlined: GCC 12 takes a
 * function whose only statements are prefetches for one without effects and drops the calls to
 * it. */
static inline __attribute__((always_inline)) void prefetch_share(next_rows nx, size_t ld, long t)
{
    long q = t * nx.per, end = q + nx.per < nx.rows * nx.lines ? q + nx.per : nx.rows * nx.lines;
    if (q >= end) return;
    const float *row = nx.w + (size_t)(q / nx.lines) * ld;
    for (long line = q % nx.lines; q < end; q++) {
        __builtin_prefetch(row + (size_t)line * LINE, 0, 2);
        if (++line == nx.lines) line = 0, row += ld;
    }
}

/* Over groups of NR columns, blocks of KC of k and tiles of MR rows, every tile by tile_fn. A
 * group's blocks come in turn, so that where k spans several blocks its NR weight rows are read
 * from start to end, not one block of every group's rows in each pass over the columns (k = 3072,
 * one thread, weights from memory: 133-149 -> 142-162 GFLOP/s; the text tower 1-2% faster at avx2
 * and avx512, Intel Xeon). Each output still adds its blocks in order: the same bits. */
#define TILES(tile_fn, ...)                                                                        \
    for (int j = 0; j < n; j += NR) {                                                              \
        int nr = n - j < NR ? n - j : NR;                                                          \
        for (int k0 = 0; k0 < k; k0 += KC) {                                                       \
            int kc = k - k0 < KC ? k - k0 : KC;                                                    \
            const float *wj = w + (size_t)j * k + k0;                                              \
            next_rows next = next_group(w, n, k, j, k0, kc, (m + MR - 1) / MR);                    \
            for (long i = 0; i < m; i += MR) {                                                     \
                prefetch_share(next, (size_t)k, i / MR);                                           \
                const float *xi = x + (size_t)i * k + k0;                                          \
                float *ci = c + (size_t)i * ldc + j;                                               \
                if (m - i >= MR && nr == NR)                                                       \
                    tile_fn(xi, wj, (size_t)k, kc, ci, ldc, MR, NR, k0 == 0, ##__VA_ARGS__);       \
                else                                                                               \
                    tile_fn(xi, wj, (size_t)k, kc, ci, ldc, m - i < MR ? (int)(m - i) : MR, nr, k0 == 0, \
                            ##__VA_ARGS__);                                                        \
            }                                                                                      \
        }                                                                                          \
    }

void KERNEL(gemm_dot)(const float *x, const float *w, float *c, long m, int n, int k, int ldc)
{
#if PHASED
    int s = phase(x, w, k);
    if (s >= 0) {
        TILES(tile_phased, s);
        return;
    }
#endif
    TILES(tile);
}
