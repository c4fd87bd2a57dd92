/* pytorch.c: torch.save checkpoints, read in place. The zip layer finds every stored entry's bytes
 * through the central directory; a restricted unpickler then walks data.pkl, knowing only the
 * opcodes and globals a state_dict uses, and turns each (name, tensor) pair into a tensor_entry that
 * points into its storage file. Nothing in the pickle is ever executed or looked up by name beyond
 * a fixed table. */
#include "pytorch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* ---- zip ------------------------------------------------------------------------------------- */

#define ZIP_LOCAL_SIG 0x04034b50u
#define ZIP_CENTRAL_SIG 0x02014b50u
#define ZIP_EOCD_SIG 0x06054b50u
#define ZIP64_EOCD_SIG 0x06064b50u
#define ZIP64_LOCATOR_SIG 0x07064b50u
#define ZIP_LOCAL_SIZE 30
#define ZIP_CENTRAL_SIZE 46
#define ZIP_EOCD_SIZE 22
#define ZIP64_EOCD_SIZE 56
#define ZIP64_LOCATOR_SIZE 20
#define ZIP_MAX_COMMENT 65535
/* File names go into messages; a hostile one should not fill the whole line. */
#define SHOWN(len) ((len) > 200 ? 200 : (int)(len))

typedef struct {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    const uint8_t *data;
    size_t size;
    uint64_t start, end; /* local header to end of data: the bytes the entry claims */
} zip_entry;

typedef struct {
    zip_entry *entries; /* sorted by name */
    size_t count;
} zip_archive;

typedef struct {
    uint64_t count, offset, size;
    uint64_t end; /* the first end-of-directory record: nothing the directory lists may pass it */
} zip_directory;

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* [off, off + len) lies within [0, limit), with no overflow on the way. */
static int fits(uint64_t off, uint64_t len, uint64_t limit) { return off <= limit && len <= limit - off; }

static align_status zip_find_directory(const uint8_t *buf, size_t size, const char *file,
                                       zip_directory *dir, align_error *err)
{
    if (size < ZIP_EOCD_SIZE)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: %zu bytes is too short for a zip archive", file, size);
    /* The record ends the file after a comment of its stated length; requiring that rules out a
     * signature that merely occurs inside the comment or the data. */
    size_t pos = size - ZIP_EOCD_SIZE, lowest = pos > ZIP_MAX_COMMENT ? pos - ZIP_MAX_COMMENT : 0;
    while (!(rd32(buf + pos) == ZIP_EOCD_SIG && pos + ZIP_EOCD_SIZE + rd16(buf + pos + 20) == size)) {
        if (pos == lowest)
            return align_fail(err, ALIGN_ERR_FORMAT,
                              "%s: no zip end-of-central-directory record (truncated or not a zip archive)",
                              file);
        pos--;
    }
    const uint8_t *e = buf + pos;
    uint64_t disk = rd16(e + 4), cd_disk = rd16(e + 6), on_disk = rd16(e + 8);
    dir->count = rd16(e + 10);
    dir->size = rd32(e + 12);
    dir->offset = rd32(e + 16);
    dir->end = pos;
    if (pos >= ZIP64_LOCATOR_SIZE && rd32(e - ZIP64_LOCATOR_SIZE) == ZIP64_LOCATOR_SIG) {
        const uint8_t *loc = e - ZIP64_LOCATOR_SIZE;
        uint64_t at = rd64(loc + 8);
        if (!fits(at, ZIP64_EOCD_SIZE, pos - ZIP64_LOCATOR_SIZE) || rd32(buf + at) != ZIP64_EOCD_SIG)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: bad zip64 end-of-central-directory record",
                              file);
        const uint8_t *z = buf + at;
        disk = rd32(z + 16) | rd32(loc + 4);
        cd_disk = rd32(z + 20);
        on_disk = rd64(z + 24);
        dir->count = rd64(z + 32);
        dir->size = rd64(z + 40);
        dir->offset = rd64(z + 48);
        dir->end = at;
    } else if (dir->count == 0xffff || dir->size == 0xffffffff || dir->offset == 0xffffffff) {
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: zip archive lacks the zip64 record it needs", file);
    }
    if (disk || cd_disk || on_disk != dir->count)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: multi-disk zip archives are not supported", file);
    if (!fits(dir->offset, dir->size, dir->end))
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: zip central directory (%llu bytes at offset %llu) lies outside the file",
                          file, (unsigned long long)dir->size, (unsigned long long)dir->offset);
    if (dir->count > dir->size / ZIP_CENTRAL_SIZE)
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: zip central directory claims %llu entries, more than its %llu bytes hold",
                          file, (unsigned long long)dir->count, (unsigned long long)dir->size);
    return ALIGN_OK;
}

