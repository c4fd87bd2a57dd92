#include "weights.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

void spec_add(spec_list *list, int flags, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
              const char *fmt, ...)
{
    if (list->out_of_memory) return;
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 256;
        tensor_spec *items = realloc(list->items, cap * sizeof *items);
        if (!items) {
            list->out_of_memory = 1;
            return;
        }
        list->items = items;
        list->cap = cap;
    }
    tensor_spec *s = &list->items[list->count++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->name, sizeof s->name, fmt, ap);
    va_end(ap);
    s->flags = flags;
    s->ndim = ndim;
    int64_t d[4] = {d0, d1, d2, d3};
    memcpy(s->shape, d, sizeof d);
}

void spec_list_free(spec_list *list)
{
    free(list->items);
    memset(list, 0, sizeof *list);
}

static int shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) n += (size_t)snprintf(buf + n, cap - n, "]");
    return (int)n;
}

/* "" when t fits spec, else why not. */
static void mismatch(const tensor_spec *spec, const tensor_entry *t, char *why, size_t cap)
{
    why[0] = 0;
    if (!t) {
        if (!(spec->flags & SPEC_OPTIONAL)) snprintf(why, cap, "%s: missing", spec->name);
        return;
    }
    int same = t->ndim == spec->ndim;
    for (int i = 0; same && i < spec->ndim; i++) same = t->shape[i] == spec->shape[i];
    int float_wanted = !(spec->flags & SPEC_I64);
    if (same && float_wanted == tensor_is_float(t)) return;
    char want[96], have[96];
    shape_str(want, sizeof want, spec->ndim, spec->shape);
    shape_str(have, sizeof have, t->ndim, t->shape);
    if (!same)
        snprintf(why, cap, "%s: expected %s, file has %s", spec->name, want, have);
    else
        snprintf(why, cap, "%s: expected %s values, file has %s", spec->name, float_wanted ? "float" : "I64",
                 dtype_name(t->dtype));
}

align_status spec_check(const spec_list *list, const tensor_file *tf, const char *file, align_error *err)
{
    if (list->out_of_memory) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", file);
    char msg[sizeof err->message];
    size_t len = 0, bad = 0, shown = 0;
    for (size_t i = 0; i < list->count; i++) {
        char why[384];
        mismatch(&list->items[i], tensor_file_find(tf, list->items[i].name), why, sizeof why);
        if (!why[0]) continue;
        bad++;
        /* leave room for the closing count */
        if (len + strlen(why) + 48 < sizeof msg) {
            len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s", shown ? "; " : "", why);
            shown++;
        }
    }
    if (!bad) return ALIGN_OK;
    if (shown < bad) snprintf(msg + len, sizeof msg - len, " (and %zu more)", bad - shown);
    return align_fail(err, ALIGN_ERR_WEIGHTS, "%s: %zu tensor%s wrong: %s", file, bad, bad == 1 ? "" : "s", msg);
}

static void *own(weight_store *ws, void *p)
{
    if (!p) return NULL;
    if (ws->n_owned == ws->cap_owned) {
        size_t cap = ws->cap_owned ? ws->cap_owned * 2 : 256;
        void **o = realloc(ws->owned, cap * sizeof *o);
        if (!o) {
            free(p);
            return NULL;
        }
        ws->owned = o;
        ws->cap_owned = cap;
    }
    ws->owned[ws->n_owned++] = p;
    return p;
}

void weights_reserve(weight_store *ws, size_t n)
{
    if (ws->arena.map || big_alloc(&ws->arena, n * sizeof(float))) return;
    ws->arena_floats = n;
    ws->arena_used = 0;
}

float *weights_alloc(weight_store *ws, size_t n, align_error *err)
{
    size_t rounded = (n + 15) & ~(size_t)15; /* 64-byte aligned pieces */
    if (ws->arena.map && rounded <= ws->arena_floats - ws->arena_used) {
        float *p = (float *)ws->arena.data + ws->arena_used;
        ws->arena_used += rounded;
        ws->bytes_owned += (int64_t)(n * sizeof(float));
        return p;
    }
    float *p = own(ws, malloc((n ? n : 1) * sizeof(float)));
    if (!p) align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", ws->file);
    else ws->bytes_owned += (int64_t)(n * sizeof(float));
    return p;
}

/* A fresh float32 copy, owned by the store. */
static float *weights_copy(weight_store *ws, const char *name, align_error *err)
{
    const tensor_entry *t = tensor_file_find(ws->tf, name);
    if (!t) {
        align_fail(err, ALIGN_ERR_WEIGHTS, "%s: %s: missing", ws->file, name);
        return NULL;
    }
    float *p = weights_alloc(ws, (size_t)tensor_numel(t), err);
    if (p) tensor_to_f32(t, p);
    return p;
}

const float *weights_get(weight_store *ws, const char *name, align_error *err)
{
    const tensor_entry *t = tensor_file_find(ws->tf, name);
    if (t && t->dtype == DTYPE_F32 && ((uintptr_t)t->data & 3) == 0) return (const float *)t->data;
    return weights_copy(ws, name, err);
}

void weights_release(weight_store *ws, const char *name)
{
    const tensor_entry *t = tensor_file_find(ws->tf, name);
    if (t) file_map_release(&ws->tf->map, t->data, t->nbytes);
}

void weights_free(weight_store *ws)
{
    for (size_t i = 0; i < ws->n_owned; i++) free(ws->owned[i]);
    free(ws->owned);
    ws->owned = NULL;
    ws->n_owned = ws->cap_owned = 0;
    ws->bytes_owned = 0;
    big_free(&ws->arena);
    ws->arena_floats = ws->arena_used = 0;
}
