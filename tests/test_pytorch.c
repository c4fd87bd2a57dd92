/* PyTorch checkpoints: the tiny models' pytorch_model.bin must read as exactly the tensors of their
 * model.safetensors, a protocol-4 checkpoint from torch.save must read as written, and hostile
 * archives and pickles (built here byte by byte) must fail with a clear message. */
#include <stdlib.h>
#include <string.h>

#include "builders.h"
#include "checkpoint.h"
#include "error.h"
#include "fileio.h"
#include "pytorch.h"
#include "tensors.h"
#include "test.h"

/* ---- building archives and pickles ---- */

#define PUTS(b, lit) put(b, lit, sizeof lit - 1)

/* Offsets into a zip_file archive. */
static size_t eocd_of(const buf *z) { return z->n - 22; }
static size_t cd_of(const buf *z) { return get32le(z->p + eocd_of(z) + 16); }

static void p_op(buf *b, unsigned op) { put8(b, op); }
static void p_str(buf *b, const char *s)
{
    p_op(b, 'X');
    put32le(b, (uint32_t)strlen(s));
    put(b, s, strlen(s));
}
static void p_int(buf *b, long long v)
{
    if (v >= 0 && v < 256) {
        p_op(b, 'K'), put8(b, (unsigned)v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        p_op(b, 'J'), put32le(b, (uint32_t)v);
    } else { /* LONG1 with 8 bytes, as pickle writes integers beyond 32 bits */
        uint8_t le[8];
        set64le(le, (uint64_t)v);
        p_op(b, 0x8a), put8(b, 8), put(b, le, 8);
    }
}
static void p_global(buf *b, const char *module, const char *name)
{
    p_op(b, 'c');
    put(b, module, strlen(module)), put8(b, '\n');
    put(b, name, strlen(name)), put8(b, '\n');
}
static void p_empty_ordered_dict(buf *b)
{
    p_global(b, "collections", "OrderedDict");
    p_op(b, ')'), p_op(b, 'R');
}

typedef struct {
    const char *name, *storage, *key; /* storage: "FloatStorage", ... */
    long long numel, offset;
    int ndim;
    long long size[12], stride[12];
    int parameter; /* wrapped in _rebuild_parameter */
    int build;     /* followed by BUILD with a state dict, as tensors with attributes can be */
    int nstride;   /* strides written when not ndim */
} tspec;

/* What torch.save writes for one tensor of a state_dict, in protocol 2. */
static void p_tensor(buf *b, const tspec *t)
{
    p_str(b, t->name);
    if (t->parameter) p_global(b, "torch._utils", "_rebuild_parameter");
    p_global(b, "torch._utils", "_rebuild_tensor_v2");
    p_op(b, '(');
    p_op(b, '(');
    p_str(b, "storage"), p_global(b, "torch", t->storage), p_str(b, t->key), p_str(b, "cpu");
    p_int(b, t->numel);
    p_op(b, 't'), p_op(b, 'Q');
    p_int(b, t->offset);
    p_op(b, '(');
    for (int i = 0; i < t->ndim; i++) p_int(b, t->size[i]);
    p_op(b, 't'), p_op(b, '(');
    for (int i = 0; i < (t->nstride ? t->nstride : t->ndim); i++) p_int(b, t->stride[i]);
    p_op(b, 't');
    p_op(b, 0x89);
    p_empty_ordered_dict(b);
    p_op(b, 't'), p_op(b, 'R');
    if (t->build) {
        p_op(b, '}'), p_str(b, "note"), p_int(b, 1), p_op(b, 's'), p_op(b, 'b');
    }
    if (t->parameter) {
        p_op(b, 0x88);
        p_empty_ordered_dict(b);
        p_op(b, 0x87), p_op(b, 'R');
    }
}

/* An OrderedDict of the tensors with a _metadata state, as state_dict() returns. */
static buf p_state_dict(const tspec *t, int n)
{
    buf b = {0};
    p_op(&b, 0x80), put8(&b, 2);
    p_empty_ordered_dict(&b);
    p_op(&b, 'q'), put8(&b, 0);
    p_op(&b, '(');
    for (int i = 0; i < n; i++) p_tensor(&b, &t[i]);
    p_op(&b, 'u');
    p_op(&b, '}'), p_str(&b, "_metadata");
    p_op(&b, 'h'), put8(&b, 0); /* any dict will do */
    p_op(&b, 's'), p_op(&b, 'b');
    p_op(&b, '.');
    return b;
}

static const float W6[6] = {1, 2, 3, 4, 5, 6};
static const int64_t IDS[3] = {7, -8, 1LL << 40};

/* An archive "a/" with data.pkl = pkl, storage "0" = W6 and storage "1" = IDS. */
static buf archive(const buf *pkl)
{
    zfile f[] = {{"a/data.pkl", pkl->p, pkl->n, 0, 0, 0},
                 {"a/data/0", W6, sizeof W6, 0, 0, 0},
                 {"a/data/1", IDS, sizeof IDS, 0, 0, 0},
                 {"a/version", "3\n", 2, 0, 0, 0}};
    return zip_file(f, 4);
}

static const tspec W23 = {"w", "FloatStorage", "0", 6, 0, 2, {2, 3}, {3, 1}, 0, 0, 0};

static buf archive_of(const tspec *t)
{
    buf pkl = p_state_dict(t, 1);
    buf z = archive(&pkl);
    free(pkl.p);
    return z;
}

/* An archive whose data.pkl is exactly the given bytes. */
static buf archive_raw(const void *pkl, size_t n)
{
    buf p = {0};
    put(&p, pkl, n);
    buf z = archive(&p);
    free(p.p);
    return z;
}

/* ---- checking ---- */

/* A heap copy of exactly size bytes, so AddressSanitizer sees any read past the end. */
static uint8_t *exact_copy(const void *buf, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (size) memcpy(copy, buf, size);
    return copy;
}

static void expect_fail_at(int line, const void *buf, size_t size, align_status code, const char *needle)
{
    tensor_file tf = {0};
    align_error err = {0};
    uint8_t *copy = exact_copy(buf, size);
    align_status s = pytorch_parse(copy, size, "hostile.bin", &tf, &err);
    free(copy);
    CHECK_MSG(s == code, "line %d: status %d, expected %d (%s)", line, (int)s, (int)code, err.message);
    CHECK_MSG(strstr(err.message, needle) && strstr(err.message, "hostile.bin"),
              "line %d: message \"%s\" should name the file and contain \"%s\"", line, err.message, needle);
    CHECK_MSG(tf.count == 0 && !tf.entries, "line %d: failed parse left %zu entries", line, tf.count);
    tensor_file_free(&tf);
}
#define EXPECT_FAIL(buf, size, code, needle) expect_fail_at(__LINE__, buf, size, code, needle)
#define EXPECT_BAD(z, needle) EXPECT_FAIL((z).p, (z).n, ALIGN_ERR_FORMAT, needle)

static void expect_tensor(const tensor_file *tf, const char *name, tensor_dtype dtype, int ndim,
                          const int64_t *shape, const void *data, size_t nbytes)
{
    const tensor_entry *t = tensor_file_find(tf, name);
    CHECK_MSG(t, "tensor %s missing", name);
    if (!t) return;
    CHECK_STR(dtype_name(t->dtype), dtype_name(dtype));
    CHECK_INT(t->ndim, ndim);
    for (int i = 0; i < ndim && i < t->ndim; i++) CHECK_INT(t->shape[i], shape[i]);
    CHECK_INT(t->nbytes, nbytes);
    CHECK_MSG(t->nbytes == nbytes && (!nbytes || memcmp(t->data, data, nbytes) == 0),
              "tensor %s: wrong bytes", name);
}

/* ---- reading real checkpoints ---- */

static void check_same_as_safetensors(const char *model)
{
    char bin_rel[64], st_rel[64];
    snprintf(bin_rel, sizeof bin_rel, "%s/pytorch_model.bin", model);
    snprintf(st_rel, sizeof st_rel, "%s/model.safetensors", model);
    tensor_file pt, st;
    align_error err;
    align_status s = checkpoint_open(fixture(bin_rel), &pt, &err);
    CHECK_MSG(s == ALIGN_OK, "%s", err.message);
    if (s) return;
    s = checkpoint_open(fixture(st_rel), &st, &err);
    CHECK_MSG(s == ALIGN_OK, "%s", err.message);
    if (!s) {
        CHECK(pt.count > 100);
        CHECK_INT(pt.count, st.count);
        for (size_t i = 0; i < pt.count && i < st.count; i++) {
            const tensor_entry *a = &pt.entries[i], *b = &st.entries[i];
            CHECK_STR(a->name, b->name);
            CHECK_MSG(a->dtype == b->dtype, "%s: dtype %s vs %s", a->name, dtype_name(a->dtype),
                      dtype_name(b->dtype));
            CHECK_INT(a->ndim, b->ndim);
            for (int d = 0; d < a->ndim && d < b->ndim; d++) CHECK_INT(a->shape[d], b->shape[d]);
            CHECK_INT(a->nbytes, b->nbytes);
            CHECK_MSG(a->nbytes == b->nbytes && memcmp(a->data, b->data, a->nbytes) == 0, "%s: bytes differ",
                      a->name);
            /* read in place: the data lies inside the mapped file */
            CHECK(a->data >= pt.map.data && a->data + a->nbytes <= pt.map.data + pt.map.size);
        }
        const tensor_entry *ids = tensor_file_find(&pt, "text_model.embeddings.position_ids");
        CHECK(ids && ids->dtype == DTYPE_I64);
        tensor_file_free(&st);
    }
    tensor_file_free(&pt);
}

TEST(pytorch_tiny_a_matches_safetensors) { check_same_as_safetensors("tiny-a"); }
TEST(pytorch_tiny_b_matches_safetensors) { check_same_as_safetensors("tiny-b"); }

TEST(pytorch_protocol4_checkpoint)
{
    tensor_file tf;
    align_error err;
    align_status s = checkpoint_open(fixture("pytorch/proto4.pt"), &tf, &err);
    CHECK_MSG(s == ALIGN_OK, "%s", err.message);
    if (s) return;
    CHECK_INT(tf.count, 9);
    uint16_t half[6], bf16[4];
    for (int i = 0; i < 6; i++) half[i] = f32_to_f16((float)(i + 2)); /* storage offset 2 */
    for (int i = 0; i < 4; i++) bf16[i] = f32_to_bf16((float)i);
    const float param[4] = {0.5f, 0.5f, 0.5f, 0.5f}, scalar = 7.0f, base[6] = {0, 1, 2, 3, 4, 5},
                col[3] = {1, 1, 1};
    const int64_t longs[3] = {0, 1, 2};
    expect_tensor(&tf, "half", DTYPE_F16, 2, (int64_t[]){2, 3}, half, sizeof half);
    expect_tensor(&tf, "bf16", DTYPE_BF16, 1, (int64_t[]){4}, bf16, sizeof bf16);
    expect_tensor(&tf, "param", DTYPE_F32, 2, (int64_t[]){2, 2}, param, sizeof param);
    expect_tensor(&tf, "long", DTYPE_I64, 1, (int64_t[]){3}, longs, sizeof longs);
    expect_tensor(&tf, "scalar", DTYPE_F32, 0, NULL, &scalar, sizeof scalar);
    expect_tensor(&tf, "empty", DTYPE_F32, 2, (int64_t[]){0, 3}, NULL, 0);
    expect_tensor(&tf, "row0", DTYPE_F32, 1, (int64_t[]){3}, base, 12);
    expect_tensor(&tf, "row1", DTYPE_F32, 1, (int64_t[]){3}, base + 3, 12);
    expect_tensor(&tf, "col", DTYPE_F32, 2, (int64_t[]){3, 1}, col, sizeof col);
    const tensor_entry *r0 = tensor_file_find(&tf, "row0"), *r1 = tensor_file_find(&tf, "row1");
    CHECK(r0 && r1 && r1->data == r0->data + 12); /* one storage, used in place */
    tensor_file_free(&tf);
}

TEST(pytorch_built_state_dict)
{
    /* a Parameter, a tensor with BUILD state, an I64 tensor at an offset, a 1x3 row whose size-1
     * dimension has an arbitrary stride, and two views of one storage */
    tspec t[] = {
        {"w", "FloatStorage", "0", 6, 0, 2, {2, 3}, {3, 1}, 1, 0, 0},
        {"tail", "FloatStorage", "0", 6, 4, 1, {2}, {1}, 0, 1, 0},
        {"ids", "LongStorage", "1", 3, 1, 1, {2}, {1}, 0, 0, 0},
        {"row", "FloatStorage", "0", 6, 3, 2, {1, 3}, {77, 1}, 0, 0, 0},
    };
    buf pkl = p_state_dict(t, 4), z = archive(&pkl);
    uint8_t *buf = exact_copy(z.p, z.n);
    tensor_file tf = {0};
    align_error err;
    align_status s = pytorch_parse(buf, z.n, "built.bin", &tf, &err);
    CHECK_MSG(s == ALIGN_OK, "%s", err.message);
    if (!s) {
        CHECK_INT(tf.count, 4);
        CHECK_STR(tf.entries[0].name, "ids"); /* sorted */
        expect_tensor(&tf, "w", DTYPE_F32, 2, (int64_t[]){2, 3}, W6, sizeof W6);
        expect_tensor(&tf, "tail", DTYPE_F32, 1, (int64_t[]){2}, W6 + 4, 8);
        expect_tensor(&tf, "ids", DTYPE_I64, 1, (int64_t[]){2}, IDS + 1, 16);
        expect_tensor(&tf, "row", DTYPE_F32, 2, (int64_t[]){1, 3}, W6 + 3, 12);
        const tensor_entry *w = tensor_file_find(&tf, "w");
        CHECK(w && w->data > buf && w->data < buf + z.n);
    }
    tensor_file_free(&tf);
    free(buf);
    free(pkl.p);
    free(z.p);
}

TEST(pytorch_zip64_extra_field)
{
    buf pkl = p_state_dict(&W23, 1);
    zfile f[] = {{"a/data.pkl", pkl.p, pkl.n, 0, 0, 1}, {"a/data/0", W6, sizeof W6, 0, 0, 1}};
    buf z = zip_file(f, 2);
    uint8_t *buf = exact_copy(z.p, z.n);
    tensor_file tf = {0};
    align_error err;
    align_status s = pytorch_parse(buf, z.n, "zip64.bin", &tf, &err);
    CHECK_MSG(s == ALIGN_OK, "%s", err.message);
    if (!s) expect_tensor(&tf, "w", DTYPE_F32, 2, (int64_t[]){2, 3}, W6, sizeof W6);
    tensor_file_free(&tf);
    free(buf);
    /* the extra field cut short: 24 bytes claimed but a record of 16 */
    size_t cd = cd_of(&z), name_len = strlen(f[0].name);
    set16le(z.p + cd + 46 + name_len + 2, 16);
    EXPECT_BAD(z, "a/data.pkl: bad extra field");
    set16le(z.p + cd + 46 + name_len + 2, 40); /* past the extra data */
    EXPECT_BAD(z, "a/data.pkl: bad extra field");
    free(z.p);
    free(pkl.p);
}

/* ---- hostile archives ---- */

static uint8_t *load_fixture(const char *rel, size_t *size)
{
    file_map m;
    align_error err;
    if (file_map_open(fixture(rel), &m, &err)) {
        CHECK_MSG(0, "%s", err.message);
        return NULL;
    }
    uint8_t *copy = malloc(m.size);
    memcpy(copy, m.data, m.size);
    *size = m.size;
    file_map_close(&m);
    return copy;
}

TEST(pytorch_empty_and_truncated)
{
    EXPECT_FAIL(NULL, 0, ALIGN_ERR_FORMAT, "too short");
    EXPECT_FAIL("PK\3\4", 4, ALIGN_ERR_FORMAT, "too short");
    size_t size;
    uint8_t *full = load_fixture("tiny-a/pytorch_model.bin", &size);
    if (!full) return;
    size_t cuts[] = {30, 1000, size / 2, size - 100, size - 23, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        EXPECT_FAIL(full, cuts[i], ALIGN_ERR_FORMAT, "end-of-central-directory");
    free(full);

    /* a data.pkl cut short inside a sound archive */
    buf pkl = p_state_dict(&W23, 1);
    size_t pkl_cuts[] = {1, 2, 40, pkl.n / 2, pkl.n - 1};
    for (size_t i = 0; i < sizeof pkl_cuts / sizeof pkl_cuts[0]; i++) {
        buf z = archive_raw(pkl.p, pkl_cuts[i]);
        EXPECT_FAIL(z.p, z.n, ALIGN_ERR_FORMAT, "data.pkl at byte");
        free(z.p);
    }
    free(pkl.p);
}

TEST(pytorch_bad_central_directory)
{
    buf good = archive_of(&W23);
    size_t eocd = eocd_of(&good), cd = cd_of(&good);
    buf z = {0};
#define MUTATE(stmt, needle)                                                                       \
    do {                                                                                           \
        z.n = 0;                                                                                   \
        put(&z, good.p, good.n);                                                                   \
        stmt;                                                                                      \
        EXPECT_BAD(z, needle);                                                                     \
    } while (0)
    MUTATE(z.p[cd] = 'X', "bad zip central directory record");
    MUTATE((set16le(z.p + eocd + 8, 60000), set16le(z.p + eocd + 10, 60000)), "claims 60000 entries");
    MUTATE(set32le(z.p + eocd + 12, get32le(z.p + eocd + 12) - 5), "runs past the directory");
    MUTATE(set32le(z.p + eocd + 12, get32le(z.p + eocd + 12) - 10), "bad zip central directory record");
    MUTATE(set32le(z.p + eocd + 16, 0xfffffff0u), "lies outside the file");
    MUTATE(set32le(z.p + eocd + 12, (uint32_t)good.n), "lies outside the file");
    MUTATE(set16le(z.p + eocd + 4, 1), "multi-disk");
    MUTATE(set32le(z.p + cd + 42, (uint32_t)cd), "no local header");       /* local header offset */
    MUTATE(set32le(z.p + cd + 42, 0x7fffffffu), "no local header");
    MUTATE(z.p[0] = 'Q', "no local header");                              /* local signature */
    MUTATE((set32le(z.p + cd + 20, 1u << 30), set32le(z.p + cd + 24, 1u << 30)), "runs into the central directory");
    MUTATE(set32le(z.p + cd + 20, 7), "sizes differ");
    MUTATE(set16le(z.p + cd + 28, 0xffff), "runs past the directory");      /* name length */
    MUTATE(z.p[30 + 2] = 'X', "local header disagrees");                  /* "a/data.pkl" -> "a/Xata.pkl" */
    MUTATE(z.p[eocd - 1] ^= 1, "local header disagrees");                /* last name's last byte */
    MUTATE(set16le(z.p + eocd + 20, 1), "end-of-central-directory");         /* comment past the end */
    /* data.pkl's stored size grown to reach into the next entry */
    MUTATE((set32le(z.p + cd + 20, get32le(z.p + cd + 20) + 40), set32le(z.p + cd + 24, get32le(z.p + cd + 24) + 40)),
           "overlap");
#undef MUTATE
    free(z.p);
    free(good.p);

    /* the real checkpoints carry zip64 records; break those */
    size_t size;
    uint8_t *full = load_fixture("tiny-a/pytorch_model.bin", &size);
    if (!full) return;
    size_t locator = size - 22 - 20;
    CHECK_INT(get32le(full + locator), 0x07064b50);
    size_t z64 = (size_t)get64le(full + locator + 8);
    uint8_t saved[56];
    memcpy(saved, full + z64, 56);
    set64le(full + z64 + 48, 1ull << 62); /* central directory offset */
    EXPECT_FAIL(full, size, ALIGN_ERR_FORMAT, "lies outside the file");
    memcpy(full + z64, saved, 56);
    set64le(full + z64 + 24, 1ull << 40), set64le(full + z64 + 32, 1ull << 40); /* entry counts */
    EXPECT_FAIL(full, size, ALIGN_ERR_FORMAT, "claims 1099511627776 entries");
    memcpy(full + z64, saved, 56);
    set64le(full + locator + 8, size); /* zip64 record offset */
    EXPECT_FAIL(full, size, ALIGN_ERR_FORMAT, "zip64");
    free(full);
}

TEST(pytorch_unsupported_entries)
{
    buf pkl = p_state_dict(&W23, 1);
    zfile f[] = {{"a/data.pkl", pkl.p, pkl.n, 0, 0, 0}, {"a/data/0", W6, sizeof W6, 8, 0, 0}};
    buf z = zip_file(f, 2);
    EXPECT_BAD(z, "a/data/0 is compressed (method 8)");
    free(z.p);
    f[1].method = 0, f[1].flags = 1;
    z = zip_file(f, 2);
    EXPECT_BAD(z, "a/data/0 is encrypted");
    free(z.p);
    f[1].flags = 0;
    zfile twice[] = {f[0], f[1], f[1]};
    z = zip_file(twice, 3);
    EXPECT_BAD(z, "a/data/0 appears twice");
    free(z.p);
    zfile no_pickle[] = {{"a/data/0", W6, sizeof W6, 0, 0, 0}, {"a/version", "3\n", 2, 0, 0, 0}};
    z = zip_file(no_pickle, 2);
    EXPECT_BAD(z, "no <dir>/data.pkl");
    free(z.p);
    zfile two_pickles[] = {f[0], f[1], {"b/data.pkl", pkl.p, pkl.n, 0, 0, 0}};
    z = zip_file(two_pickles, 3);
    EXPECT_BAD(z, "more than one data.pkl");
    free(z.p);
    zfile big_endian[] = {f[0], f[1], {"a/byteorder", "big", 3, 0, 0, 0}};
    z = zip_file(big_endian, 3);
    EXPECT_BAD(z, "byte order 'big'");
    free(z.p);
    free(pkl.p);
}

/* ---- hostile pickles ---- */

#define RAW(lit) archive_raw(lit, sizeof lit - 1)
#define EXPECT_RAW(lit, needle)                                                                    \
    do {                                                                                           \
        buf z_ = RAW(lit);                                                                       \
        EXPECT_BAD(z_, needle);                                                                    \
        free(z_.p);                                                                                \
    } while (0)

TEST(pytorch_refuses_foreign_code)
{
    EXPECT_RAW("\x80\x02" "cos\nsystem\n" "X\x02\x00\x00\x00id" "\x85R.", "refusing global os.system");
    EXPECT_RAW("\x80\x04\x8c\x08" "builtins" "\x8c\x04" "eval" "\x93.", "refusing global builtins.eval");
    EXPECT_RAW("\x80\x02" "ctorch\nIntStorage\n.", "refusing global torch.IntStorage");
    EXPECT_RAW("\x80\x02" "ctorch._utils\n_rebuild_tensor\n.",
               "refusing global torch._utils._rebuild_tensor (");
    EXPECT_RAW("\x80\x02" "i__builtin__\nfoo\n.", "unsupported pickle opcode 0x69 ('i')");
    EXPECT_RAW("\x80\x02" "\x01", "unsupported pickle opcode 0x01");
    EXPECT_RAW("\x80\x02" "S'x'\n.", "unsupported pickle opcode 0x53 ('S')");
    EXPECT_RAW("\x80\x06" "}.", "pickle protocol 6");
    /* allowed globals used the wrong way */
    EXPECT_RAW("\x80\x02" "ctorch\nFloatStorage\n)R.", "torch.FloatStorage cannot be called");
    EXPECT_RAW("\x80\x02" "ccollections\nOrderedDict\nK\x01\x85R.", "OrderedDict called with 1 arguments");
    EXPECT_RAW("\x80\x02" "X\x01\x00\x00\x00x)R.", "REDUCE calls a str");
    EXPECT_RAW("\x80\x02" "ctorch._utils\n_rebuild_parameter\nK\x01NN\x87R.", "_rebuild_parameter");
    EXPECT_RAW("\x80\x02" "K\x01}b.", "BUILD on an int");
    EXPECT_RAW("\x80\x02" ")K\x01K\x02s.", "cannot add items to a tuple");
}

TEST(pytorch_bad_structure)
{
    EXPECT_RAW("\x80\x02" "]." , "holds a list, not a state_dict");
    EXPECT_RAW("\x80\x02" "}X\x05\x00\x00\x00" "epochK\x03s.", "entry epoch is an int, not a tensor");
    EXPECT_RAW("\x80\x02" "}K\x01K\x02s.", "key 0 is an int");
    EXPECT_RAW("\x80\x02" "}}", "without STOP");
    EXPECT_RAW("\x80\x02" "}}.", "STOP with 2 objects");
    EXPECT_RAW("\x80\x02" "(}.", "STOP with 1 objects and 1 MARKs");
    EXPECT_RAW("\x80\x02" ".", "STOP with 0 objects");
    EXPECT_RAW("\x80\x02" "s.", "stack underflow");
    EXPECT_RAW("\x80\x02" "}(s.", "stack underflow"); /* SETITEM may not reach below a MARK */
    EXPECT_RAW("\x80\x02" "t.", "no MARK");
    /* an empty tuple before anything was pushed: clang's UBSan (make test SAN=1 CC=clang) caught the
     * parser offsetting the stack's null pointer, found by fuzz_pytorch */
    EXPECT_RAW("\x80\x02" "(t.", "holds a tuple, not a state_dict");
    EXPECT_RAW("\x80\x02" "}(K\x01u.", "a key without a value");
    EXPECT_RAW("\x80\x02" "Q.", "stack underflow");
    EXPECT_RAW("\x80\x02" "K\x01Q.", "persistent id is not");
    EXPECT_RAW("\x80\x02" "(X\x07\x00\x00\x00storageccollections\nOrderedDict\n"
               "X\x01\x00\x00\x00" "0NK\x01tQ.",
               "persistent id is not");
    EXPECT_RAW("\x80\x02" "(X\x07\x00\x00\x00storageccollections\nOrderedDict\nX\x01\x00\x00\x00" "0"
               "X\x03\x00\x00\x00" "cpuK\x01tQ.",
               "names collections.OrderedDict, not a storage type");
    EXPECT_RAW("\x80\x02" "\x95\xff\x00\x00\x00\x00\x00\x00\x00}.", "frame runs past the end");
}

TEST(pytorch_bad_storages)
{
    tspec t = W23;
    buf z;
#define EXPECT_SPEC(needle)                                                                        \
    do {                                                                                           \
        z = archive_of(&t);                                                                        \
        EXPECT_BAD(z, needle);                                                                     \
        free(z.p);                                                                                 \
        t = W23;                                                                                   \
    } while (0)
    t.key = "9";
    EXPECT_SPEC("storage '9' is not in the archive");
    t.key = "";
    EXPECT_SPEC("storage '' is not in the archive");
    t.key = "../data.pkl";
    EXPECT_SPEC("is not in the archive");
    t.numel = 7; /* file holds 24 bytes = 6 floats */
    EXPECT_SPEC("claims 7 F32 elements but its file holds 24 bytes");
    t.storage = "LongStorage"; /* 24 bytes = 3 longs */
    EXPECT_SPEC("claims 6 I64 elements");
    t.numel = -1;
    EXPECT_SPEC("claims -1 F32 elements");
    t.numel = 1LL << 62;
    EXPECT_SPEC("claims 4611686018427387904 F32 elements");
    t.offset = 1;
    EXPECT_SPEC("tensor of 6 elements at offset 1 does not fit its storage of 6");
    t.offset = -1;
    EXPECT_SPEC("at offset -1 does not fit");
    t.offset = 1LL << 62;
    EXPECT_SPEC("does not fit");
    t.size[0] = 3;
    EXPECT_SPEC("tensor of 9 elements at offset 0 does not fit");
    t.stride[0] = 1, t.stride[1] = 2; /* a transpose */
    EXPECT_SPEC("not contiguous (stride 2 in dimension 1, expected 1)");
    t.stride[0] = 4;
    EXPECT_SPEC("not contiguous (stride 4 in dimension 0, expected 3)");
    t.stride[1] = 0; /* an expand */
    EXPECT_SPEC("not contiguous");
    t.nstride = 1;
    EXPECT_SPEC("has 2 sizes but 1 strides");
    t.size[0] = -2;
    EXPECT_SPEC("tensor size 0 is not a count");
#undef EXPECT_SPEC
}

TEST(pytorch_huge_counts)
{
    /* more dimensions than a tensor_entry holds */
    tspec t = W23;
    t.ndim = 9;
    for (int i = 0; i < 9; i++) t.size[i] = 1, t.stride[i] = 1;
    buf z = archive_of(&t);
    EXPECT_BAD(z, "tensor has 9 dimensions, at most 8");
    free(z.p);
    /* sizes whose product overflows int64 */
    t.ndim = 3;
    for (int i = 0; i < 3; i++) t.size[i] = INT32_MAX;
    z = archive_of(&t);
    EXPECT_BAD(z, "element count overflows");
    free(z.p);
    t.ndim = 2, t.size[0] = 1LL << 62, t.size[1] = 1LL << 62;
    z = archive_of(&t);
    EXPECT_BAD(z, "element count overflows");
    free(z.p);

    EXPECT_RAW("\x80\x02" "}r\xf0\xff\xff\xff.", "memo index 4294967280 out of range");
    EXPECT_RAW("\x80\x02" "j\xf0\xff\xff\xff.", "memo index 4294967280 was never set");
    EXPECT_RAW("\x80\x02" "}q\x00h\x01.", "memo index 1 was never set");
    EXPECT_RAW("\x80\x02" "q\x00.", "memoizing an empty stack");
    EXPECT_RAW("\x80\x02" "X\xff\xff\xff\xff" "abc", "string of 4294967295 bytes runs past the end");
    EXPECT_RAW("\x80\x04" "\x8c\xff" "abc", "string of 255 bytes runs past the end");
    EXPECT_RAW("\x80\x02" "\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.", "integer of 9 bytes is too large");
    EXPECT_RAW("\x80\x02" "\x8a\xff\x00\x00.", "truncated");
    EXPECT_RAW("\x80\x02" "ccollections\nOrdered", "truncated");

    /* a deep stack and deep MARK nesting are cut off, not grown without bound */
    buf deep = {0};
    PUTS(&deep, "\x80\x02");
    for (int i = 0; i < 70000; i++) put8(&deep, 'N');
    z = archive(&deep);
    EXPECT_BAD(z, "stack deeper than 65536");
    free(z.p);
    deep.n = 2;
    for (int i = 0; i < 70000; i++) put8(&deep, '(');
    z = archive(&deep);
    EXPECT_BAD(z, "more than 65536 open MARKs");
    free(z.p);
    free(deep.p);
}