/* Applies the zip64 extended-information extra field: it holds the 64-bit value of each saturated
 * 32-bit field, in this fixed order. Returns 0 when the extra data is malformed. */
static int zip64_extra(const uint8_t *x, size_t len, uint64_t *usize, uint64_t *csize, uint64_t *local)
{
    while (len >= 4) {
        size_t id = rd16(x), n = rd16(x + 2);
        if (n > len - 4) return 0;
        if (id == 1) {
            uint64_t *fields[3] = {usize, csize, local};
            const uint8_t *v = x + 4;
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != 0xffffffff) continue;
                if (v + 8 > x + 4 + n) return 0;
                *fields[i] = rd64(v);
                v += 8;
            }
            return 1;
        }
        x += 4 + n;
        len -= 4 + n;
    }
    return 1;
}

/* Reads the central directory record at *pos and the local header it points to. CRCs are not
 * checked: that would touch every byte of a checkpoint of hundreds of MB at load time, and the bounds
 * checks already keep a damaged archive from reading outside buf. */
static align_status zip_read_entry(const uint8_t *buf, const zip_directory *dir, uint64_t *pos,
                                   zip_entry *out, const char *file, align_error *err)
{
    uint64_t cd_end = dir->offset + dir->size;
    if (!fits(*pos, ZIP_CENTRAL_SIZE, cd_end) || rd32(buf + *pos) != ZIP_CENTRAL_SIG)
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: bad zip central directory record at offset %llu", file,
                          (unsigned long long)*pos);
    const uint8_t *c = buf + *pos;
    uint32_t flags = rd16(c + 8), method = rd16(c + 10);
    uint64_t csize = rd32(c + 20), usize = rd32(c + 24), local = rd32(c + 42);
    size_t name_len = rd16(c + 28), extra_len = rd16(c + 30), comment_len = rd16(c + 32);
    uint64_t record = ZIP_CENTRAL_SIZE + name_len + extra_len + comment_len;
    if (!fits(*pos, record, cd_end))
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: zip central directory record at offset %llu runs past the directory",
                          file, (unsigned long long)*pos);
    const char *name = (const char *)c + ZIP_CENTRAL_SIZE;
    int shown = SHOWN(name_len);
    if (!zip64_extra(c + ZIP_CENTRAL_SIZE + name_len, extra_len, &usize, &csize, &local))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: zip entry %.*s: bad extra field", file, shown, name);
    /* bit 0: encrypted, bit 6: strong encryption */
    if (flags & 0x41)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: zip entry %.*s is encrypted", file, shown, name);
    if (method != 0)
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: zip entry %.*s is compressed (method %u); only stored entries can be read "
                          "in place",
                          file, shown, name, (unsigned)method);
    if (csize != usize)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: zip entry %.*s is stored but its sizes differ",
                          file, shown, name);
    if (!fits(local, ZIP_LOCAL_SIZE, dir->offset) || rd32(buf + local) != ZIP_LOCAL_SIG)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: zip entry %.*s: no local header at offset %llu",
                          file, shown, name, (unsigned long long)local);
    const uint8_t *l = buf + local;
    uint64_t data = local + ZIP_LOCAL_SIZE + rd16(l + 26) + rd16(l + 28);
    if (!fits(data, csize, dir->offset))
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: zip entry %.*s (%llu bytes at offset %llu) runs into the central directory",
                          file, shown, name, (unsigned long long)csize, (unsigned long long)data);
    if (rd16(l + 26) != name_len || memcmp(l + ZIP_LOCAL_SIZE, name, name_len) != 0 || rd16(l + 8) != method)
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: zip entry %.*s: local header disagrees with the central directory", file,
                          shown, name);
    out->name = name;
    out->name_len = name_len;
    out->data = buf + data;
    out->size = (size_t)csize;
    out->start = local;
    out->end = data + csize;
    *pos += record;
    return ALIGN_OK;
}

