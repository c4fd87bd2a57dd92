/* record_shape.h: what one record of a run's output holds, so that --resume carries on only an
 * output that the same command wrote with the same labels: classify's "results" (as many as it
 * keeps, each a label of the run's, none twice) or embed's "embedding" (as many floats as the
 * model gives), or in JSON Lines an "error". */
#ifndef ALIGN_CLI_RECORD_SHAPE_H
#define ALIGN_CLI_RECORD_SHAPE_H

#include <stddef.h>

#include "records.h"
#include "strlist.h"

typedef struct {
    const char *field;     /* "results" or "embedding" */
    size_t count;          /* the results kept (a TSV group's rows), or the embedding's floats */
    const strlist *labels; /* classify's labels; NULL for embed */
} record_shape;

/* A shape ready to check lines against: its labels sorted as the format writes them. */
typedef struct {
    const record_shape *shape;
    out_format format;
    char **sorted;  /* [labels->count] */
    size_t *seen;   /* [labels->count]: the check that last met each label */
    size_t checks;
} shape_check;

/* 0, or -1 when out of memory (reported). */
int shape_check_init(shape_check *c, const record_shape *shape, out_format format);
void shape_check_free(shape_check *c);

/* Whether a JSON Lines record holds what the shape says: rest is the line after the image's
 * string (n bytes, from the comma to the newline). 1 for a record of results or an embedding, 2
 * for an error record (any run writes those alike), 0 for neither. */
int shape_jsonl_matches(shape_check *c, const char *rest, size_t n);

/* A TSV row's label (len bytes, as written): the index of the first of the sorted labels equal to
 * it, or -1. */
long shape_tsv_label(const shape_check *c, const char *label, size_t len);
/* Counts the label at first (shape_tsv_label's) once more in the record being checked: 0 when its
 * record has it as often as the run's labels do already. */
int shape_take(shape_check *c, long first);

#endif
