/* kernels.c: the kernel tables of the levels compiled in, and the choice of one at load. */
#include "kernels.h"

#include <string.h>

#include "error.h"

#if defined(__x86_64__)
#include "cpu.h"

static const kernel_table tables[] = {KERNEL_TABLE(baseline), KERNEL_TABLE(avx2), KERNEL_TABLE(avx512)};

int kernel_cpu_level(void)
{
    simd_level l = cpu_level();
    return l >= LEVEL_AVX512 ? 2 : l >= LEVEL_AVX2 ? 1 : 0;
}
#else
/* one level: whatever the target's compiler vectorises by default (NEON on aarch64) */
static const kernel_table tables[] = {KERNEL_TABLE(generic)};

int kernel_cpu_level(void)
{
    return 0;
}
#endif

#define N_LEVELS ((int)(sizeof tables / sizeof tables[0]))

const kernel_table *kernel_table_at(int level)
{
    return &tables[level < 0 ? 0 : level >= N_LEVELS ? N_LEVELS - 1 : level];
}

align_status kernel_table_choose(const char *cap, const char *variable, const kernel_table **table,
                                 align_error *err)
{
    /* the names a cap may give, lowest first; where fewer levels are compiled in, a name above the
     * last one stands for the last */
    static const char *const names[] = {"baseline", "avx2", "avx512"};
    int level = kernel_cpu_level();
    if (cap && *cap) {
        int i = 0;
        while (i < 3 && strcmp(cap, names[i]) != 0) i++;
        if (i == 3)
            return align_fail(err, ALIGN_ERR_ARG, "%s=%.*s: expected baseline, avx2 or avx512", variable,
                              ERR_SHOWN(strlen(cap)), cap);
        level = i < level ? i : level;
    }
    *table = kernel_table_at(level);
    return ALIGN_OK;
}
