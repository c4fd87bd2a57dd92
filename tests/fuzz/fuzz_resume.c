/* fuzz_resume: arbitrary bytes as the output --resume carries on, through resume_scan (cli/resume.c)
 * as embed's JSON Lines and as classify's JSON Lines and TSV keeping one to three of three labels. What it keeps must end on a
 * line boundary inside the input, hold at most one key per line, and a refusal is one line. */
#include <stdint.h>

#include "resume.h"
#include "fuzz_cli_errors.h"

static void scan(const uint8_t *data, size_t size, out_format format, const record_shape *shape)
{
    size_t rows = format == FMT_TSV ? shape->count : 1;
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f) return;
    strlist keys = {0};
    off_t valid = -1;
    size_t failed = 0;
    fuzz_cli_errors = 0;
    int rc = resume_scan(f, "out.partial", format, "image\tlabel\tscore\tlogit", shape, &keys, &failed, &valid);
    fclose(f);
    FUZZ_ASSERT((rc != 0) == (fuzz_cli_errors == 1), "rc %d with %d error lines", rc, fuzz_cli_errors);
    if (rc == 0) {
        FUZZ_ASSERT(valid >= 0 && (size_t)valid <= size, "valid %lld of %zu bytes", (long long)valid, size);
        FUZZ_ASSERT(valid == 0 || data[valid - 1] == '\n', "valid %lld is not a line's end", (long long)valid);
        size_t lines = 0;
        for (off_t i = 0; i < valid; i++) lines += data[i] == '\n';
        FUZZ_ASSERT(keys.count * rows <= lines, "%zu keys from %zu lines", keys.count, lines);
        FUZZ_ASSERT(failed <= keys.count, "%zu error records of %zu", failed, keys.count);
        for (size_t i = 0; i < keys.count; i++)
            FUZZ_ASSERT(!strchr(keys.items[i], '\n'), "key %zu holds a newline", i);
    }
    strlist_free(&keys);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char a[] = "a", b[] = "b", c[] = "c";
    static char *names[] = {a, b, c};
    strlist labels = {names, 3, 3};
    record_shape embed = {"embedding", 3, NULL};
    scan(data, size, FMT_JSONL, &embed);
    for (size_t rows = 1; rows <= 3; rows++) {
        record_shape classify = {"results", rows, &labels};
        scan(data, size, FMT_JSONL, &classify);
        scan(data, size, FMT_TSV, &classify);
    }
    return 0;
}
