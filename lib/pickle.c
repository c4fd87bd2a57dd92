/* pickle.c: a pickle run as a stack machine over its bytes, in memory. Containers are built here;
 * globals, calls and persistent ids go to the caller's hooks, so no name in the pickle reaches
 * code. The stack, the open MARKs and the objects made are capped; every object is kept in one
 * list and freed together, since the memo lets one object sit in many places. */
#include "pickle.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"

/* torch.save pickles dict items and list elements in batches of 1000, so a real checkpoint stays
 * far below this; it bounds what a hostile pickle can make us allocate. */
#define PICKLE_MAX_STACK 65536
/* Objects a pickle may make. A state_dict needs some twenty a tensor (an ALIGN config at its limits
 * has about 100,000 tensors); without a cap, "append 0 to a list" costs 3 bytes of pickle and
 * some 70 bytes here, so a 1 GB data.pkl could take over 20 GB. At the cap: about 300 MB. */
#define PICKLE_MAX_OBJECTS (1 << 22)

struct pickle {
    const char *file, *what; /* for messages: "<file>: <what> at byte N" */
    align_error *err;
    const pickle_hooks *hooks;
    const uint8_t *start, *p, *end; /* the pickle and the read position in it */
    size_t op_at;                   /* offset of the opcode being run, for messages */
    pickle_obj **stack;
    size_t sp, stack_cap;
    size_t *marks; /* stack positions of the open MARKs */
    size_t n_marks, marks_cap;
    pickle_obj **memo; /* NULL where unset */
    size_t memo_cap, memo_count;
    pickle_obj **owned; /* every object made, freed together: the memo lets objects be shared */
    size_t n_owned, owned_cap;
    int too_many; /* pickle_new refused for PICKLE_MAX_OBJECTS, not for want of memory */
    pickle_obj none, yes, no;
};

static const char *kind_name(pickle_kind kind)
{
    static const char *names[] = {"None",   "a bool", "an int", "a str",
                                  "a tuple", "a list", "a dict", "a global"};
    return names[kind];
}

const char *pickle_kind_name(const pickle *u, const pickle_obj *o)
{
    return o->kind == PICKLE_EXT ? u->hooks->ext_names[o->ext.tag] : kind_name(o->kind);
}

align_status pickle_fail(pickle *u, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return align_fail(u->err, ALIGN_ERR_FORMAT, "%s: %s at byte %zu: %s", u->file, u->what, u->op_at,
                      msg);
}

align_status pickle_nomem(pickle *u)
{
    if (u->too_many)
        return pickle_fail(u, "more than %d objects, far more than any state_dict needs", PICKLE_MAX_OBJECTS);
    return align_fail(u->err, ALIGN_ERR_NOMEM, "%s: out of memory reading %s", u->file, u->what);
}

/* arr with room for n elements of size bytes (doubling), or NULL with arr and *cap untouched. */
static void *grow(void *arr, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap) return arr;
    size_t c = *cap ? *cap : 16;
    while (c < n) c *= 2;
    void *p = realloc(arr, c * size);
    if (p) *cap = c;
    return p;
}

/* Where an object's extra bytes start: past the object, aligned for anything. */
static size_t extra_at(void)
{
    size_t align = _Alignof(max_align_t);
    return (sizeof(pickle_obj) + align - 1) / align * align;
}

/* An object with extra zeroed bytes after it for the caller's data. */
static pickle_obj *make(pickle *u, pickle_kind kind, size_t extra)
{
    if (u->n_owned >= PICKLE_MAX_OBJECTS) {
        u->too_many = 1;
        return NULL;
    }
    pickle_obj **owned = grow(u->owned, &u->owned_cap, u->n_owned + 1, sizeof *owned);
    if (!owned) return NULL;
    u->owned = owned;
    pickle_obj *o = calloc(1, extra ? extra_at() + extra : sizeof *o);
    if (o) {
        o->kind = kind;
        u->owned[u->n_owned++] = o;
    }
    return o;
}

pickle_obj *pickle_new(pickle *u, pickle_kind kind) { return make(u, kind, 0); }

