/* fuzz_inputs: arbitrary bytes as a --labels file and as a --files-from list (newline- and
 * NUL-separated), through the parsers cli/inputs.c runs on the file's contents. Every label must
 * be a non-empty line without a newline or NUL that does not start with '#'; every path must be
 * non-empty; an error is one line. */
#include <stdarg.h>
#include <stdint.h>

#include "inputs.h"
#include "fuzz_util.h"

static int errors;

/* cli/main.c's, which prints; here the line is checked and dropped. */
void error_msg(const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    FUZZ_ASSERT(n > 0 && !strchr(line, '\n'), "error message is not one line: %s", line);
    errors++;
}

static size_t count_byte(const uint8_t *p, size_t n, uint8_t c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += p[i] == c;
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    strlist l = {0};
    errors = 0;
    int rc = parse_labels(text, size, "labels.txt", &l);
    FUZZ_ASSERT((rc != 0) == (errors == 1), "rc %d with %d error lines", rc, errors);
    FUZZ_ASSERT(l.count <= count_byte(data, size, '\n') + 1, "%zu labels from fewer lines", l.count);
    for (size_t i = 0; i < l.count; i++) {
        const char *s = l.items[i];
        FUZZ_ASSERT(s[0] && s[0] != '#' && !strchr(s, '\n'), "label %zu: \"%s\"", i, s);
    }
    strlist_free(&l);

    for (int nul = 0; nul < 2; nul++) {
        strlist f = {0};
        errors = 0;
        rc = parse_files_from(text, size, "list.txt", nul, &f);
        FUZZ_ASSERT((rc != 0) == (errors == 1), "rc %d with %d error lines", rc, errors);
        if (nul) FUZZ_ASSERT(rc == 0, "a NUL-separated list cannot fail");
        size_t seps = count_byte(data, size, nul ? 0 : '\n');
        FUZZ_ASSERT(f.count <= seps + 1, "%zu paths from %zu separators", f.count, seps);
        for (size_t i = 0; i < f.count; i++) {
            const char *s = f.items[i];
            FUZZ_ASSERT(s[0], "empty path %zu", i);
            if (!nul) FUZZ_ASSERT(!strchr(s, '\n'), "path %zu holds a newline", i);
        }
        strlist_free(&f);
    }
    return 0;
}
