/* test.h: a small test runner. TEST(name) { ... } registers a test; CHECK* record failures and
 * go on, so one run shows every broken value. build/test_align [SUBSTRING] runs the matching tests
 * and ends with the line "N passed, N failed" (", N skipped" after it when a test was skipped). */
#ifndef ALIGN_TEST_H
#define ALIGN_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cJSON.h>

#include "align.h"

typedef void (*test_fn)(void);
void test_register(const char *name, const char *file, test_fn fn);
void test_fail_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prints a note under the test's name (for reporting measured differences). */
void test_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Marks the running test skipped, with the reason (the test returns right after). A run that skipped
 * something ends with "N passed, N failed, N skipped". */
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The emulator make test runs the suite under (ALIGN_EMULATOR: qemu for CROSS and EMULATE), or NULL
 * when the suite runs natively. */
const char *test_emulator(void);
/* Under an emulator: skips the running test ("under <emulator>: <why>") and returns 1. */
int test_skip_under_emulation(const char *why);
/* In a rerun of the suite (ALIGN_RERUN=1, make test RERUN=1) that changes only the CPU it runs on,
 * emulated (make test EMULATE=..., x86-64 run by qemu on x86-64, which ran such tests 15 to 40
 * times slower than qemu's aarch64 emulation on one host) or OpenBLAS's kernel (OPENBLAS_CORETYPE):
 * skips a test whose result depends on neither align's choice of level nor OpenBLAS's kernel (file
 * handling, the index's locking, align's own loops at levels named one by one), which the first,
 * native run on this machine checks at every level an emulated CPU has. The Makefile sets it under
 * EMULATE where the host has AVX2 (no emulated CPU goes higher), never under CROSS (another
 * architecture's code). Returns 1 when it skipped. */
int test_skip_in_a_rerun(void);

#define TEST(name)                                                                                 \
    static void name(void);                                                                        \
    __attribute__((constructor)) static void register_##name(void) { test_register(#name, __FILE__, name); } \
    static void name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) test_fail_at(__FILE__, __LINE__, "%s", #cond);                               \
    } while (0)
#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) test_fail_at(__FILE__, __LINE__, __VA_ARGS__);                               \
    } while (0)
#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) test_fail_at(__FILE__, __LINE__, "%s == %lld, expected %lld", #a, a_, b_);  \
    } while (0)
#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                    \
            test_fail_at(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
    } while (0)
/* The string a contains b. */
#define CHECK_CONTAINS(a, b)                                                                       \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !strstr(a_, b_))                                                                \
            test_fail_at(__FILE__, __LINE__, "%s == \"%s\", should contain \"%s\"", #a, a_ ? a_ : "(null)", b_); \
    } while (0)
/* Max |a - b| over n floats is at most tol; names the first worst index. */
#define CHECK_CLOSE(a, b, n, tol) test_check_close(__FILE__, __LINE__, #a, (a), (b), (n), (tol))

/* Returns the max abs difference, failing the test when it is above tol. */
double test_check_close(const char *file, int line, const char *what, const float *a, const float *b,
                        size_t n, double tol);

/* Sleeps ms milliseconds, through signals. */
void sleep_ms(long ms);
/* The loaded OpenBLAS kernel's row period (lib/cpu.h); 0, after marking the test skipped, for a
 * kernel not measured, where align promises no bits independent of the threads or the batch. */
int measured_blas_period(void);

/* tests/fixtures/<rel> (the directory can be moved with $ALIGN_FIXTURES). Static buffer rotation:
 * the result stays valid for the next 8 calls. */
const char *fixture(const char *rel);
/* Parses a JSON file, NULL (and a failure) when it cannot. */
cJSON *load_json(const char *path);
/* A {"shape": [...], "data": [...]} tensor as malloc'ed floats; *n gets the element count. */
float *json_tensor(const cJSON *t, size_t *n);
/* Shape entry i of a JSON tensor. */
int json_tensor_dim(const cJSON *t, int i);
/* A file's bytes with a NUL after them (malloc'ed), failing the test when it cannot be read. */
uint8_t *read_fixture_bytes(const char *path, size_t *n);
/* A binary 8-bit PPM ("P6\nW H\n255\n" + pixels) read without the library's decoder: the form the
 * expected pixels of the image fixtures take. 0 (and a failure) when it is not one. */
int load_ppm(const char *path, align_image *img);
/* A scratch directory for this run (created on first use, removed at exit). */
const char *test_tmpdir(void);
/* test_tmpdir()/(the formatted name), in one of 16 rotating static buffers. */
const char *tmp_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes size bytes to tmpdir/name and returns the path (static rotation like fixture). */
const char *write_tmp(const char *name, const void *data, size_t size);

/* Runs a shell command; captures stdout and stderr (malloc'ed, NUL-terminated) and the exit status. */
typedef struct {
    int status; /* exit status, or 128 + signal */
    char *out, *err;
    size_t out_len, err_len;
} run_result;
run_result run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void run_free(run_result *r);
/* The built CLI (build dir chosen by the Makefile). */
const char *align_bin(void);

/* Built with AddressSanitizer (GCC's spelling, then clang's): its allocator, quarantine and shadow
 * memory change what a test of memory use would measure. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#endif