static int by_start(const void *a, const void *b)
{
    const zip_entry *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

static int by_name(const void *a, const void *b)
{
    const zip_entry *x = a, *y = b;
    return name_cmp(x->name, x->name_len, y->name, y->name_len);
}

static align_status zip_open(const uint8_t *buf, size_t size, const char *file, zip_archive *zip,
                             align_error *err)
{
    zip_directory dir = {0};
    align_status s = zip_find_directory(buf, size, file, &dir, err);
    if (s) return s;
    /* count is bounded by the directory's size, which is bounded by the file's */
    zip->entries = malloc((size_t)(dir.count ? dir.count : 1) * sizeof *zip->entries);
    if (!zip->entries) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", file);
    uint64_t pos = dir.offset;
    for (zip->count = 0; zip->count < dir.count; zip->count++)
        if ((s = zip_read_entry(buf, &dir, &pos, &zip->entries[zip->count], file, err))) return s;

    qsort(zip->entries, zip->count, sizeof *zip->entries, by_start);
    for (size_t i = 1; i < zip->count; i++) {
        const zip_entry *a = &zip->entries[i - 1], *b = &zip->entries[i];
        if (a->end > b->start)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: zip entries %.*s and %.*s overlap", file,
                              SHOWN(a->name_len), a->name, SHOWN(b->name_len), b->name);
    }
    qsort(zip->entries, zip->count, sizeof *zip->entries, by_name);
    for (size_t i = 1; i < zip->count; i++) {
        const zip_entry *e = &zip->entries[i];
        if (by_name(e - 1, e) == 0)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: zip entry %.*s appears twice", file,
                              SHOWN(e->name_len), e->name);
    }
    return ALIGN_OK;
}

static const zip_entry *zip_find(const zip_archive *zip, const char *name, size_t len)
{
    zip_entry key = {.name = name, .name_len = len};
    return zip->count ? bsearch(&key, zip->entries, zip->count, sizeof key, by_name) : NULL;
}

/* Looks up prefix + dir + leaf (*found is NULL when absent); returns 0 when out of memory. */
static int zip_find_member(const zip_archive *zip, const char *prefix, size_t prefix_len, const char *dir,
                           const char *leaf, size_t leaf_len, const zip_entry **found)
{
    size_t dir_len = strlen(dir), len = prefix_len + dir_len + leaf_len;
    char *name = malloc(len ? len : 1);
    if (!name) return 0;
    memcpy(name, prefix, prefix_len);
    memcpy(name + prefix_len, dir, dir_len);
    memcpy(name + prefix_len + dir_len, leaf, leaf_len);
    *found = zip_find(zip, name, len);
    free(name);
    return 1;
}

/* ---- restricted unpickler -------------------------------------------------------------------- */

/* torch.save pickles dict items and list elements in batches of 1000, so a real checkpoint stays
 * far below this; it bounds what a hostile pickle can make us allocate. */
#define PICKLE_MAX_STACK 65536
/* Objects a pickle may make. A state_dict needs some twenty a tensor (an ALIGN config at its limits
 * has about 100,000 tensors); without a cap, "append 0 to a list" costs 3 bytes of pickle and
 * some 70 bytes here, so a 1 GB data.pkl could take over 20 GB. At the cap: about 300 MB. */
#define PICKLE_MAX_OBJECTS (1 << 22)

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

typedef enum {
    OBJ_NONE, OBJ_BOOL, OBJ_INT, OBJ_STR, OBJ_TUPLE, OBJ_LIST, OBJ_DICT, OBJ_GLOBAL, OBJ_STORAGE, OBJ_TENSOR
} obj_kind;

static const char *kind_name(obj_kind kind)
{
    static const char *names[] = {"None",   "a bool", "an int",   "a str",     "a tuple",
                                  "a list", "a dict", "a global", "a storage", "a tensor"};
    return names[kind];
}

typedef struct obj obj;
struct obj {
    obj_kind kind;
    union {
        int64_t i; /* BOOL, INT */
        struct {
            const char *s; /* points into data.pkl */
            size_t len;
        } str;
        struct {
            obj **items; /* a dict's keys and values alternate */
            size_t n, cap;
        } seq;           /* TUPLE, LIST, DICT */
        int global;      /* index into allowed_globals */
        struct {
            const zip_entry *file;
            tensor_dtype dtype;
            int64_t numel;
        } storage;
        struct {
            const obj *storage, *shape; /* shape: a tuple of ints, already checked */
            int64_t offset, numel;
        } tensor;
    };
};

typedef struct {
    const char *file;
    align_error *err;
    const zip_archive *zip;
    const char *prefix; /* "<archive>/", which data.pkl and every storage share */
    size_t prefix_len;
    const uint8_t *start, *p, *end; /* data.pkl and the read position in it */
    size_t op_at;                   /* offset of the opcode being run, for messages */
    obj **stack;
    size_t sp, stack_cap;
    size_t *marks; /* stack positions of the open MARKs */
    size_t n_marks, marks_cap;
    obj **memo; /* NULL where unset */
    size_t memo_cap, memo_count;
    obj **owned; /* every object made, freed together: the memo lets objects be shared */
    size_t n_owned, owned_cap;
    int too_many; /* new_obj refused for PICKLE_MAX_OBJECTS, not for want of memory */
    obj none, yes, no;
} unpickler;

