/* The query syntax of align search (query.h). */
#include "query.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strlist.h"

/* An operand as a message shows it: on one line (control characters as '?'), cut after 80 bytes. */
static const char *shown(const char *s, char *buf)
{
    size_t n = 0;
    for (; s[n] && n < 80; n++) buf[n] = (unsigned char)s[n] < 0x20 || s[n] == 0x7f ? '?' : s[n];
    snprintf(buf + n, 4, "%s", s[n] ? "..." : "");
    return buf;
}

static int is_operator(const char *s)
{
    return (s[0] == '+' || s[0] == '-') && s[1] == 0;
}

int is_decimal(const char *s)
{
    if (*s == '+' || *s == '-') s++;
    if (!isdigit((unsigned char)*s) && !(*s == '.' && isdigit((unsigned char)s[1]))) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s) && !strchr(".eE+-", *s)) return 0;
    return 1;
}

/* "2*x": the weight 2 and the rest; a prefix that is not a decimal number leaves the term whole. */
static int parse_weight(const char *s, query_term *t, char *msg, size_t cap)
{
    const char *star = strchr(s, '*');
    t->weight = 1;
    t->value = s;
    if (!star || star == s) return 0;
    char num[64], *end;
    size_t len = (size_t)(star - s);
    if (len >= sizeof num) return 0;
    memcpy(num, s, len);
    num[len] = 0;
    float w = strtof(num, &end);
    if (*end || !is_decimal(num)) return 0;
    char b[84];
    if (!isfinite(w)) return snprintf(msg, cap, "the weight of '%s' is not a finite number", shown(s, b)), -1;
    t->weight = w;
    t->value = star + 1;
    return 0;
}

static int parse_term(const char *s, float sign, query_term *t, char *msg, size_t cap)
{
    if (parse_weight(s, t, msg, cap)) return -1;
    t->weight *= sign;
    t->kind = TERM_AUTO;
    if (strncmp(t->value, "text:", 5) == 0) t->kind = TERM_TEXT, t->value += 5;
    else if (strncmp(t->value, "image:", 6) == 0) t->kind = TERM_IMAGE, t->value += 6;
    char b[84];
    /* a blank term is most likely an unset shell variable, as a blank label is */
    if (text_blank(t->value, strlen(t->value)))
        return snprintf(msg, cap, "the query term '%s' is %s", shown(s, b), *t->value ? "blank" : "empty"), -1;
    return 0;
}

int query_parse(char *const *args, int n, query_term *terms, int *n_terms, char *msg, size_t cap)
{
    *n_terms = 0;
    if (n <= 0) return snprintf(msg, cap, "no query"), -1;
    float sign = 1;
    char b[84];
    for (int i = 0; i < n; i++) {
        int want_term = i % 2 == 0;
        if (want_term && is_operator(args[i]))
            return snprintf(msg, cap, "'%s' where a text or an image was expected", shown(args[i], b)), -1;
        if (!want_term && !is_operator(args[i]))
            return snprintf(msg, cap, "'%s' follows another term: put + or - between terms, and quote a text of "
                                      "several words", shown(args[i], b)), -1;
        if (!want_term) {
            sign = args[i][0] == '-' ? -1 : 1;
            continue;
        }
        if (parse_term(args[i], sign, &terms[(*n_terms)++], msg, cap)) return -1;
    }
    if (n % 2 == 0) return snprintf(msg, cap, "the query ends with '%s'", shown(args[n - 1], b)), -1;
    return 0;
}
