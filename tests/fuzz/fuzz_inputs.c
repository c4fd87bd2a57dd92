/* fuzz_inputs: arbitrary bytes as a --labels file and as a --files-from list (newline- and
 * NUL-separated), through the parsers cli/inputs.c runs on the file's contents. Every label must
 * be a non-empty UTF-8 line without a newline or NUL that does not start with '#'; every path must be
 * non-empty; an error is one line. */
#include <stdint.h>

#include "inputs.h"
#include "utf8.h"
#include "fuzz_cli_errors.h"

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
    fuzz_cli_errors = 0;
    int rc = parse_labels(text, size, "labels.txt", &l);
    FUZZ_ASSERT((rc != 0) == (fuzz_cli_errors == 1), "rc %d with %d error lines", rc, fuzz_cli_errors);
    FUZZ_ASSERT(l.count <= count_byte(data, size, '\n') + 1, "%zu labels from fewer lines", l.count);
    for (size_t i = 0; i < l.count; i++) {
        const char *s = l.items[i];
        FUZZ_ASSERT(s[0] && s[0] != '#' && !strchr(s, '\n'), "label %zu: \"%s\"", i, s);
        FUZZ_ASSERT(utf8_valid_prefix((const uint8_t *)s, strlen(s)) == strlen(s), "label %zu: not UTF-8", i);
    }
    strlist_free(&l);

    for (int nul = 0; nul < 2; nul++) {
        strlist f = {0};
        fuzz_cli_errors = 0;
        rc = parse_files_from(text, size, "list.txt", nul, &f);
        FUZZ_ASSERT((rc != 0) == (fuzz_cli_errors == 1), "rc %d with %d error lines", rc, fuzz_cli_errors);
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
