/* fuzz_resume: arbitrary bytes as the output --resume carries on, through resume_scan (cli/resume.c)
 * as JSON Lines and as classify's TSV at one to three rows an image. What it keeps must end on a
 * line boundary inside the input, hold at most one key per line, and a refusal is one line. */
#include <stdarg.h>
#include <stdint.h>

#include "resume.h"
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

static void scan(const uint8_t *data, size_t size, out_format format, size_t rows)
{
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f) return;
    strlist keys = {0};
    off_t valid = -1;
    errors = 0;
    int rc = resume_scan(f, "out.partial", format, "image\tlabel\tscore\tlogit", rows, &keys, &valid);
    fclose(f);
    FUZZ_ASSERT((rc != 0) == (errors == 1), "rc %d with %d error lines", rc, errors);
    if (rc == 0) {
        FUZZ_ASSERT(valid >= 0 && (size_t)valid <= size, "valid %lld of %zu bytes", (long long)valid, size);
        FUZZ_ASSERT(valid == 0 || data[valid - 1] == '\n', "valid %lld is not a line's end", (long long)valid);
        size_t lines = 0;
        for (off_t i = 0; i < valid; i++) lines += data[i] == '\n';
        FUZZ_ASSERT(keys.count * rows <= lines, "%zu keys from %zu lines", keys.count, lines);
        for (size_t i = 0; i < keys.count; i++)
            FUZZ_ASSERT(!strchr(keys.items[i], '\n'), "key %zu holds a newline", i);
    }
    strlist_free(&keys);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scan(data, size, FMT_JSONL, 1);
    for (size_t rows = 1; rows <= 3; rows++) scan(data, size, FMT_TSV, rows);
    return 0;
}
