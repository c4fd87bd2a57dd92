/* fuzz_query: arbitrary bytes split at NUL into operands, as align search's query (cli/query.c).
 * An accepted query alternates terms and operators, every term has a non-empty value inside its
 * operand and a finite weight; a refusal is one line. */
#include <math.h>
#include <stdint.h>

#include "query.h"
#include "fuzz_util.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1), *args[MAX_ARGS];
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    int n = 0;
    for (char *s = buf; n < MAX_ARGS && s <= buf + size; s += strlen(s) + 1) args[n++] = s;
    query_term terms[MAX_ARGS];
    int n_terms = -1;
    char msg[256] = "";
    int rc = query_parse(args, n, terms, &n_terms, msg, sizeof msg);
    if (rc) {
        FUZZ_ASSERT(msg[0] && !strchr(msg, '\n'), "refusal is not one line: %s", msg);
    } else {
        FUZZ_ASSERT(n % 2 == 1 && n_terms == (n + 1) / 2, "%d terms from %d operands", n_terms, n);
        for (int i = 0; i < n_terms; i++) {
            const query_term *t = &terms[i];
            FUZZ_ASSERT(t->value >= args[2 * i] && t->value < args[2 * i] + strlen(args[2 * i]) && *t->value,
                        "term %d's value is not inside its operand", i);
            FUZZ_ASSERT(isfinite(t->weight), "term %d's weight %g", i, (double)t->weight);
            FUZZ_ASSERT(t->kind == TERM_AUTO || t->kind == TERM_TEXT || t->kind == TERM_IMAGE, "kind %d", t->kind);
        }
    }
    free(buf);
    return 0;
}