static align_status bad(unpickler *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static align_status bad(unpickler *u, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return align_fail(u->err, ALIGN_ERR_FORMAT, "%s: data.pkl at byte %zu: %s", u->file, u->op_at, msg);
}

static align_status out_of_memory(unpickler *u)
{
    if (u->too_many)
        return bad(u, "more than %d objects, far more than any state_dict needs", PICKLE_MAX_OBJECTS);
    return align_fail(u->err, ALIGN_ERR_NOMEM, "%s: out of memory reading data.pkl", u->file);
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

static obj *new_obj(unpickler *u, obj_kind kind)
{
    if (u->n_owned >= PICKLE_MAX_OBJECTS) {
        u->too_many = 1;
        return NULL;
    }
    obj **owned = grow(u->owned, &u->owned_cap, u->n_owned + 1, sizeof *owned);
    if (!owned) return NULL;
    u->owned = owned;
    obj *o = calloc(1, sizeof *o);
    if (o) {
        o->kind = kind;
        u->owned[u->n_owned++] = o;
    }
    return o;
}

static void unpickler_free(unpickler *u)
{
    for (size_t i = 0; i < u->n_owned; i++) {
        obj *o = u->owned[i];
        if (o->kind == OBJ_TUPLE || o->kind == OBJ_LIST || o->kind == OBJ_DICT) free(o->seq.items);
        free(o);
    }
    free(u->owned);
    free(u->stack);
    free(u->marks);
    free(u->memo);
}

/* Pushes o; a NULL o is a failed allocation, so `push(u, new_obj(...))` reads naturally. */
static align_status push(unpickler *u, obj *o)
{
    if (!o) return out_of_memory(u);
    if (u->sp == PICKLE_MAX_STACK) return bad(u, "stack deeper than %d", PICKLE_MAX_STACK);
    obj **s = grow(u->stack, &u->stack_cap, u->sp + 1, sizeof *s);
    if (!s) return out_of_memory(u);
    u->stack = s;
    u->stack[u->sp++] = o;
    return ALIGN_OK;
}

/* Items below the innermost MARK belong to an enclosing construct and cannot be popped. */
static size_t stack_floor(const unpickler *u) { return u->n_marks ? u->marks[u->n_marks - 1] : 0; }

static align_status pop(unpickler *u, obj **out)
{
    if (u->sp == stack_floor(u)) return bad(u, "stack underflow");
    *out = u->stack[--u->sp];
    return ALIGN_OK;
}

static align_status push_mark(unpickler *u)
{
    if (u->n_marks == PICKLE_MAX_STACK) return bad(u, "more than %d open MARKs", PICKLE_MAX_STACK);
    size_t *m = grow(u->marks, &u->marks_cap, u->n_marks + 1, sizeof *m);
    if (!m) return out_of_memory(u);
    u->marks = m;
    u->marks[u->n_marks++] = u->sp;
    return ALIGN_OK;
}

static align_status pop_mark(unpickler *u, size_t *base)
{
    if (!u->n_marks) return bad(u, "no MARK to close");
    *base = u->marks[--u->n_marks];
    return ALIGN_OK;
}

static align_status seq_append(unpickler *u, obj *seq, obj *const *items, size_t n)
{
    if (!n) return ALIGN_OK;
    obj **it = grow(seq->seq.items, &seq->seq.cap, seq->seq.n + n, sizeof *it);
    if (!it) return out_of_memory(u);
    seq->seq.items = it;
    memcpy(it + seq->seq.n, items, n * sizeof *it);
    seq->seq.n += n;
    return ALIGN_OK;
}

/* Replaces stack[base..sp) with one tuple of those items. */
static align_status make_tuple(unpickler *u, size_t base)
{
    obj *t = new_obj(u, OBJ_TUPLE);
    if (!t) return out_of_memory(u);
    align_status s = seq_append(u, t, u->stack + base, u->sp - base);
    if (s) return s;
    u->sp = base;
    return push(u, t);
}

static align_status tuple_of_top(unpickler *u, size_t n)
{
    if (u->sp - stack_floor(u) < n) return bad(u, "stack underflow");
    return make_tuple(u, u->sp - n);
}

/* Moves stack[base..sp) into the dict or list at stack[base - 1]. */
static align_status extend(unpickler *u, obj_kind kind, size_t base)
{
    if (base <= stack_floor(u)) return bad(u, "stack underflow");
    obj *target = u->stack[base - 1];
    size_t n = u->sp - base;
    if (target->kind != kind)
        return bad(u, "cannot add items to %s, only to %s", kind_name(target->kind), kind_name(kind));
    if (kind == OBJ_DICT && n % 2) return bad(u, "a key without a value");
    align_status s = seq_append(u, target, u->stack + base, n);
    u->sp = base;
    return s;
}

static align_status extend_top(unpickler *u, obj_kind kind, size_t n)
{
    if (u->sp - stack_floor(u) < n) return bad(u, "stack underflow");
    return extend(u, kind, u->sp - n);
}

static align_status extend_mark(unpickler *u, obj_kind kind)
{
    size_t base = 0;
    align_status s = pop_mark(u, &base);
    return s ? s : extend(u, kind, base);
}

/* The next n bytes of data.pkl, or NULL when fewer are left. */
static const uint8_t *take(unpickler *u, size_t n)
{
    if ((size_t)(u->end - u->p) < n) return NULL;
    const uint8_t *p = u->p;
    u->p += n;
    return p;
}

static align_status truncated(unpickler *u) { return bad(u, "truncated"); }

static align_status push_int(unpickler *u, int64_t v)
{
    obj *o = new_obj(u, OBJ_INT);
    if (o) o->i = v;
    return push(u, o);
}

/* LONG1: a little-endian two's complement integer of n bytes; state_dicts need at most 8. */
static align_status push_long1(unpickler *u)
{
    const uint8_t *n = take(u, 1), *v;
    if (!n || !(v = take(u, *n))) return truncated(u);
    if (*n > 8) return bad(u, "integer of %u bytes is too large", (unsigned)*n);
    uint64_t x = 0;
    for (unsigned i = 0; i < *n; i++) x |= (uint64_t)v[i] << (8 * i);
    if (*n && *n < 8 && (v[*n - 1] & 0x80)) x |= ~(uint64_t)0 << (8 * *n);
    return push_int(u, (int64_t)x);
}

static align_status push_str(unpickler *u, size_t len_bytes)
{
    const uint8_t *l = take(u, len_bytes), *s;
    if (!l) return truncated(u);
    size_t len = len_bytes == 1 ? *l : rd32(l);
    if (!(s = take(u, len))) return bad(u, "string of %zu bytes runs past the end", len);
    obj *o = new_obj(u, OBJ_STR);
    if (o) {
        o->str.s = (const char *)s;
        o->str.len = len;
    }
    return push(u, o);
}

static int str_is(const obj *o, const char *s)
{
    return o->kind == OBJ_STR && o->str.len == strlen(s) && memcmp(o->str.s, s, o->str.len) == 0;
}

static align_status push_global(unpickler *u, const char *module, size_t mlen, const char *name,
                                size_t nlen)
{
    for (size_t i = 0; i < sizeof allowed_globals / sizeof allowed_globals[0]; i++) {
        const char *m = allowed_globals[i].module, *n = allowed_globals[i].name;
        if (strlen(m) == mlen && memcmp(m, module, mlen) == 0 && strlen(n) == nlen &&
            memcmp(n, name, nlen) == 0) {
            obj *o = new_obj(u, OBJ_GLOBAL);
            if (o) o->global = (int)i;
            return push(u, o);
        }
    }
    return bad(u,
               "refusing global %.*s.%.*s (allowed: OrderedDict, _rebuild_tensor_v2, _rebuild_parameter and "
               "Float, Half, BFloat16 and Long storages)",
               SHOWN(mlen), module, SHOWN(nlen), name);
}

/* GLOBAL: "module\nname\n" inline. */
static align_status global_inline(unpickler *u)
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
static align_status global_stack(unpickler *u)
{
    obj *module = NULL, *name = NULL;
    align_status s;
    if ((s = pop(u, &name)) || (s = pop(u, &module))) return s;
    if (module->kind != OBJ_STR || name->kind != OBJ_STR) return bad(u, "STACK_GLOBAL needs two strings");
    return push_global(u, module->str.s, module->str.len, name->str.s, name->str.len);
}

static align_status memo_put(unpickler *u, size_t idx)
{
    if (u->sp == stack_floor(u)) return bad(u, "memoizing an empty stack");
    /* a writer numbers memo entries from 0 and each takes an opcode, so an index past the pickle's
     * length is hostile; it must not size an allocation */
    if (idx >= (size_t)(u->end - u->start)) return bad(u, "memo index %zu out of range", idx);
    size_t old = u->memo_cap;
    obj **m = grow(u->memo, &u->memo_cap, idx + 1, sizeof *m);
    if (!m) return out_of_memory(u);
    memset(m + old, 0, (u->memo_cap - old) * sizeof *m);
    u->memo = m;
    if (!m[idx]) u->memo_count++;
    m[idx] = u->stack[u->sp - 1];
    return ALIGN_OK;
}

static align_status memo_get(unpickler *u, size_t idx)
{
    if (idx >= u->memo_cap || !u->memo[idx]) return bad(u, "memo index %zu was never set", idx);
    return push(u, u->memo[idx]);
}

static align_status memo_op(unpickler *u, size_t idx_bytes, int put)
{
    const uint8_t *a = take(u, idx_bytes);
    if (!a) return truncated(u);
    size_t idx = idx_bytes == 1 ? *a : rd32(a);
    return put ? memo_put(u, idx) : memo_get(u, idx);
}

/* BINPERSID: torch.save's reference to a storage file, ('storage', type, key, location, numel). */
static align_status persistent_load(unpickler *u)
{
    obj *pid = NULL;
    align_status s = pop(u, &pid);
    if (s) return s;
    obj **a = pid->kind == OBJ_TUPLE && pid->seq.n == 5 ? pid->seq.items : NULL;
    if (!a || !str_is(a[0], "storage") || a[1]->kind != OBJ_GLOBAL || a[2]->kind != OBJ_STR ||
        a[3]->kind != OBJ_STR || a[4]->kind != OBJ_INT)
        return bad(u, "persistent id is not ('storage', type, key, location, numel)");
    if (allowed_globals[a[1]->global].kind != G_STORAGE)
        return bad(u, "persistent id names %s.%s, not a storage type", allowed_globals[a[1]->global].module,
                   allowed_globals[a[1]->global].name);
    const obj *key = a[2];
    tensor_dtype dtype = allowed_globals[a[1]->global].dtype;
    int64_t numel = a[4]->i;

    const zip_entry *file;
    if (!zip_find_member(u->zip, u->prefix, u->prefix_len, "data/", key->str.s, key->str.len, &file))
        return out_of_memory(u);
    int shown = SHOWN(key->str.len);
    if (!file) return bad(u, "storage '%.*s' is not in the archive", shown, key->str.s);
    if (numel < 0 || (uint64_t)numel > file->size / dtype_size(dtype))
        return bad(u, "storage '%.*s' claims %lld %s elements but its file holds %zu bytes", shown,
                   key->str.s, (long long)numel, dtype_name(dtype), file->size);

    obj *o = new_obj(u, OBJ_STORAGE);
    if (o) {
        o->storage.file = file;
        o->storage.dtype = dtype;
        o->storage.numel = numel;
    }
    return push(u, o);
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]): a view of
 * the storage, which must be a contiguous run of it. */
static align_status rebuild_tensor(unpickler *u, obj *const *a, size_t n)
{
    if (n != 6 && n != 7) return bad(u, "_rebuild_tensor_v2 takes 6 or 7 arguments, not %zu", n);
    const obj *storage = a[0], *offset = a[1], *size = a[2], *stride = a[3];
    if (storage->kind != OBJ_STORAGE || offset->kind != OBJ_INT || size->kind != OBJ_TUPLE ||
        stride->kind != OBJ_TUPLE)
        return bad(u, "_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, ...)");
    size_t ndim = size->seq.n;
    if (ndim > TENSOR_MAX_DIMS)
        return bad(u, "tensor has %zu dimensions, at most %d are supported", ndim, TENSOR_MAX_DIMS);
    if (stride->seq.n != ndim) return bad(u, "tensor has %zu sizes but %zu strides", ndim, stride->seq.n);
    int64_t numel = 1;
    for (size_t i = 0; i < ndim; i++) {
        const obj *d = size->seq.items[i];
        if (d->kind != OBJ_INT || d->i < 0) return bad(u, "tensor size %zu is not a count", i);
        if (d->i && numel > INT64_MAX / d->i) return bad(u, "tensor element count overflows");
        numel *= d->i;
    }
    for (size_t i = 0; i < ndim; i++)
        if (stride->seq.items[i]->kind != OBJ_INT) return bad(u, "tensor stride %zu is not an int", i);
    /* row-major; like torch's is_contiguous, a dimension of size 1 may have any stride, and an
     * empty tensor any strides at all */
    int64_t expect = 1;
    for (size_t i = ndim; numel && i-- > 0;) {
        int64_t dim = size->seq.items[i]->i, st = stride->seq.items[i]->i;
        if (dim != 1 && st != expect)
            return bad(u, "tensor is not contiguous (stride %lld in dimension %zu, expected %lld)",
                       (long long)st, i, (long long)expect);
        expect *= dim;
    }
    int64_t have = storage->storage.numel, off = offset->i;
    if (off < 0 || off > have || numel > have - off)
        return bad(u, "tensor of %lld elements at offset %lld does not fit its storage of %lld",
                   (long long)numel, (long long)off, (long long)have);
    obj *t = new_obj(u, OBJ_TENSOR);
    if (t) {
        t->tensor.storage = storage;
        t->tensor.shape = size;
        t->tensor.offset = off;
        t->tensor.numel = numel;
    }
    return push(u, t);
}

static align_status reduce(unpickler *u)
{
    obj *args = NULL, *fn = NULL;
    align_status s;
    if ((s = pop(u, &args)) || (s = pop(u, &fn))) return s;
    if (fn->kind != OBJ_GLOBAL) return bad(u, "REDUCE calls %s", kind_name(fn->kind));
    if (args->kind != OBJ_TUPLE) return bad(u, "REDUCE arguments are %s, not a tuple", kind_name(args->kind));
    obj **a = args->seq.items;
    size_t n = args->seq.n;
    switch (allowed_globals[fn->global].kind) {
    case G_ORDERED_DICT:
        if (n) return bad(u, "OrderedDict called with %zu arguments", n);
        return push(u, new_obj(u, OBJ_DICT));
    case G_REBUILD_TENSOR: return rebuild_tensor(u, a, n);
    case G_REBUILD_PARAMETER:
        /* (data, requires_grad, backward_hooks): a Parameter is its data tensor */
        if (n != 3 || a[0]->kind != OBJ_TENSOR)
            return bad(u, "_rebuild_parameter arguments are not (tensor, ...)");
        return push(u, a[0]);
    case G_STORAGE: break;
    }
    return bad(u, "torch.%s cannot be called", allowed_globals[fn->global].name);
}

/* The state is an OrderedDict's _metadata or a tensor's Python attributes: neither changes the
 * weights, so it is dropped. */
static align_status build(unpickler *u)
{
    obj *state = NULL;
    align_status s = pop(u, &state);
    if (s) return s;
    if (u->sp == stack_floor(u)) return bad(u, "stack underflow");
    obj_kind kind = u->stack[u->sp - 1]->kind;
    if (kind != OBJ_DICT && kind != OBJ_TENSOR) return bad(u, "BUILD on %s", kind_name(kind));
    return ALIGN_OK;
}

static align_status stop(unpickler *u, obj **result)
{
    if (u->sp != 1 || u->n_marks)
        return bad(u, "STOP with %zu objects and %zu MARKs on the stack instead of one object", u->sp,
                   u->n_marks);
    *result = u->stack[0];
    return ALIGN_OK;
}

/* Runs one opcode; *result is set by STOP. */
static align_status step(unpickler *u, uint8_t op, obj **result)
{
    const uint8_t *a;
    switch (op) {
    case 0x80: /* PROTO */
        if (!(a = take(u, 1))) return truncated(u);
        if (*a > 5) return bad(u, "pickle protocol %u is not supported", (unsigned)*a);
        return ALIGN_OK;
    case 0x95: /* FRAME: a length prefix for buffered reading; the whole pickle is in memory */
        if (!(a = take(u, 8))) return truncated(u);
        if (rd64(a) > (uint64_t)(u->end - u->p)) return bad(u, "frame runs past the end");
        return ALIGN_OK;
    case '.': return stop(u, result);
    case '(': return push_mark(u);
    case '}': return push(u, new_obj(u, OBJ_DICT));
    case ']': return push(u, new_obj(u, OBJ_LIST));
    case ')': return push(u, new_obj(u, OBJ_TUPLE));
    case 't': {
        size_t base = 0;
        align_status s = pop_mark(u, &base);
        return s ? s : make_tuple(u, base);
    }
    case 0x85: return tuple_of_top(u, 1); /* TUPLE1 */
    case 0x86: return tuple_of_top(u, 2); /* TUPLE2 */
    case 0x87: return tuple_of_top(u, 3); /* TUPLE3 */
    case 's': return extend_top(u, OBJ_DICT, 2); /* SETITEM */
    case 'u': return extend_mark(u, OBJ_DICT);   /* SETITEMS */
    case 'a': return extend_top(u, OBJ_LIST, 1); /* APPEND */
    case 'e': return extend_mark(u, OBJ_LIST);   /* APPENDS */
    case 'X': return push_str(u, 4);             /* BINUNICODE */
    case 0x8c: return push_str(u, 1);            /* SHORT_BINUNICODE */
    case 'J': /* BININT */
        if (!(a = take(u, 4))) return truncated(u);
        return push_int(u, (int32_t)rd32(a));
    case 'K': /* BININT1 */
        if (!(a = take(u, 1))) return truncated(u);
        return push_int(u, *a);
    case 'M': /* BININT2 */
        if (!(a = take(u, 2))) return truncated(u);
        return push_int(u, rd16(a));
    case 0x8a: return push_long1(u);
    case 'N': return push(u, &u->none);
    case 0x88: return push(u, &u->yes); /* NEWTRUE */
    case 0x89: return push(u, &u->no);  /* NEWFALSE */
    case 'c': return global_inline(u);
    case 0x93: return global_stack(u);
    case 'R': return reduce(u);
    case 'b': return build(u);
    case 'Q': return persistent_load(u);
    case 'q': return memo_op(u, 1, 1); /* BINPUT */
    case 'r': return memo_op(u, 4, 1); /* LONG_BINPUT */
    case 'h': return memo_op(u, 1, 0); /* BINGET */
    case 'j': return memo_op(u, 4, 0); /* LONG_BINGET */
    case 0x94: return memo_put(u, u->memo_count); /* MEMOIZE */
    }
    if (op >= 0x20 && op < 0x7f) return bad(u, "unsupported pickle opcode 0x%02x ('%c')", op, op);
    return bad(u, "unsupported pickle opcode 0x%02x", op);
}

static align_status unpickle(unpickler *u, obj **result)
{
    *result = NULL;
    while (!*result) {
        u->op_at = (size_t)(u->p - u->start);
        const uint8_t *op = take(u, 1);
        if (!op) return bad(u, "pickle ends without STOP");
        align_status s = step(u, *op, result);
        if (s) return s;
    }
    return ALIGN_OK;
}

/* ---- state_dict ------------------------------------------------------------------------------ */

static align_status add_tensors(const obj *dict, const char *file, tensor_file *out, align_error *err)
{
    if (dict->kind != OBJ_DICT)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: data.pkl holds %s, not a state_dict", file,
                          kind_name(dict->kind));
    for (size_t i = 0; i < dict->seq.n; i += 2) {
        const obj *key = dict->seq.items[i], *val = dict->seq.items[i + 1];
        if (key->kind != OBJ_STR)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: state_dict key %zu is %s, not a name", file,
                              i / 2, kind_name(key->kind));
        if (memchr(key->str.s, 0, key->str.len))
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: state_dict key %zu holds a NUL byte", file, i / 2);
        int shown = SHOWN(key->str.len);
        if (val->kind != OBJ_TENSOR)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: state_dict entry %.*s is %s, not a tensor",
                              file, shown, key->str.s, kind_name(val->kind));
        const obj *storage = val->tensor.storage, *shape = val->tensor.shape;
        size_t esize = dtype_size(storage->storage.dtype);
        tensor_entry e = {
            .name = malloc(key->str.len + 1),
            .dtype = storage->storage.dtype,
            .ndim = (int)shape->seq.n,
            /* rebuild_tensor and persistent_load checked that this lies inside the storage file */
            .data = storage->storage.file->data + (size_t)val->tensor.offset * esize,
            .nbytes = (size_t)val->tensor.numel * esize,
        };
        if (!e.name) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", file);
        memcpy(e.name, key->str.s, key->str.len);
        e.name[key->str.len] = 0;
        for (int d = 0; d < e.ndim; d++) e.shape[d] = shape->seq.items[d]->i;
        align_status s = tensor_file_add(out, &e, file, err);
        if (s) return s;
    }
    return ALIGN_OK;
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
static align_status check_byteorder(const zip_archive *zip, const zip_entry *pkl, size_t prefix_len,
                                    const char *file, align_error *err)
{
    const zip_entry *e;
    if (!zip_find_member(zip, pkl->name, prefix_len, "", "byteorder", 9, &e))
        return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", file);
    if (e && !(e->size == 6 && memcmp(e->data, "little", 6) == 0))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: byte order '%.*s' is not supported (only little)",
                          file, SHOWN(e->size), (const char *)e->data);
    return ALIGN_OK;
}