pickle_obj *pickle_new_ext(pickle *u, int tag, size_t size)
{
    pickle_obj *o = make(u, PICKLE_EXT, size ? size : 1);
    if (o) {
        o->ext.tag = tag;
        o->ext.data = (char *)o + extra_at();
    }
    return o;
}

void pickle_free(pickle *u)
{
    if (!u) return;
    for (size_t i = 0; i < u->n_owned; i++) {
        pickle_obj *o = u->owned[i];
        if (o->kind == PICKLE_TUPLE || o->kind == PICKLE_LIST || o->kind == PICKLE_DICT) free(o->seq.items);
        free(o);
    }
    free(u->owned);
    free(u->stack);
    free(u->marks);
    free(u->memo);
    free(u);
}

/* Pushes o; a NULL o is a failed allocation, so `push(u, pickle_new(...))` reads naturally. */
static align_status push(pickle *u, pickle_obj *o)
{
    if (!o) return pickle_nomem(u);
    if (u->sp == PICKLE_MAX_STACK) return pickle_fail(u, "stack deeper than %d", PICKLE_MAX_STACK);
    pickle_obj **s = grow(u->stack, &u->stack_cap, u->sp + 1, sizeof *s);
    if (!s) return pickle_nomem(u);
    u->stack = s;
    u->stack[u->sp++] = o;
    return ALIGN_OK;
}

/* Items below the innermost MARK belong to an enclosing construct and cannot be popped. */
static size_t stack_floor(const pickle *u) { return u->n_marks ? u->marks[u->n_marks - 1] : 0; }

static align_status pop(pickle *u, pickle_obj **out)
{
    if (u->sp == stack_floor(u)) return pickle_fail(u, "stack underflow");
    *out = u->stack[--u->sp];
    return ALIGN_OK;
}

static align_status push_mark(pickle *u)
{
    if (u->n_marks == PICKLE_MAX_STACK) return pickle_fail(u, "more than %d open MARKs", PICKLE_MAX_STACK);
    size_t *m = grow(u->marks, &u->marks_cap, u->n_marks + 1, sizeof *m);
    if (!m) return pickle_nomem(u);
    u->marks = m;
    u->marks[u->n_marks++] = u->sp;
    return ALIGN_OK;
}

static align_status pop_mark(pickle *u, size_t *base)
{
    if (!u->n_marks) return pickle_fail(u, "no MARK to close");
    *base = u->marks[--u->n_marks];
    return ALIGN_OK;
}

/* Appends stack[base..sp) to seq. The stack is only indexed when it has items: before the first
 * push it is a null pointer, and even a zero offset from one is undefined. */
static align_status seq_append(pickle *u, pickle_obj *seq, size_t base)
{
    size_t n = u->sp - base;
    if (!n) return ALIGN_OK;
    pickle_obj **it = grow(seq->seq.items, &seq->seq.cap, seq->seq.n + n, sizeof *it);
    if (!it) return pickle_nomem(u);
    seq->seq.items = it;
    memcpy(it + seq->seq.n, u->stack + base, n * sizeof *it);
    seq->seq.n += n;
    return ALIGN_OK;
}

/* Replaces stack[base..sp) with one tuple of those items. */
static align_status make_tuple(pickle *u, size_t base)
{
    pickle_obj *t = pickle_new(u, PICKLE_TUPLE);
    if (!t) return pickle_nomem(u);
    align_status s = seq_append(u, t, base);
    if (s) return s;
    u->sp = base;
    return push(u, t);
}

static align_status tuple_of_top(pickle *u, size_t n)
{
    if (u->sp - stack_floor(u) < n) return pickle_fail(u, "stack underflow");
    return make_tuple(u, u->sp - n);
}

static align_status tuple_of_mark(pickle *u)
{
    size_t base = 0;
    align_status s = pop_mark(u, &base);
    return s ? s : make_tuple(u, base);
}

/* Moves stack[base..sp) into the dict or list at stack[base - 1]. */
static align_status extend(pickle *u, pickle_kind kind, size_t base)
{
    if (base <= stack_floor(u)) return pickle_fail(u, "stack underflow");
    pickle_obj *target = u->stack[base - 1];
    size_t n = u->sp - base;
    if (target->kind != kind)
        return pickle_fail(u, "cannot add items to %s, only to %s", pickle_kind_name(u, target),
                           kind_name(kind));
    if (kind == PICKLE_DICT && n % 2) return pickle_fail(u, "a key without a value");
    align_status s = seq_append(u, target, base);
    u->sp = base;
    return s;
}

