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

#endif
