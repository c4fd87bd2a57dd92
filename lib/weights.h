/* weights.h: what a model expects of its checkpoint, and reading tensors out of it.
 *
 * Each tower lists the tensors its config implies (name, shape) in a spec_list; model.c checks the
 * checkpoint against the whole list before any compute, then each tower fetches its tensors as
 * float32 through a weight_store, which keeps every buffer it had to allocate. */
#ifndef ALIGN_WEIGHTS_H
#define ALIGN_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "memory.h"
#include "tensors.h"

enum {
    SPEC_OPTIONAL = 1, /* may be absent: buffers and the unused pooler */
    SPEC_I64 = 2       /* an int64 buffer rather than a float tensor */
};

typedef struct {
    char name[128];
    int flags;
    int ndim;
    int64_t shape[4];
} tensor_spec;

typedef struct {
    tensor_spec *items;
    size_t count, cap;
    int out_of_memory;
} spec_list;

/* Appends a spec; ndim of the d* are used. Name is a printf format. */
void spec_add(spec_list *list, int flags, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
              const char *fmt, ...) __attribute__((format(printf, 8, 9)));
void spec_list_free(spec_list *list);

/* Checks tf against every spec and reports all missing or mis-shaped tensors in one error. */
align_status spec_check(const spec_list *list, const tensor_file *tf, const char *file, align_error *err);

typedef struct {
    const tensor_file *tf;
    const char *file;
    void **owned;
    size_t n_owned, cap_owned;
    int64_t bytes_owned;
    big_buffer arena; /* weights_alloc carves from it while it lasts */
    size_t arena_floats, arena_used;
} weight_store;

/* Sets aside room for n floats of weights_alloc in one huge-page-backed buffer (a hint: without
 * it, or past it, weights_alloc uses malloc). */
void weights_reserve(weight_store *ws, size_t n);

/* A float32 view of a checked tensor: in place when the file holds aligned F32, else a widened
 * copy owned by the store. NULL (with err set) when out of memory. */
const float *weights_get(weight_store *ws, const char *name, align_error *err);
/* An uninitialised buffer of n floats owned by the store. */
float *weights_alloc(weight_store *ws, size_t n, align_error *err);
/* Says a tensor's file bytes will not be read again (its values now live in a copy), so their pages
 * leave the process's resident set; the page cache keeps them. */
void weights_release(weight_store *ws, const char *name);
/* Frees every buffer the store allocated. */
void weights_free(weight_store *ws);

#endif