static align_status extend_top(pickle *u, pickle_kind kind, size_t n)
{
    if (u->sp - stack_floor(u) < n) return pickle_fail(u, "stack underflow");
    return extend(u, kind, u->sp - n);
}

static align_status extend_mark(pickle *u, pickle_kind kind)
{
    size_t base = 0;
    align_status s = pop_mark(u, &base);
    return s ? s : extend(u, kind, base);
}

/* The next n bytes of the pickle, or NULL when fewer are left. */
static const uint8_t *take(pickle *u, size_t n)
{
    if ((size_t)(u->end - u->p) < n) return NULL;
    const uint8_t *p = u->p;
    u->p += n;
    return p;
}

static align_status truncated(pickle *u) { return pickle_fail(u, "truncated"); }

static align_status push_int(pickle *u, int64_t v)
{
    pickle_obj *o = pickle_new(u, PICKLE_INT);
    if (o) o->i = v;
    return push(u, o);
}

/* BININT (a signed 4-byte integer), BININT1 and BININT2 (unsigned 1- and 2-byte ones). */
static align_status push_binint(pickle *u, size_t n)
{
    const uint8_t *a = take(u, n);
    if (!a) return truncated(u);
    return push_int(u, n == 4 ? (int32_t)le32(a) : n == 2 ? (int64_t)le16(a) : *a);
}

/* LONG1: a little-endian two's complement integer of n bytes; state_dicts need at most 8. */
static align_status push_long1(pickle *u)
{
    const uint8_t *n = take(u, 1), *v;
    if (!n || !(v = take(u, *n))) return truncated(u);
    if (*n > 8) return pickle_fail(u, "integer of %u bytes is too large", (unsigned)*n);
    uint64_t x = 0;
    for (unsigned i = 0; i < *n; i++) x |= (uint64_t)v[i] << (8 * i);
    if (*n && *n < 8 && (v[*n - 1] & 0x80)) x |= ~(uint64_t)0 << (8 * *n);
    return push_int(u, (int64_t)x);
}

static align_status push_str(pickle *u, size_t len_bytes)
{
    const uint8_t *l = take(u, len_bytes), *s;
    if (!l) return truncated(u);
    size_t len = len_bytes == 1 ? *l : le32(l);
    if (!(s = take(u, len))) return pickle_fail(u, "string of %zu bytes runs past the end", len);
    pickle_obj *o = pickle_new(u, PICKLE_STR);
    if (o) {
        o->str.s = (const char *)s;
        o->str.len = len;
    }
    return push(u, o);
}

static align_status push_global(pickle *u, const char *module, size_t mlen, const char *name,
                                size_t nlen)
{
    int global = u->hooks->find_global(u->hooks->ctx, module, mlen, name, nlen);
    if (global < 0)
        return pickle_fail(u, "refusing global %.*s.%.*s (allowed: %s)", ERR_SHOWN(mlen), module,
                           ERR_SHOWN(nlen), name, u->hooks->allowed);
    pickle_obj *o = pickle_new(u, PICKLE_GLOBAL);
    if (o) o->global = global;
    return push(u, o);
}

/* GLOBAL: "module\nname\n" inline. */
static align_status global_inline(pickle *u)
{
    const char *part[2];
    size_t len[2];
    for (int i = 0; i < 2; i++) {
        const uint8_t *nl = memchr(u->p, '\n', (size_t)(u->end - u->p));
        if (!nl) return truncated(u);
        part[i] = (const char *)u->p;
        len[i] = (size_t)(nl - u->p);
        u->p = nl + 1;
    }
    return push_global(u, part[0], len[0], part[1], len[1]);
}

