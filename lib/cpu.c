/* cpu.c: which OpenBLAS kernel runs, and which one this CPU deserves.
 *
 * Debian's OpenBLAS picks its kernel from cpuid when it loads. A CPU newer than the library (an
 * AVX-512 Xeon or EPYC under OpenBLAS 0.3.21) can fall back to the SSE3 "Prescott" kernel, 4-5x
 * slower. The choice is made in the library's constructor, before main, so the only fix that works
 * with the shared library is to run the program again with OPENBLAS_CORETYPE set. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "align.h"
#include "cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (unsigned long long)hi << 32 | lo;
}

/* What the CPU and the OS together allow: the OS must save the wide registers (XCR0). */
simd_level cpu_level(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return LEVEL_SSE;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return LEVEL_SSE;
    unsigned long long xcr0 = xgetbv0();
    if ((xcr0 & 6) != 6) return LEVEL_SSE;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return LEVEL_AVX;
    int avx2 = (b >> 5) & 1;
    int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 28) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
    if (avx512 && fma && (xcr0 & 0xe6) == 0xe6) return LEVEL_AVX512; /* F, DQ, CD, BW, VL; opmask + zmm state */
    if (avx2 && fma) return LEVEL_AVX2;
    return LEVEL_AVX;
}
#else
/* Elsewhere (aarch64: NEON comes through the compiler's generic vectors) there is one level, and no
 * OpenBLAS kernel this file knows how to upgrade. */
simd_level cpu_level(void)
{
    return LEVEL_GENERIC;
}
#endif

/* The level an OpenBLAS kernel name stands for; LEVEL_AVX512 for names it does not know, so an
 * unknown (newer) kernel is never replaced. */
static simd_level kernel_level(const char *core)
{
    static const char *const sse[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom",
                                      "Katmai", "Coppermine", "Northwood", "Banias", "Opteron",
                                      "Opteron(SSE3)", "Barcelona", "Nano", "Bobcat", "Unknown", NULL};
    static const char *const avx[] = {"Sandybridge", "Bulldozer", "Piledriver", "Steamroller", NULL};
    static const char *const avx2[] = {"Haswell", "Zen", "Excavator", "SkylakeX_AVX2", NULL};
    for (int i = 0; sse[i]; i++)
        if (strcasecmp(core, sse[i]) == 0) return LEVEL_SSE;
    for (int i = 0; avx[i]; i++)
        if (strcasecmp(core, avx[i]) == 0) return LEVEL_AVX;
    for (int i = 0; avx2[i]; i++)
        if (strcasecmp(core, avx2[i]) == 0) return LEVEL_AVX2;
    return LEVEL_AVX512;
}

const char *align_blas_core(void)
{
    const char *core = openblas_get_corename();
    return core ? core : "unknown";
}

int blas_row_period(const char *core)
{
    static const struct {
        const char *core;
        int period;
    } measured[] = {
        {"SkylakeX", 1},     {"Cooperlake", 1}, {"Sandybridge", 1}, {"Nano", 1},       {"armv8", 1},
        {"cortexa53", 1},    {"cortexa57", 1},  {"cortexa72", 1},   {"cortexa73", 1},  {"falkor", 1},
        {"thunderx", 1},     {"thunderx2t99", 1}, {"tsv110", 1},    {"emag8180", 1},   {"neoversen1", 1},
        {"neoversev1", 1},   {"neoversen2", 1}, {"Prescott", 2},    {"Core2", 4},      {"Penryn", 4},
        {"Dunnington", 4},   {"Atom", 4},       {"Barcelona", 4},   {"Bobcat", 4},     {"Nehalem", 8},
        {"Haswell", 12},     {"Zen", 12},
    };
    for (size_t i = 0; i < sizeof measured / sizeof measured[0]; i++)
        if (strcasecmp(core, measured[i].core) == 0) return measured[i].period;
    return 0;
}

const char *core_upgrade(const char *loaded, simd_level cpu)
{
    if (kernel_level(loaded) >= cpu) return NULL;
    switch (cpu) {
    case LEVEL_AVX512: return "SkylakeX";
    case LEVEL_AVX2: return "Haswell";
    case LEVEL_AVX: return "Sandybridge";
    case LEVEL_SSE:
    case LEVEL_GENERIC: break;
    }
    return NULL;
}

const char *align_blas_better_core(void)
{
    if (getenv("OPENBLAS_CORETYPE")) return NULL; /* the user chose */
    return core_upgrade(align_blas_core(), cpu_level());
}

void align_blas_reexec(char **argv)
{
    const char *core = align_blas_better_core();
    if (!core || setenv("OPENBLAS_CORETYPE", core, 1) != 0) return;
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"); /* exec failed: stay as we are, and say so truthfully */
}
