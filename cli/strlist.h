/* strlist.h: a growable list of strings, each owned. */
#ifndef ALIGN_CLI_STRLIST_H
#define ALIGN_CLI_STRLIST_H

#include <stddef.h>

typedef struct {
    char **items;
    size_t count, cap;
} strlist;

/* Appends a copy of the len bytes at s; -1 when out of memory. */
int strlist_add(strlist *l, const char *s, size_t len);
void strlist_free(strlist *l);

/* strcmp's order of two char * (for qsort); and the first of n strings in that order that is not
 * below key (n when none is). */
int strlist_order(const void *a, const void *b);
size_t strlist_lower_bound(char *const *items, size_t n, const char *key);
/* How many distinct strings of l occur more than once (0 when none, -1 when out of memory), and in
 * *first the earliest in l's order of those that do. */
long strlist_repeats(const strlist *l, const char **first);

/* Whether the n bytes at s are only white space (' ', \t, \n, \v, \f, \r): a blank label, or a
 * labels file's blank line. */
int text_blank(const char *s, size_t n);

#endif