/* STACK_GLOBAL: module and name are the two strings on top of the stack. */
static align_status global_stack(pickle *u)
{
    pickle_obj *module = NULL, *name = NULL;
    align_status s;
    if ((s = pop(u, &name)) || (s = pop(u, &module))) return s;
    if (module->kind != PICKLE_STR || name->kind != PICKLE_STR)
        return pickle_fail(u, "STACK_GLOBAL needs two strings");
    return push_global(u, module->str.s, module->str.len, name->str.s, name->str.len);
}

static align_status memo_put(pickle *u, size_t idx)
{
    if (u->sp == stack_floor(u)) return pickle_fail(u, "memoizing an empty stack");
    /* a writer numbers memo entries from 0 and each takes an opcode, so an index past the pickle's
     * length is hostile; it must not size an allocation */
    if (idx >= (size_t)(u->end - u->start)) return pickle_fail(u, "memo index %zu out of range", idx);
    size_t old = u->memo_cap;
    pickle_obj **m = grow(u->memo, &u->memo_cap, idx + 1, sizeof *m);
    if (!m) return pickle_nomem(u);
    memset(m + old, 0, (u->memo_cap - old) * sizeof *m);
    u->memo = m;
    if (!m[idx]) u->memo_count++;
    m[idx] = u->stack[u->sp - 1];
    return ALIGN_OK;
}

static align_status memo_get(pickle *u, size_t idx)
{
    if (idx >= u->memo_cap || !u->memo[idx]) return pickle_fail(u, "memo index %zu was never set", idx);
    return push(u, u->memo[idx]);
}

static align_status memo_op(pickle *u, size_t idx_bytes, int put)
{
    const uint8_t *a = take(u, idx_bytes);
    if (!a) return truncated(u);
    size_t idx = idx_bytes == 1 ? *a : le32(a);
    return put ? memo_put(u, idx) : memo_get(u, idx);
}
/* BINPERSID: the caller says what the id on the stack stands for. */
static align_status persistent_load(pickle *u)
{
    pickle_obj *pid = NULL, *o = NULL;
    align_status s = pop(u, &pid);
    if (!s) s = u->hooks->persistent_load(u->hooks->ctx, u, pid, &o);
    return s ? s : push(u, o);
}

/* REDUCE: a call, which only the caller's globals can make, and only as the caller says. */
static align_status reduce(pickle *u)
{
    pickle_obj *args = NULL, *fn = NULL, *o = NULL;
    align_status s;
    if ((s = pop(u, &args)) || (s = pop(u, &fn))) return s;
    if (fn->kind != PICKLE_GLOBAL) return pickle_fail(u, "REDUCE calls %s", pickle_kind_name(u, fn));
    if (args->kind != PICKLE_TUPLE)
        return pickle_fail(u, "REDUCE arguments are %s, not a tuple", pickle_kind_name(u, args));
    s = u->hooks->reduce(u->hooks->ctx, u, fn->global, args->seq.items, args->seq.n, &o);
    return s ? s : push(u, o);
}

/* BUILD: the caller checks the state against the object, which stays on the stack. */
static align_status build(pickle *u)
{
    pickle_obj *state = NULL;
    align_status s = pop(u, &state);
    if (s) return s;
    if (u->sp == stack_floor(u)) return pickle_fail(u, "stack underflow");
    return u->hooks->build(u->hooks->ctx, u, u->stack[u->sp - 1], state);
}

/* PROTO: the protocol the writer used; none past 5 exists. */
static align_status proto(pickle *u)
{
    const uint8_t *a = take(u, 1);
    if (!a) return truncated(u);
    if (*a > 5) return pickle_fail(u, "pickle protocol %u is not supported", (unsigned)*a);
    return ALIGN_OK;
}

/* FRAME: a length prefix for buffered reading; the whole pickle is in memory. */
static align_status frame(pickle *u)
{
    const uint8_t *a = take(u, 8);
    if (!a) return truncated(u);
    if (le64(a) > (uint64_t)(u->end - u->p)) return pickle_fail(u, "frame runs past the end");
    return ALIGN_OK;
}

static align_status stop(pickle *u, pickle_obj **result)
{
    if (u->sp != 1 || u->n_marks)
        return pickle_fail(u, "STOP with %zu objects and %zu MARKs on the stack instead of one object", u->sp,
                   u->n_marks);
    *result = u->stack[0];
    return ALIGN_OK;
}