static align_status load_state_dict(const zip_archive *zip, const char *file, tensor_file *out,
                                    align_error *err)
{
    const zip_entry *pkl = NULL;
    size_t prefix_len = 0;
    align_status s = find_pickle(zip, file, &pkl, &prefix_len, err);
    if (!s) s = check_byteorder(zip, pkl, prefix_len, file, err);
    if (s) return s;
    unpickler u = {
        .file = file,
        .err = err,
        .zip = zip,
        .prefix = pkl->name,
        .prefix_len = prefix_len,
        .start = pkl->data,
        .p = pkl->data,
        .end = pkl->data + pkl->size,
        .none = {.kind = OBJ_NONE},
        .yes = {.kind = OBJ_BOOL, .i = 1},
        .no = {.kind = OBJ_BOOL, .i = 0},
    };
    obj *result;
    s = unpickle(&u, &result);
    if (!s) s = add_tensors(result, file, out, err);
    unpickler_free(&u);
    return s;
}

align_status pytorch_parse(const uint8_t *buf, size_t size, const char *name, tensor_file *out,
                           align_error *err)
{
    out->entries = NULL;
    out->count = out->cap = 0;
    zip_archive zip = {0};
    align_status s = zip_open(buf, size, name, &zip, err);
    if (!s) s = load_state_dict(&zip, name, out, err);
    free(zip.entries);
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
