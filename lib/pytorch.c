/* pytorch.c: torch.save checkpoints, read in place. The zip reader finds data.pkl and the storage
 * files; the restricted unpickler walks data.pkl with the hooks below, which know only the globals a
 * state_dict uses, and each (name, tensor) pair becomes a tensor_entry that points into its storage
 * file. Nothing in the pickle is ever executed or looked up by name beyond a fixed table. */
#include "pytorch.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "pickle.h"
#include "zip.h"

typedef enum { G_ORDERED_DICT, G_REBUILD_TENSOR, G_REBUILD_PARAMETER, G_STORAGE } global_kind;

/* Every global a state_dict needs; anything else is refused by name. */
static const struct {
    const char *module, *name;
    global_kind kind;
    tensor_dtype dtype; /* for G_STORAGE */
} allowed_globals[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT, DTYPE_F32},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR, DTYPE_F32},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER, DTYPE_F32},
    {"torch", "FloatStorage", G_STORAGE, DTYPE_F32},
    {"torch", "HalfStorage", G_STORAGE, DTYPE_F16},
    {"torch", "BFloat16Storage", G_STORAGE, DTYPE_BF16},
    {"torch", "LongStorage", G_STORAGE, DTYPE_I64},
};

/* The pickle objects torch's globals make (PICKLE_EXT tags). */
enum { EXT_STORAGE, EXT_TENSOR };
static const char *const ext_names[] = {"a storage", "a tensor"};

typedef struct {
    const zip_entry *file;
    tensor_dtype dtype;
    int64_t numel;
} torch_storage;

typedef struct {
    const pickle_obj *storage, *shape; /* shape: a tuple of ints, already checked */
    int64_t offset, numel;
} torch_tensor;

/* What the hooks read storages from. */
typedef struct {
    const zip_archive *zip;
    const char *prefix; /* "<archive>/", which data.pkl and every storage share */
    size_t prefix_len;
} archive;

static int is_ext(const pickle_obj *o, int tag) { return o->kind == PICKLE_EXT && o->ext.tag == tag; }

static int str_is(const pickle_obj *o, const char *s)
{
    return o->kind == PICKLE_STR && o->str.len == strlen(s) && memcmp(o->str.s, s, o->str.len) == 0;
}

/* Looks up prefix + dir + leaf (*found is NULL when absent); returns 0 when out of memory. */
static int find_member(const archive *a, const char *dir, const char *leaf, size_t leaf_len,
                       const zip_entry **found)
{
    size_t dir_len = strlen(dir), len = a->prefix_len + dir_len + leaf_len;
    char *name = malloc(len ? len : 1);
    if (!name) return 0;
    memcpy(name, a->prefix, a->prefix_len);
    memcpy(name + a->prefix_len, dir, dir_len);
    memcpy(name + a->prefix_len + dir_len, leaf, leaf_len);
    *found = zip_find(a->zip, name, len);
    free(name);
    return 1;
}

/* ---- the hooks --------------------------------------------------------------------------------- */

static int find_global(void *ctx, const char *module, size_t mlen, const char *name, size_t nlen)
{
    (void)ctx;
    for (size_t i = 0; i < sizeof allowed_globals / sizeof allowed_globals[0]; i++) {
        const char *m = allowed_globals[i].module, *n = allowed_globals[i].name;
        if (strlen(m) == mlen && memcmp(m, module, mlen) == 0 && strlen(n) == nlen &&
            memcmp(n, name, nlen) == 0)
            return (int)i;
    }
    return -1;
}

/* BINPERSID: torch.save's reference to a storage file, ('storage', type, key, location, numel). */
static align_status persistent_load(void *ctx, pickle *u, const pickle_obj *pid, pickle_obj **out)
{
    pickle_obj *const *a = pid->kind == PICKLE_TUPLE && pid->seq.n == 5 ? pid->seq.items : NULL;
    if (!a || !str_is(a[0], "storage") || a[1]->kind != PICKLE_GLOBAL || a[2]->kind != PICKLE_STR ||
        a[3]->kind != PICKLE_STR || a[4]->kind != PICKLE_INT)
        return pickle_fail(u, "persistent id is not ('storage', type, key, location, numel)");
    if (allowed_globals[a[1]->global].kind != G_STORAGE)
        return pickle_fail(u, "persistent id names %s.%s, not a storage type",
                           allowed_globals[a[1]->global].module, allowed_globals[a[1]->global].name);
    const pickle_obj *key = a[2];
    tensor_dtype dtype = allowed_globals[a[1]->global].dtype;
    int64_t numel = a[4]->i;

    const zip_entry *file;
    if (!find_member(ctx, "data/", key->str.s, key->str.len, &file)) return pickle_nomem(u);
    int shown = ERR_SHOWN(key->str.len);
    if (!file) return pickle_fail(u, "storage '%.*s' is not in the archive", shown, key->str.s);
    if (numel < 0 || (uint64_t)numel > file->size / dtype_size(dtype))
        return pickle_fail(u, "storage '%.*s' claims %lld %s elements but its file holds %zu bytes", shown,
                           key->str.s, (long long)numel, dtype_name(dtype), file->size);

    *out = pickle_new_ext(u, EXT_STORAGE, sizeof(torch_storage));
    if (*out) *(torch_storage *)(*out)->ext.data = (torch_storage){file, dtype, numel};
    return ALIGN_OK;
}