/* Runs one opcode; *result is set by STOP. */
static align_status step(pickle *u, uint8_t op, pickle_obj **result)
{
    switch (op) {
    case 0x80: return proto(u);                            /* PROTO */
    case 0x95: return frame(u);                            /* FRAME */
    case '.': return stop(u, result);                      /* STOP */
    case '(': return push_mark(u);                         /* MARK */
    case '}': return push(u, pickle_new(u, PICKLE_DICT));  /* EMPTY_DICT */
    case ']': return push(u, pickle_new(u, PICKLE_LIST));  /* EMPTY_LIST */
    case ')': return push(u, pickle_new(u, PICKLE_TUPLE)); /* EMPTY_TUPLE */
    case 't': return tuple_of_mark(u);                     /* TUPLE */
    case 0x85: return tuple_of_top(u, 1);                  /* TUPLE1 */
    case 0x86: return tuple_of_top(u, 2);                  /* TUPLE2 */
    case 0x87: return tuple_of_top(u, 3);                  /* TUPLE3 */
    case 's': return extend_top(u, PICKLE_DICT, 2);        /* SETITEM */
    case 'u': return extend_mark(u, PICKLE_DICT);          /* SETITEMS */
    case 'a': return extend_top(u, PICKLE_LIST, 1);        /* APPEND */
    case 'e': return extend_mark(u, PICKLE_LIST);          /* APPENDS */
    case 'X': return push_str(u, 4);                       /* BINUNICODE */
    case 0x8c: return push_str(u, 1);                      /* SHORT_BINUNICODE */
    case 'J': return push_binint(u, 4);                    /* BININT */
    case 'K': return push_binint(u, 1);                    /* BININT1 */
    case 'M': return push_binint(u, 2);                    /* BININT2 */
    case 0x8a: return push_long1(u);                       /* LONG1 */
    case 'N': return push(u, &u->none);                    /* NONE */
    case 0x88: return push(u, &u->yes);                    /* NEWTRUE */
    case 0x89: return push(u, &u->no);                     /* NEWFALSE */
    case 'c': return global_inline(u);                     /* GLOBAL */
    case 0x93: return global_stack(u);                     /* STACK_GLOBAL */
    case 'R': return reduce(u);                            /* REDUCE */
    case 'b': return build(u);                             /* BUILD */
    case 'Q': return persistent_load(u);                   /* BINPERSID */
    case 'q': return memo_op(u, 1, 1);                     /* BINPUT */
    case 'r': return memo_op(u, 4, 1);                     /* LONG_BINPUT */
    case 'h': return memo_op(u, 1, 0);                     /* BINGET */
    case 'j': return memo_op(u, 4, 0);                     /* LONG_BINGET */
    case 0x94: return memo_put(u, u->memo_count);          /* MEMOIZE */
    }
    if (op >= 0x20 && op < 0x7f) return pickle_fail(u, "unsupported pickle opcode 0x%02x ('%c')", op, op);
    return pickle_fail(u, "unsupported pickle opcode 0x%02x", op);
}

static align_status unpickle(pickle *u, pickle_obj **result)
{
    *result = NULL;
    while (!*result) {
        u->op_at = (size_t)(u->p - u->start);
        const uint8_t *op = take(u, 1);
        if (!op) return pickle_fail(u, "pickle ends without STOP");
        align_status s = step(u, *op, result);
        if (s) return s;
    }
    return ALIGN_OK;
}

align_status pickle_load(const uint8_t *data, size_t size, const char *file, const char *what,
                         const pickle_hooks *hooks, align_error *err, pickle **out, pickle_obj **result)
{
    pickle *u = *out = calloc(1, sizeof *u);
    if (!u) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory reading %s", file, what);
    *u = (pickle){
        .file = file,
        .what = what,
        .err = err,
        .hooks = hooks,
        .start = data,
        .p = data,
        .end = data + size,
        .none = {.kind = PICKLE_NONE},
        .yes = {.kind = PICKLE_BOOL, .i = 1},
        .no = {.kind = PICKLE_BOOL, .i = 0},
    };
    return unpickle(u, result);
}
