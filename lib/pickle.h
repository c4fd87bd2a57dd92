/* pickle.h: a restricted unpickler. It runs the opcodes of protocols 2 to 5 that a state_dict uses
 * and makes None, bools, ints, strs, tuples, lists and dicts itself; everything else is the
 * caller's, through hooks: which globals a pickle may name, what calling one makes, what a
 * persistent id stands for. Nothing is executed or imported, and what a pickle may allocate is
 * capped. */
#ifndef ALIGN_PICKLE_H
#define ALIGN_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "align.h"

typedef struct pickle pickle; /* a run: the read position, the stack, the memo, every object */
typedef struct pickle_obj pickle_obj;

typedef enum {
    PICKLE_NONE, PICKLE_BOOL, PICKLE_INT, PICKLE_STR, PICKLE_TUPLE, PICKLE_LIST, PICKLE_DICT, PICKLE_GLOBAL,
    PICKLE_EXT /* the caller's, made by a hook */
} pickle_kind;

struct pickle_obj {
    pickle_kind kind;
    union {
        int64_t i; /* BOOL, INT */
        struct {
            const char *s; /* points into the pickle */
            size_t len;
        } str;
        struct {
            pickle_obj **items; /* a dict's keys and values alternate */
            size_t n, cap;
        } seq;                  /* TUPLE, LIST, DICT */
        int global;             /* the number find_global gave it */
        struct {
            int tag;    /* index into pickle_hooks.ext_names */
            void *data; /* pickle_new_ext's zeroed bytes */
        } ext;
    };
};

/* What a pickle may do beyond building containers; every hook is required. A hook that fails
 * returns pickle_fail's or pickle_nomem's status; *out may be a NULL from pickle_new, which is
 * reported as out of memory. */
typedef struct {
    void *ctx;                     /* passed to every hook */
    const char *allowed;           /* the globals find_global knows, for the message refusing another */
    const char *const *ext_names;  /* by PICKLE_EXT tag, for messages: "a storage" */
    int (*find_global)(void *ctx, const char *module, size_t module_len, const char *name, size_t name_len);
    align_status (*reduce)(void *ctx, pickle *u, int global, pickle_obj *const *args, size_t n,
                           pickle_obj **out);
    align_status (*persistent_load)(void *ctx, pickle *u, const pickle_obj *pid, pickle_obj **out);
    align_status (*build)(void *ctx, pickle *u, const pickle_obj *target, const pickle_obj *state);
} pickle_hooks;

/* Runs data[0..size) to its STOP; *result lives until pickle_free(*u), which is due even on failure.
 * Messages read "<file>: <what> at byte N: ...". */
align_status pickle_load(const uint8_t *data, size_t size, const char *file, const char *what,
                         const pickle_hooks *hooks, align_error *err, pickle **u, pickle_obj **result);
/* Frees the run and every object it made (NULL is fine). */
void pickle_free(pickle *u);

/* For hooks. A new object, NULL when out of memory or past the cap on objects. */
pickle_obj *pickle_new(pickle *u, pickle_kind kind);
/* A new PICKLE_EXT object with size zeroed bytes of the caller's at ext.data, freed with it. */
pickle_obj *pickle_new_ext(pickle *u, int tag, size_t size);
/* Fails the run with a message at the opcode being run. */
align_status pickle_fail(pickle *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Fails the run as out of memory (or as too many objects, when that is why pickle_new refused). */
align_status pickle_nomem(pickle *u);
/* "an int", "a dict", or the caller's name for an ext object: for messages. */
const char *pickle_kind_name(const pickle *u, const pickle_obj *o);

#endif