/* The product of a tuple of sizes, each a count. */
static align_status count_elements(pickle *u, const pickle_obj *size, int64_t *numel)
{
    *numel = 1;
    for (size_t i = 0; i < size->seq.n; i++) {
        const pickle_obj *d = size->seq.items[i];
        if (d->kind != PICKLE_INT || d->i < 0) return pickle_fail(u, "tensor size %zu is not a count", i);
        if (d->i && *numel > INT64_MAX / d->i) return pickle_fail(u, "tensor element count overflows");
        *numel *= d->i;
    }
    return ALIGN_OK;
}

/* Row-major; like torch's is_contiguous, a dimension of size 1 may have any stride, and an empty
 * tensor any strides at all. */
static align_status check_contiguous(pickle *u, const pickle_obj *size, const pickle_obj *stride,
                                     int64_t numel)
{
    size_t ndim = size->seq.n;
    if (stride->seq.n != ndim)
        return pickle_fail(u, "tensor has %zu sizes but %zu strides", ndim, stride->seq.n);
    for (size_t i = 0; i < ndim; i++)
        if (stride->seq.items[i]->kind != PICKLE_INT)
            return pickle_fail(u, "tensor stride %zu is not an int", i);
    int64_t expect = 1;
    for (size_t i = ndim; numel && i-- > 0;) {
        int64_t dim = size->seq.items[i]->i, st = stride->seq.items[i]->i;
        if (dim != 1 && st != expect)
            return pickle_fail(u, "tensor is not contiguous (stride %lld in dimension %zu, expected %lld)",
                               (long long)st, i, (long long)expect);
        expect *= dim;
    }
    return ALIGN_OK;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]): a view of
 * the storage, which must be a contiguous run of it. */
static align_status rebuild_tensor(pickle *u, pickle_obj *const *a, size_t n, pickle_obj **out)
{
    if (n != 6 && n != 7) return pickle_fail(u, "_rebuild_tensor_v2 takes 6 or 7 arguments, not %zu", n);
    const pickle_obj *st = a[0], *offset = a[1], *size = a[2], *stride = a[3];
    if (!is_ext(st, EXT_STORAGE) || offset->kind != PICKLE_INT || size->kind != PICKLE_TUPLE ||
        stride->kind != PICKLE_TUPLE)
        return pickle_fail(u, "_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, ...)");
    if (size->seq.n > TENSOR_MAX_DIMS)
        return pickle_fail(u, "tensor has %zu dimensions, at most %d are supported", size->seq.n,
                           TENSOR_MAX_DIMS);
    int64_t numel;
    align_status s = count_elements(u, size, &numel);
    if (!s) s = check_contiguous(u, size, stride, numel);
    if (s) return s;
    int64_t have = ((const torch_storage *)st->ext.data)->numel, off = offset->i;
    if (off < 0 || off > have || numel > have - off)
        return pickle_fail(u, "tensor of %lld elements at offset %lld does not fit its storage of %lld",
                           (long long)numel, (long long)off, (long long)have);
    *out = pickle_new_ext(u, EXT_TENSOR, sizeof(torch_tensor));
    if (*out) *(torch_tensor *)(*out)->ext.data = (torch_tensor){st, size, off, numel};
    return ALIGN_OK;
}

static align_status reduce(void *ctx, pickle *u, int global, pickle_obj *const *a, size_t n, pickle_obj **out)
{
    (void)ctx;
    switch (allowed_globals[global].kind) {
    case G_ORDERED_DICT:
        if (n) return pickle_fail(u, "OrderedDict called with %zu arguments", n);
        *out = pickle_new(u, PICKLE_DICT);
        return ALIGN_OK;
    case G_REBUILD_TENSOR: return rebuild_tensor(u, a, n, out);
    case G_REBUILD_PARAMETER:
        /* (data, requires_grad, backward_hooks): a Parameter is its data tensor */
        if (n != 3 || !is_ext(a[0], EXT_TENSOR))
            return pickle_fail(u, "_rebuild_parameter arguments are not (tensor, ...)");
        *out = a[0];
        return ALIGN_OK;
    case G_STORAGE: break;
    }
    return pickle_fail(u, "torch.%s cannot be called", allowed_globals[global].name);
}

/* The state is an OrderedDict's _metadata or a tensor's Python attributes: neither changes the
 * weights, so it is dropped. */
static align_status build(void *ctx, pickle *u, const pickle_obj *target, const pickle_obj *state)
{
    (void)ctx, (void)state;
    if (target->kind != PICKLE_DICT && !is_ext(target, EXT_TENSOR))
        return pickle_fail(u, "BUILD on %s", pickle_kind_name(u, target));
    return ALIGN_OK;
}

/* ---- the state_dict ---------------------------------------------------------------------------- */

