/* A growable list of owned strings. */
#include "strlist.h"

#include <stdlib.h>
#include <string.h>

int strlist_add(strlist *l, const char *s, size_t len)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **items = realloc(l->items, cap * sizeof *items);
        if (!items) return -1;
        l->items = items;
        l->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, s, len);
    copy[len] = 0;
    l->items[l->count++] = copy;
    return 0;
}

void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->count; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

int strlist_order(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t strlist_lower_bound(char *const *items, size_t n, const char *key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(items[mid], key) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

long strlist_repeats(const strlist *l, const char **first)
{
    *first = NULL;
    char **sorted = malloc((l->count ? l->count : 1) * sizeof *sorted);
    if (!sorted) return -1;
    memcpy(sorted, l->items, l->count * sizeof *sorted);
    qsort(sorted, l->count, sizeof *sorted, strlist_order);
    /* the repeated strings, once each, compacted to the front of sorted (still in order) */
    size_t repeated = 0;
    for (size_t i = 0; i + 1 < l->count; i++)
        if (strcmp(sorted[i], sorted[i + 1]) == 0 && (repeated == 0 || strcmp(sorted[repeated - 1], sorted[i])))
            sorted[repeated++] = sorted[i];
    for (size_t i = 0; repeated && !*first; i++) {
        size_t at = strlist_lower_bound(sorted, repeated, l->items[i]);
        if (at < repeated && strcmp(sorted[at], l->items[i]) == 0) *first = l->items[i];
    }
    free(sorted);
    return (long)repeated;
}

int text_blank(const char *s, size_t n)
{
    while (n && s[n - 1] && strchr(" \t\n\v\f\r", s[n - 1])) n--;
    return n == 0;
}
