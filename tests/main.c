/* The test runner: runs every registered test (or those whose name contains argv[1]). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "test.h"

#define MAX_TESTS 1024

struct test_case {
    const char *name, *file;
    test_fn fn;
    int order;
};
static struct test_case tests[MAX_TESTS];
static int n_tests, current_failures, current_skipped;

void test_register(const char *name, const char *file, test_fn fn)
{
    if (n_tests == MAX_TESTS) {
        fprintf(stderr, "too many tests\n");
        exit(2);
    }
    tests[n_tests].name = name;
    tests[n_tests].file = file;
    tests[n_tests].fn = fn;
    tests[n_tests].order = n_tests;
    n_tests++;
}

void test_fail_at(const char *file, int line, const char *fmt, ...)
{
    if (current_failures++ < 20) {
        va_list ap;
        va_start(ap, fmt);
        printf("    %s:%d: ", file, line);
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
    }
    fflush(stdout);
}

void test_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("    note: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

void test_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("    skipped: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    current_skipped = 1;
}

const char *test_emulator(void)
{
    const char *emulator = getenv("ALIGN_EMULATOR");
    return emulator && *emulator ? emulator : NULL;
}

int test_skip_under_emulation(const char *why)
{
    const char *emulator = test_emulator();
    if (emulator) test_skip("under %s: %s", emulator, why);
    return emulator != NULL;
}

int test_skip_in_a_rerun(void)
{
    const char *rerun = getenv("ALIGN_RERUN");
    if (!rerun || strcmp(rerun, "1") != 0) return 0;
    if (test_skip_under_emulation("a rerun: nothing in it depends on the CPU; the native run checks it")) return 1;
    test_skip("a rerun on OpenBLAS's %s kernel: nothing in it depends on the kernel; the first run checks it",
              align_blas_core());
    return 1;
}

/* Which machine the results are from: a failure on one CPU kind or under an emulator reads
 * differently. uname gives the emulated machine under qemu; make test names the emulator. */
static void print_platform(void)
{
    struct utsname u;
    const char *emulator = test_emulator();
    if (uname(&u) != 0) memset(&u, 0, sizeof u);
    printf("platform: %s %s, %d CPUs, OpenBLAS kernel %s", u.sysname, u.machine, align_cpu_count(),
           align_blas_core());
    if (emulator) printf(", under %s", emulator);
    printf("\n");
}

/* Constructors of different files run in an order the linker chooses: sort by file, then by
 * position in the file, for a stable report. */
static int by_file_then_order(const void *a, const void *b)
{
    const struct test_case *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : x->order - y->order;
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    qsort(tests, (size_t)n_tests, sizeof tests[0], by_file_then_order);
    print_platform();
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < n_tests; i++) {
        if (filter && !strstr(tests[i].name, filter) && !strstr(tests[i].file, filter)) continue;
        current_failures = 0;
        current_skipped = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        printf("%s ...\n", tests[i].name);
        fflush(stdout);
        tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) * 1e-6;
        if (current_failures) {
            printf("FAIL %s (%d failed checks)\n", tests[i].name, current_failures);
            failed++;
        } else if (current_skipped) {
            printf("skip %s\n", tests[i].name);
            skipped++;
        } else {
            printf("ok   %s (%.0f ms)\n", tests[i].name, ms);
            passed++;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed", passed, failed);
    if (skipped) printf(", %d skipped", skipped);
    printf("\n");
    return failed ? 1 : 0;
}
