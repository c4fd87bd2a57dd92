/* Texts with no tokens (blank.h). */
#include "blank.h"

#include <stdlib.h>
#include <string.h>

int text_tokenless(const align_model *m, const char *text)
{
    int32_t *ids;
    size_t n;
    align_error err;
    if (align_tokenize(m, text, strlen(text), &ids, &n, &err)) return 0;
    free(ids);
    return n <= 2; /* [CLS] and [SEP] */
}
