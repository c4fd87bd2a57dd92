/* Texts with no tokens (blank.h). */
#include "blank.h"

#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "strlist.h"

int text_tokenless(const align_model *m, const char *text)
{
    int32_t *ids;
    size_t n;
    align_error err;
    if (align_tokenize(m, text, strlen(text), &ids, &n, &err)) return 0;
    free(ids);
    return n <= 2; /* [CLS] and [SEP] */
}

int refuse_blank(const align_model *m, char *const *texts, size_t n, const char *command, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (m ? text_tokenless(m, texts[i]) : text_blank(texts[i], strlen(texts[i])))
            return usage_error(command, "%s %zu of %zu is blank", what, i + 1, n), -1;
    return 0;
}
