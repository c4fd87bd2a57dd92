/* query.h: the query syntax of align search. A query is terms joined by "+" and "-", each operator
 * an operand of its own:
 *
 *     QUERY := TERM (("+" | "-") TERM)*
 *     TERM  := [WEIGHT "*"] ["text:" | "image:"] VALUE
 *
 * WEIGHT is a decimal number (1 when absent); VALUE is a text, or the path of an image to search
 * by example. Without a prefix a VALUE that names a regular file is an image, anything else a text.
 * The query vector is the sum of each term's normalised embedding times its weight, negated after
 * "-": `photo.jpg + 'at night' - 0.5*daytime`. */
#ifndef ALIGN_CLI_QUERY_H
#define ALIGN_CLI_QUERY_H

#include <stddef.h>

typedef enum { TERM_AUTO, TERM_TEXT, TERM_IMAGE } term_kind;

typedef struct {
    float weight;      /* signed: "-" negates it */
    term_kind kind;    /* TERM_AUTO: decided by whether value names a file */
    const char *value; /* points into the operand */
} query_term;

/* Whether s is a decimal number as the README's WEIGHT and --threshold take it: digits, a point,
 * an exponent (strtof alone would take hex, "inf" and leading blanks too). */
int is_decimal(const char *s);
/* Parses the n operands into terms (at most n of them, which terms must hold). Returns 0, or -1
 * with a one-line reason in msg. */
int query_parse(char *const *args, int n, query_term *terms, int *n_terms, char *msg, size_t cap);

#endif