/* The state_dict entry key = val as a tensor_entry that points into its storage file. */
static align_status add_tensor(const pickle_obj *key, const torch_tensor *val, const char *file, tensor_file *out,
                               align_error *err)
{
    const torch_storage *st = val->storage->ext.data;
    size_t esize = dtype_size(st->dtype);
    tensor_entry e = {
        .name = malloc(key->str.len + 1),
        .dtype = st->dtype,
        .ndim = (int)val->shape->seq.n,
        /* rebuild_tensor and persistent_load checked that this lies inside the storage file */
        .data = st->file->data + (size_t)val->offset * esize,
        .nbytes = (size_t)val->numel * esize,
    };
    if (!e.name) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", file);
    memcpy(e.name, key->str.s, key->str.len);
    e.name[key->str.len] = 0;
    for (int d = 0; d < e.ndim; d++) e.shape[d] = val->shape->seq.items[d]->i;
    return tensor_file_add(out, &e, file, err);
}

static align_status add_tensors(const pickle *u, const pickle_obj *dict, const char *file, tensor_file *out,
                                align_error *err)
{
    if (dict->kind != PICKLE_DICT)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: data.pkl holds %s, not a state_dict", file,
                          pickle_kind_name(u, dict));
    align_status s = ALIGN_OK;
    for (size_t i = 0; !s && i < dict->seq.n; i += 2) {
        const pickle_obj *key = dict->seq.items[i], *val = dict->seq.items[i + 1];
        if (key->kind != PICKLE_STR)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: state_dict key %zu is %s, not a name", file,
                              i / 2, pickle_kind_name(u, key));
        if (memchr(key->str.s, 0, key->str.len))
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: state_dict key %zu holds a NUL byte", file, i / 2);
        if (!is_ext(val, EXT_TENSOR))
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: state_dict entry %.*s is %s, not a tensor",
                              file, ERR_SHOWN(key->str.len), key->str.s, pickle_kind_name(u, val));
        s = add_tensor(key, val->ext.data, file, out, err);
    }
    return s;
}

/* The archive's one "<dir>/data.pkl"; *prefix_len covers "<dir>/". */
static align_status find_pickle(const zip_archive *zip, const char *file, const zip_entry **out,
                                size_t *prefix_len, align_error *err)
{
    static const char tail[] = "/data.pkl";
    size_t tail_len = sizeof tail - 1;
    *out = NULL;
    for (size_t i = 0; i < zip->count; i++) {
        const zip_entry *e = &zip->entries[i];
        if (e->name_len <= tail_len || memcmp(e->name + e->name_len - tail_len, tail, tail_len) != 0)
            continue;
        size_t dir_len = e->name_len - tail_len;
        if (memchr(e->name, '/', dir_len)) continue;
        if (*out)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: zip archive holds more than one data.pkl", file);
        *out = e;
        *prefix_len = dir_len + 1;
    }
    if (!*out)
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: zip archive has no <dir>/data.pkl, so it is not a torch.save checkpoint",
                          file);
    return ALIGN_OK;
}

/* Storages are read as little-endian; torch.save records the writer's byte order when it has one. */
static align_status check_byteorder(const archive *a, const char *file, align_error *err)
{
    const zip_entry *e;
    if (!find_member(a, "", "byteorder", 9, &e))
        return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", file);
    if (e && !(e->size == 6 && memcmp(e->data, "little", 6) == 0))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: byte order '%.*s' is not supported (only little)",
                          file, ERR_SHOWN(e->size), (const char *)e->data);
    return ALIGN_OK;
}

static align_status load_state_dict(const zip_archive *zip, const char *file, tensor_file *out,
                                    align_error *err)
{
    const zip_entry *pkl = NULL;
    archive a = {.zip = zip};
    align_status s = find_pickle(zip, file, &pkl, &a.prefix_len, err);
    if (s) return s;
    a.prefix = pkl->name;
    if ((s = check_byteorder(&a, file, err))) return s;
    pickle_hooks hooks = {
        .ctx = &a,
        .allowed = "OrderedDict, _rebuild_tensor_v2, _rebuild_parameter and Float, Half, BFloat16 and Long "
                   "storages",
        .ext_names = ext_names,
        .find_global = find_global,
        .reduce = reduce,
        .persistent_load = persistent_load,
        .build = build,
    };
    pickle *u = NULL;
    pickle_obj *result;
    s = pickle_load(pkl->data, pkl->size, file, "data.pkl", &hooks, err, &u, &result);
    if (!s) s = add_tensors(u, result, file, out, err);
    pickle_free(u);
    return s;
}

align_status pytorch_parse(const uint8_t *buf, size_t size, const char *name, tensor_file *out,
                           align_error *err)
{
    out->entries = NULL;
    out->count = out->cap = 0;
    zip_archive zip;
    align_status s = zip_open(buf, size, name, &zip, err);
    if (!s) s = load_state_dict(&zip, name, out, err);
    zip_close(&zip);
    if (!s) s = tensor_file_finish(out, name, err);
    if (s) {
        /* leave out as it came (its map untouched) so the caller frees nothing twice */
        for (size_t i = 0; i < out->count; i++) free(out->entries[i].name);
        free(out->entries);
        out->entries = NULL;
        out->count = out->cap = 0;
    }
    return s;
}
