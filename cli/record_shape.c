/* What a run's records hold, and whether an earlier output's do. */
#include "record_shape.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* A label as a TSV field holds it (escaped), or as JSON decodes it (itself). */
static char *written(const char *label, out_format format)
{
    return format == FMT_TSV ? record_key(label, FMT_TSV) : strdup(label);
}

int shape_check_init(shape_check *c, const record_shape *shape, out_format format)
{
    *c = (shape_check){.shape = shape, .format = format};
    size_t n = shape->labels ? shape->labels->count : 0;
    if (!n) return 0;
    int oom = !(c->sorted = calloc(n, sizeof *c->sorted)) || !(c->seen = calloc(n, sizeof *c->seen));
    for (size_t i = 0; i < n && !oom; i++) oom = !(c->sorted[i] = written(shape->labels->items[i], format));
    if (oom) {
        error_msg("out of memory");
        shape_check_free(c);
        return -1;
    }
    qsort(c->sorted, n, sizeof *c->sorted, strlist_order);
    return 0;
}

void shape_check_free(shape_check *c)
{
    for (size_t i = 0; c->sorted && i < c->shape->labels->count; i++) free(c->sorted[i]);
    free(c->sorted);
    free(c->seen);
    *c = (shape_check){0};
}

/* The first of the sorted labels equal to label (a label given twice is there twice), or -1. */
static long label_index(const shape_check *c, const char *label)
{
    size_t n = c->sorted ? c->shape->labels->count : 0, at = strlist_lower_bound(c->sorted, n, label);
    return at < n && strcmp(c->sorted[at], label) == 0 ? (long)at : -1;
}

long shape_tsv_label(const shape_check *c, const char *label, size_t len)
{
    char *s = strndup(label, len);
    long at = s ? label_index(c, s) : -1;
    free(s);
    return at;
}

int shape_take(shape_check *c, long first)
{
    size_t n = c->shape->labels->count;
    for (size_t at = (size_t)first; at < n && strcmp(c->sorted[at], c->sorted[first]) == 0; at++)
        if (c->seen[at] != c->checks) return c->seen[at] = c->checks, 1;
    return 0;
}

/* A result names one of the labels, not more often than the labels hold it (c->checks tells
 * records apart). */
static int result_matches(shape_check *c, const cJSON *result)
{
    const cJSON *label = cJSON_GetObjectItemCaseSensitive(result, "label");
    long at = cJSON_IsString(label) ? label_index(c, label->valuestring) : -1;
    return at >= 0 && shape_take(c, at);
}

/* A record's text after the image, as align writes it (read from the text: a file name's bytes
 * that are not UTF-8 are lone surrogates, which cJSON refuses, and a parse of an embedding's 640
 * floats took 120 us a line). A quote inside a JSON string is escaped, so "\"," starts a key. */
static int is_error(const char *rest, size_t n)
{
    static const char head[] = ",\"error\":\"";
    return n >= sizeof head + 2 && memcmp(rest, head, sizeof head - 1) == 0 && memcmp(rest + n - 3, "\"}\n", 3) == 0;
}

/* embed's "embedding" array, whose numbers hold no commas, closing the record */
static int embedding_matches(const shape_check *c, const char *rest, size_t n)
{
    static const char head[] = ",\"embedding\":[";
    size_t h = sizeof head - 1;
    if (n < h + 4 || memcmp(rest, head, h) != 0 || memcmp(rest + n - 3, "]}\n", 3) != 0) return 0;
    size_t commas = 0;
    for (size_t i = h; i < n - 3; i++) commas += rest[i] == ',';
    return commas + 1 == c->shape->count;
}

/* classify's "results", parsed: {"results":[...]} made of the rest (labels are UTF-8) */
static int results_match(shape_check *c, const char *rest, size_t n)
{
    char *text = malloc(n + 1);
    if (!text) return 0;
    text[0] = '{';
    memcpy(text + 1, rest + 1, n - 1);
    cJSON *record = cJSON_ParseWithLength(text, n);
    free(text);
    const cJSON *field = cJSON_GetObjectItemCaseSensitive(record, c->shape->field);
    int ok = cJSON_IsArray(field) && cJSON_GetArraySize(record) == 1 &&
             (size_t)cJSON_GetArraySize(field) == c->shape->count;
    c->checks++;
    const cJSON *item;
    cJSON_ArrayForEach(item, field) ok = ok && result_matches(c, item);
    cJSON_Delete(record);
    return ok;
}

int shape_jsonl_matches(shape_check *c, const char *rest, size_t n)
{
    if (n < 1 || rest[0] != ',') return 0;
    if (is_error(rest, n)) return 2;
    return c->shape->labels ? results_match(c, rest, n) : embedding_matches(c, rest, n);
}
