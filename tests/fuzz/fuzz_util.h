/* fuzz_util.h: what every libFuzzer target checks beyond "no crash, no leak": a failure is an
 * align_error whose message is one non-empty line that names the input. A broken expectation
 * aborts, which libFuzzer reports as a crash with the input that caused it. */
#ifndef ALIGN_FUZZ_UTIL_H
#define ALIGN_FUZZ_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"

/* Where the fixtures are: fuzz.mk passes the repository's path, so targets run from anywhere. */
#ifndef ALIGN_FUZZ_FIXTURES
#define ALIGN_FUZZ_FIXTURES "tests/fixtures"
#endif

#define FUZZ_ASSERT(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: expectation failed: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A failed call's error: a real status, and a message of one line that starts with name (when
 * name is not NULL). */
static inline void fuzz_check_error(align_status s, const align_error *err, const char *name)
{
    FUZZ_ASSERT(s != ALIGN_OK, "no error");
    FUZZ_ASSERT(err->code == s, "status %d but err.code %d", (int)s, (int)err->code);
    size_t n = strnlen(err->message, sizeof err->message);
    FUZZ_ASSERT(n > 0 && n < sizeof err->message, "message empty or unterminated");
    FUZZ_ASSERT(!memchr(err->message, '\n', n) && !memchr(err->message, '\r', n), "message is not one line: %s",
                err->message);
    if (name) {
        size_t k = strlen(name);
        FUZZ_ASSERT(strncmp(err->message, name, k) == 0 && err->message[k] == ':',
                    "message does not start with \"%s:\": %s", name, err->message);
    }
}

/* Reads a fixture file whole (the harness's own setup: failing here is a broken checkout). */
static inline char *fuzz_read_fixture(const char *rel, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", ALIGN_FUZZ_FIXTURES, rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz: cannot open %s\n", path);
        abort();
    }
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap + 1);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0)
        if ((n += r) == cap) buf = realloc(buf, (cap *= 2) + 1);
    fclose(f);
    if (!buf) abort();
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

#endif
