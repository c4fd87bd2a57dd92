/* The embedding index (lib/index.c) on real SQLite files: incremental rows, search against a
 * brute-force ranking in double, merges, every bad file, concurrent writers and kill -9. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "align.h"
#include "test.h"

#define DIM 640
#define MODEL "0123456789abcdef"

/* ---- helpers ---------------------------------------------------------------------------------- */

#define tmp tmp_path

/* A normalised pseudo-random vector, the same for the same seed (like an image embedding). */
static void fake_embedding(uint64_t seed, int dim, float *out)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    double ss = 0, v[4096];
    for (int i = 0; i < dim; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        v[i] = (double)(x >> 11) / 9007199254740992.0 * 2 - 1;
        ss += v[i] * v[i];
    }
    for (int i = 0; i < dim; i++) out[i] = (float)(v[i] / sqrt(ss));
}

/* n rows img00000... with fake embeddings seeded by their number (plus salt). */
static align_index_row *make_rows(int first, int n, uint64_t salt, float **embeds)
{
    static char paths[20000][32];
    align_index_row *rows = calloc((size_t)n, sizeof *rows);
    *embeds = malloc(sizeof(float) * DIM * (size_t)n);
    for (int i = 0; i < n; i++) {
        snprintf(paths[first + i], sizeof paths[0], "img%05d.jpg", first + i);
        fake_embedding((uint64_t)(first + i) + salt, DIM, *embeds + (size_t)i * DIM);
        rows[i] = (align_index_row){paths[first + i], 1000 + first + i, 1700000000000000000ll + first + i,
                                    *embeds + (size_t)i * DIM};
    }
    return rows;
}

static align_index *open_ok(const char *path, int flags)
{
    align_error err;
    align_index *ix = align_index_open(path, MODEL, DIM, flags, &err);
    CHECK_MSG(ix != NULL, "%s", err.message);
    return ix;
}

/* An index at path holding rows first..first+n-1. */
static void build_index(const char *path, int first, int n, uint64_t salt)
{
    float *e;
    align_index_row *rows = make_rows(first, n, salt, &e);
    align_index *ix = open_ok(path, ALIGN_INDEX_CREATE);
    align_error err;
    if (ix) CHECK_MSG(align_index_add(ix, rows, n, &err) == ALIGN_OK, "%s", err.message);
    align_index_close(ix);
    free(rows);
    free(e);
}

/* A regular file's bytes, or NULL. */
static char *read_bytes(const char *path, size_t *n)
{
    struct stat st;
    *n = 0;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = malloc((size_t)st.st_size + 1);
    size_t size = (size_t)st.st_size;
    *n = fread(b, 1, size, f);
    fclose(f);
    return b;
}

static void copy_file(const char *from, const char *to, size_t max)
{
    size_t n;
    char *b = read_bytes(from, &n);
    CHECK_MSG(b != NULL, "cannot read %s", from);
    if (b) write_tmp(to + strlen(test_tmpdir()) + 1, b, n < max ? n : max);
    free(b);
}

/* Names in dir, one string "a b c " (sorted), to see that nothing was created or deleted. */
static char *listing(const char *dir)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    char *out = calloc(1, 65536);
    for (int i = 0; i < n; i++) {
        if (strlen(out) + strlen(list[i]->d_name) + 2 < 65536) strcat(strcat(out, list[i]->d_name), " ");
        free(list[i]);
    }
    free(list);
    return out;
}

/* Every row of an index, in path order, as one string of path/size/mtime and embedding bytes. */
typedef struct {
    char *buf;
    size_t len, cap;
} dump;

static int dump_rows(void *user, const align_index_row *rows, int n)
{
    dump *d = user;
    for (int i = 0; i < n; i++) {
        size_t need = strlen(rows[i].path) + 64 + sizeof(float) * DIM;
        if (d->len + need > d->cap) d->buf = realloc(d->buf, d->cap = 2 * (d->cap + need));
        d->len += (size_t)sprintf(d->buf + d->len, "%s|%lld|%lld|", rows[i].path, (long long)rows[i].size,
                                  (long long)rows[i].mtime_ns);
        memcpy(d->buf + d->len, rows[i].embedding, sizeof(float) * DIM);
        d->len += sizeof(float) * DIM;
        /* one contiguous matrix per call */
        if (rows[i].embedding != rows[0].embedding + (size_t)i * DIM) d->len = (size_t)-1 / 2;
    }
    return 0;
}

static dump dump_index(const char *path)
{
    dump d = {0};
    align_error err;
    align_index *ix = align_index_open(path, NULL, 0, ALIGN_INDEX_READ, &err);
    CHECK_MSG(ix != NULL, "%s", err.message);
    if (ix) CHECK_MSG(align_index_scan(ix, dump_rows, &d, &err) == ALIGN_OK, "%s", err.message);
    align_index_close(ix);
    return d;
}

static int same_dump(const dump *a, const dump *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->buf, b->buf, a->len) == 0);
}

/* ---- rows ------------------------------------------------------------------------------------- */

TEST(index_rows_read_back_bit_for_bit)
{
    const char *path = tmp("rows.db");
    build_index(path, 0, 10, 0);
    align_index *ix = open_ok(path, ALIGN_INDEX_READ);
    if (!ix) return;
    CHECK_STR(align_index_model_id(ix), MODEL);
    CHECK_INT(align_index_dim(ix), DIM);
    int64_t count = 0;
    align_error err;
    CHECK(align_index_count(ix, &count, &err) == ALIGN_OK);
    CHECK_INT(count, 10);
    for (int i = 0; i < 10; i++) {
        char p[32];
        float want[DIM], got[DIM];
        int64_t size = 0, mtime = 0;
        int found = 0;
        snprintf(p, sizeof p, "img%05d.jpg", i);
        fake_embedding((uint64_t)i, DIM, want);
        CHECK_MSG(align_index_lookup(ix, p, &size, &mtime, got, &found, &err) == ALIGN_OK, "%s", err.message);
        CHECK(found);
        CHECK_INT(size, 1000 + i);
        CHECK_INT(mtime, 1700000000000000000ll + i);
        CHECK(memcmp(want, got, sizeof want) == 0);
    }
    int found = 1;
    CHECK(align_index_lookup(ix, "img99999.jpg", NULL, NULL, NULL, &found, &err) == ALIGN_OK);
    CHECK(!found);
    /* a reader cannot write */
    float *e;
    align_index_row *rows = make_rows(20, 1, 0, &e);
    CHECK(align_index_add(ix, rows, 1, &err) == ALIGN_ERR_ARG);
    CHECK_CONTAINS(err.message, "reading only");
    align_index_close(ix);
    free(rows);
    free(e);
}

TEST(index_add_replaces_changed_rows_and_keeps_the_rest)
{
    const char *path = tmp("incremental.db");
    build_index(path, 0, 6, 0);
    dump before = dump_index(path);
    /* the same rows again: nothing changes */
    build_index(path, 0, 6, 0);
    dump again = dump_index(path);
    CHECK(same_dump(&before, &again));
    /* row 3 changed (new size, time and embedding), row 6 new */
    float *e;
    align_index_row *rows = make_rows(3, 4, 777, &e);
    rows[0].size = 5;
    rows[0].mtime_ns = 6;
    align_index *ix = open_ok(path, ALIGN_INDEX_WRITE);
    align_error err;
    if (ix) CHECK_MSG(align_index_add(ix, rows, 1, &err) == ALIGN_OK, "%s", err.message);
    if (ix) CHECK_MSG(align_index_add(ix, rows + 3, 1, &err) == ALIGN_OK, "%s", err.message);
    int64_t size, mtime, count = 0;
    float got[DIM];
    int found = 0;
    if (ix) {
        CHECK(align_index_lookup(ix, "img00003.jpg", &size, &mtime, got, &found, &err) == ALIGN_OK && found);
        CHECK_INT(size, 5);
        CHECK_INT(mtime, 6);
        CHECK(memcmp(got, rows[0].embedding, sizeof got) == 0);
        CHECK(align_index_lookup(ix, "img00002.jpg", &size, &mtime, got, &found, &err) == ALIGN_OK && found);
        CHECK_INT(size, 1002);
        CHECK(align_index_count(ix, &count, &err) == ALIGN_OK);
        CHECK_INT(count, 7);
    }
    /* refused rows leave the index as it was */
    float nan_row[DIM] = {NAN};
    align_index_row bad[2] = {rows[1], {"x.jpg", 1, 1, nan_row}};
    if (ix) CHECK(align_index_add(ix, bad, 2, &err) == ALIGN_ERR_ARG);
    bad[1] = (align_index_row){NULL, 1, 1, got};
    if (ix) CHECK(align_index_add(ix, bad, 2, &err) == ALIGN_ERR_ARG);
    if (ix) CHECK(align_index_count(ix, &count, &err) == ALIGN_OK && count == 7);
    align_index_close(ix);
    free(rows);
    free(e);
    free(before.buf);
    free(again.buf);
}

TEST(index_scan_gives_every_row_in_path_order)
{
    const char *path = tmp("scan.db");
    /* more rows than one chunk, added out of order */
    build_index(path, 5000, 1000, 0);
    build_index(path, 0, 5000, 0);
    dump d = dump_index(path);
    size_t row = 0, at = 0;
    char prev[64] = "";
    int ordered = 1, exact = 1;
    while (at < d.len) {
        char *bar = memchr(d.buf + at, '|', d.len - at);
        if (!bar) break;
        char p[64];
        snprintf(p, sizeof p, "%.*s", (int)(bar - (d.buf + at)), d.buf + at);
        ordered &= strcmp(prev, p) < 0;
        snprintf(prev, sizeof prev, "%s", p);
        at = (size_t)(strchr(strchr(bar + 1, '|') + 1, '|') - d.buf) + 1;
        float want[DIM];
        fake_embedding((uint64_t)atoi(p + 3), DIM, want);
        exact &= memcmp(d.buf + at, want, sizeof want) == 0;
        at += sizeof want;
        row++;
    }
    CHECK_INT(row, 6000);
    CHECK(at == d.len);
    CHECK(ordered);
    CHECK(exact);
    free(d.buf);
}

static int keep_even(void *user, const char *path)
{
    (*(int *)user)++;
    return atoi(path + 3) % 2 == 0;
}

TEST(index_prune_and_remove)
{
    const char *path = tmp("prune.db");
    /* rows named after files: a few exist, the rest are gone */
    float *e;
    align_index_row *rows = make_rows(0, 8, 0, &e);
    char names[8][512];
    for (int i = 0; i < 8; i++) {
        snprintf(names[i], sizeof names[i], "%s", tmp("prune-%d.jpg", i));
        rows[i].path = names[i];
        if (i < 3) write_tmp(names[i] + strlen(test_tmpdir()) + 1, "x", 1);
    }
    align_error err;
    align_index *ix = open_ok(path, ALIGN_INDEX_CREATE);
    if (!ix) return;
    CHECK(align_index_add(ix, rows, 8, &err) == ALIGN_OK);
    int64_t removed = -1, count = -1;
    CHECK_MSG(align_index_prune(ix, NULL, NULL, &removed, &err) == ALIGN_OK, "%s", err.message);
    CHECK_INT(removed, 5);
    CHECK(align_index_count(ix, &count, &err) == ALIGN_OK);
    CHECK_INT(count, 3);
    int found;
    for (int i = 0; i < 8; i++) {
        CHECK(align_index_lookup(ix, names[i], NULL, NULL, NULL, &found, &err) == ALIGN_OK);
        CHECK_INT(found, i < 3);
    }
    const char *gone[] = {names[1], "never-there.jpg"};
    CHECK(align_index_remove(ix, gone, 2, &err) == ALIGN_OK);
    CHECK(align_index_count(ix, &count, &err) == ALIGN_OK && count == 2);
    align_index_close(ix);

    build_index(path = tmp("prune2.db"), 0, 10, 0);
    ix = open_ok(path, ALIGN_INDEX_WRITE);
    int calls = 0;
    if (ix) CHECK(align_index_prune(ix, keep_even, &calls, &removed, &err) == ALIGN_OK);
    CHECK_INT(calls, 10);
    CHECK_INT(removed, 5);
    if (ix) CHECK(align_index_lookup(ix, "img00004.jpg", NULL, NULL, NULL, &found, &err) == ALIGN_OK && found);
    if (ix) CHECK(align_index_lookup(ix, "img00005.jpg", NULL, NULL, NULL, &found, &err) == ALIGN_OK && !found);
    align_index_close(ix);
    free(rows);
    free(e);
}

/* ---- search ----------------------------------------------------------------------------------- */

typedef struct {
    int id;
    double score;
} exact_score;

static int by_exact_rank(const void *a, const void *b)
{
    const exact_score *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->id - y->id; /* img%05d: path order is number order */
}

/* Cosine similarities in double of rows 0..n-1 (with twins: row i >= n - twins repeats row
 * i - (n - twins)), ranked. */
static exact_score *brute_force(const float *query, int n, int twins)
{
    exact_score *s = malloc(sizeof *s * (size_t)n);
    double qn = 0;
    for (int j = 0; j < DIM; j++) qn += (double)query[j] * query[j];
    for (int i = 0; i < n; i++) {
        float e[DIM];
        fake_embedding((uint64_t)(i >= n - twins ? i - (n - twins) : i), DIM, e);
        double dot = 0, en = 0;
        for (int j = 0; j < DIM; j++) dot += (double)e[j] * query[j], en += (double)e[j] * e[j];
        s[i] = (exact_score){i, dot / sqrt(qn * en)};
    }
    qsort(s, (size_t)n, sizeof *s, by_exact_rank);
    return s;
}

/* The hits equal the brute-force ranking: each score within float rounding of the exact one, the
 * same paths in the same order wherever the exact scores are not within rounding of each other. */
static void check_ranking(const align_index_hit *hits, int n_hits, const exact_score *want, int n_want,
                          const double *exact_by_id)
{
    const double tol = 1e-5;
    CHECK_INT(n_hits, n_want);
    for (int i = 0; i < n_hits && i < n_want; i++) {
        int id = atoi(hits[i].path + 3);
        CHECK_MSG(fabs(hits[i].score - exact_by_id[id]) <= tol, "%s: score %.9g, exact %.9g", hits[i].path,
                  (double)hits[i].score, exact_by_id[id]);
        CHECK_MSG(fabs(exact_by_id[id] - want[i].score) <= tol, "rank %d: %s (%.9g), expected img%05d (%.9g)", i,
                  hits[i].path, exact_by_id[id], want[i].id, want[i].score);
        int alone = (i == 0 || want[i - 1].score - want[i].score > tol) &&
                    (i + 1 >= n_want || want[i].score - want[i + 1].score > tol);
        int tied = i + 1 < n_want && want[i].score == want[i + 1].score;
        if (alone || tied) CHECK_MSG(id == want[i].id, "rank %d: %s, expected img%05d", i, hits[i].path, want[i].id);
    }
}

TEST(index_search_equals_a_brute_force_ranking)
{
    enum { N = 5000, TWINS = 50 };
    const char *path = tmp("search.db");
    float *e;
    align_index_row *rows = make_rows(0, N, 0, &e);
    /* the last TWINS rows repeat the first ones under other paths: equal scores, ranked by path */
    for (int i = N - TWINS; i < N; i++) memcpy((float *)rows[i].embedding, rows[i - (N - TWINS)].embedding, sizeof(float) * DIM);
    align_index *ix = open_ok(path, ALIGN_INDEX_CREATE);
    align_error err;
    if (ix) CHECK(align_index_add(ix, rows, N, &err) == ALIGN_OK);
    align_index_close(ix);
    if (!(ix = open_ok(path, ALIGN_INDEX_READ))) return;

    double *exact_by_id = malloc(sizeof(double) * N);
    for (int q = 0; q < 4; q++) {
        float query[DIM];
        /* a twin's own embedding (so it and its twin tie at the top), then unrelated queries, the
         * last one not normalised */
        fake_embedding(q == 0 ? 7 : 100000 + (uint64_t)q, DIM, query);
        for (int j = 0; q == 3 && j < DIM; j++) query[j] *= 3.5f;
        exact_score *want = brute_force(query, N, TWINS);
        for (int i = 0; i < N; i++) exact_by_id[want[i].id] = want[i].score;
        align_index_hit *hits;
        int n;
        CHECK_MSG(align_index_search(ix, query, 25, -INFINITY, &hits, &n, &err) == ALIGN_OK, "%s", err.message);
        check_ranking(hits, n, want, 25, exact_by_id);
        if (q == 0 && n >= 2) {
            CHECK_STR(hits[0].path, "img00007.jpg");
            CHECK_STR(hits[1].path, "img04957.jpg");
            CHECK(hits[0].score == hits[1].score);
        }
        align_index_hits_free(hits, n);

        /* threshold: every row above it, none below; set in the middle of a wide gap */
        int cut = 40;
        while (want[cut].score - want[cut + 1].score < 1e-4) cut++;
        float threshold = (float)((want[cut].score + want[cut + 1].score) / 2);
        CHECK(align_index_search(ix, query, 0, threshold, &hits, &n, &err) == ALIGN_OK);
        check_ranking(hits, n, want, cut + 1, exact_by_id);
        align_index_hits_free(hits, n);
        CHECK(align_index_search(ix, query, 10, threshold, &hits, &n, &err) == ALIGN_OK);
        CHECK_INT(n, 10);
        align_index_hits_free(hits, n);
        free(want);
    }
    align_index_hit *hits;
    int n;
    float zero[DIM] = {0};
    CHECK(align_index_search(ix, zero, 5, -INFINITY, &hits, &n, &err) == ALIGN_ERR_ARG);
    CHECK_CONTAINS(err.message, "zero");
    align_index_close(ix);

    /* an empty index has no hits; k above the row count gives every row */
    build_index(path = tmp("small.db"), 0, 3, 0);
    ix = open_ok(tmp("empty.db"), ALIGN_INDEX_CREATE);
    if (ix) CHECK(align_index_search(ix, rows[0].embedding, 5, -INFINITY, &hits, &n, &err) == ALIGN_OK && n == 0);
    align_index_close(ix);
    ix = open_ok(path, ALIGN_INDEX_READ);
    if (ix) CHECK(align_index_search(ix, rows[0].embedding, 5, -INFINITY, &hits, &n, &err) == ALIGN_OK && n == 3);
    if (ix) align_index_hits_free(hits, n);
    align_index_close(ix);
    free(exact_by_id);
    free(rows);
    free(e);
}

/* ---- bad files -------------------------------------------------------------------------------- */

/* Opening path (for reading, writing and creating) fails with code and a message naming the file
 * and containing what; the directory's files and the file's bytes are as they were. */
static void expect_refused(const char *path, const char *model, align_status code, const char *what, int modes)
{
    size_t n0 = 0, n1 = 0;
    char *before = read_bytes(path, &n0), *names = listing(test_tmpdir());
    static const int flags[] = {ALIGN_INDEX_READ, ALIGN_INDEX_WRITE, ALIGN_INDEX_CREATE};
    for (int f = 0; f < 3; f++) {
        if (!(modes & (1 << f))) continue;
        align_error err = {0};
        align_index *ix = align_index_open(path, model, DIM, flags[f], &err);
        CHECK_MSG(ix == NULL, "%s opened with flags %d", path, flags[f]);
        align_index_close(ix);
        CHECK_MSG(err.code == code, "%s: %s (code %d)", path, err.message, err.code);
        CHECK_CONTAINS(err.message, path);
        CHECK_CONTAINS(err.message, what);
        CHECK(!strchr(err.message, '\n'));
    }
    char *after = read_bytes(path, &n1), *names_after = listing(test_tmpdir());
    CHECK_MSG(n0 == n1 && (!before || memcmp(before, after, n0) == 0), "%s changed", path);
    CHECK_STR(names_after, names);
    free(before);
    free(after);
    free(names);
    free(names_after);
}

#define ALL_MODES 7

TEST(index_refuses_files_that_are_not_align_indexes)
{
    expect_refused(write_tmp("notes.txt", "hello, world\n", 13), MODEL, ALIGN_ERR_FORMAT, "not a SQLite database", ALL_MODES);
    expect_refused(write_tmp("empty.db", "", 0), MODEL, ALIGN_ERR_FORMAT, "an empty file", ALL_MODES);
    expect_refused(write_tmp("short.db", "SQLite format 3", 16), MODEL, ALIGN_ERR_FORMAT, "not a SQLite database", ALL_MODES);
    expect_refused(test_tmpdir(), MODEL, ALIGN_ERR_IO, "is a directory", 3);
    expect_refused(tmp("missing.db"), MODEL, ALIGN_ERR_IO, "No such file", 3);

    /* somebody else's SQLite database */
    sqlite3 *db;
    const char *other = tmp("other.sqlite");
    CHECK(sqlite3_open(other, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "CREATE TABLE images(path TEXT, embedding BLOB); INSERT INTO images VALUES ('a', x'00')",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    expect_refused(other, MODEL, ALIGN_ERR_FORMAT, "another program", ALL_MODES);

    /* an align file of another kind, and an index of a future format */
    align_error err;
    align_label_cache *c = align_label_cache_open(tmp("kind-cache"), MODEL, DIM, &err);
    CHECK_MSG(c != NULL, "%s", err.message);
    align_label_cache_close(c);
    expect_refused(tmp("kind-cache/text-embeddings.db"), MODEL, ALIGN_ERR_FORMAT, "another program", ALL_MODES);
    const char *future = tmp("future.db");
    build_index(future, 0, 2, 0);
    CHECK(sqlite3_open(future, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "PRAGMA user_version = 9", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    expect_refused(future, MODEL, ALIGN_ERR_FORMAT, "format 9", ALL_MODES);
}

TEST(index_refuses_an_index_of_another_model)
{
    const char *path = tmp("model-a.db");
    build_index(path, 0, 4, 0);
    expect_refused(path, "fedcba9876543210", ALIGN_ERR_INPUT, "another model (the index's is " MODEL, ALL_MODES);
    align_error err;
    align_index *ix = align_index_open(path, MODEL, 512, ALIGN_INDEX_READ, &err);
    CHECK(!ix && err.code == ALIGN_ERR_INPUT);
    CHECK_CONTAINS(err.message, "640-float");
    /* any model may read when it names none */
    ix = align_index_open(path, NULL, 0, ALIGN_INDEX_READ, &err);
    CHECK(ix != NULL);
    align_index_close(ix);
    /* writing needs a model */
    ix = align_index_open(path, NULL, 0, ALIGN_INDEX_WRITE, &err);
    CHECK(!ix && err.code == ALIGN_ERR_ARG);
    ix = align_index_open(tmp("nomodel.db"), NULL, DIM, ALIGN_INDEX_CREATE, &err);
    CHECK(!ix && err.code == ALIGN_ERR_ARG);
    CHECK(access(tmp("nomodel.db"), F_OK) != 0);
}

TEST(index_refuses_truncated_and_corrupt_files)
{
    const char *path = tmp("whole.db");
    build_index(path, 0, 300, 0);
    struct stat st;
    CHECK(stat(path, &st) == 0);
    const char *half = tmp("half.db");
    copy_file(path, half, (size_t)st.st_size / 2);
    expect_refused(half, MODEL, ALIGN_ERR_FORMAT, "truncated", ALL_MODES);
    const char *header_only = tmp("header.db");
    copy_file(path, header_only, 100);
    expect_refused(header_only, MODEL, ALIGN_ERR_FORMAT, "truncated", ALL_MODES);

    /* a bad page size in the header */
    size_t n;
    char *bytes = read_bytes(path, &n);
    bytes[16] = 3, bytes[17] = 0;
    expect_refused(write_tmp("pagesize.db", bytes, n), MODEL, ALIGN_ERR_FORMAT, "corrupt", ALL_MODES);
    free(bytes);

    /* garbage over the pages after the first few: the header is sound, the rows are not. The
     * damage shows when the rows are read; it is reported, never crashes, and writes nothing. */
    bytes = read_bytes(path, &n);
    for (size_t i = 3 * 65536; i < n; i++) bytes[i] = (char)(i * 7 + 3);
    const char *bad = write_tmp("garbage.db", bytes, n);
    align_error err;
    align_index *ix = align_index_open(bad, MODEL, DIM, ALIGN_INDEX_READ, &err);
    if (ix) {
        float q[DIM];
        fake_embedding(1, DIM, q);
        align_index_hit *hits;
        int k;
        CHECK(align_index_search(ix, q, 5, -INFINITY, &hits, &k, &err) == ALIGN_ERR_FORMAT);
        CHECK_CONTAINS(err.message, "corrupt");
        CHECK_CONTAINS(err.message, bad);
        CHECK(align_index_check(ix, &err) == ALIGN_ERR_FORMAT);
        CHECK_CONTAINS(err.message, "corrupt");
        align_index_close(ix);
    } else {
        CHECK_MSG(err.code == ALIGN_ERR_FORMAT, "%s", err.message);
    }
    size_t n2 = 0;
    char *after = read_bytes(bad, &n2);
    CHECK(n2 == n && memcmp(after, bytes, n) == 0);
    free(after);
    free(bytes);

    ix = open_ok(path, ALIGN_INDEX_READ);
    if (ix) CHECK_MSG(align_index_check(ix, &err) == ALIGN_OK, "%s", err.message);
    align_index_close(ix);

    /* an embedding of the wrong length (written behind the library's back) */
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "UPDATE images SET embedding = x'0000' WHERE path = 'img00005.jpg'", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    if (!(ix = open_ok(path, ALIGN_INDEX_READ))) return;
    float e[DIM];
    int found;
    CHECK(align_index_lookup(ix, "img00005.jpg", NULL, NULL, e, &found, &err) == ALIGN_ERR_FORMAT);
    CHECK_CONTAINS(err.message, "img00005.jpg has 2 bytes");
    CHECK(align_index_check(ix, &err) == ALIGN_ERR_FORMAT);
    CHECK_CONTAINS(err.message, "img00005.jpg has 2 bytes");
    align_index_close(ix);
}

/* Opening for writing is refused with "what"; reading still works and leaves no file behind. */
static void expect_read_only(const char *path, const char *dir, const char *what)
{
    expect_refused(path, MODEL, ALIGN_ERR_IO, what, 6);
    char *names = listing(dir);
    align_error err;
    align_index *ix = align_index_open(path, MODEL, DIM, ALIGN_INDEX_READ, &err);
    CHECK_MSG(ix != NULL, "%s", err.message);
    int64_t count = 0;
    float q[DIM];
    fake_embedding(2, DIM, q);
    align_index_hit *hits;
    int n = 0;
    if (ix) CHECK_MSG(align_index_count(ix, &count, &err) == ALIGN_OK, "%s", err.message);
    if (ix) CHECK_MSG(align_index_search(ix, q, 3, -INFINITY, &hits, &n, &err) == ALIGN_OK, "%s", err.message);
    if (ix) align_index_hits_free(hits, n);
    CHECK_INT(count, 5);
    CHECK_INT(n, 3);
    align_index_close(ix);
    char *names_after = listing(dir);
    CHECK_STR(names_after, names);
    free(names);
    free(names_after);
}

TEST(index_refuses_to_write_a_read_only_file_or_directory)
{
    /* no write bits: refused even for root, who could write it */
    const char *path = tmp("locked.db");
    build_index(path, 0, 5, 0);
    chmod(path, 0444);
    expect_read_only(path, test_tmpdir(), "read-only");
    chmod(path, 0644);

    const char *dir = tmp("ro-dir");
    mkdir(dir, 0755);
    build_index(path = tmp("ro-dir/index.db"), 0, 5, 0);
    chmod(dir, 0555);
    expect_read_only(path, dir, "directory");
    align_error err;
    align_index *ix = align_index_open(tmp("ro-dir/new.db"), MODEL, DIM, ALIGN_INDEX_CREATE, &err);
    CHECK(!ix && err.code == ALIGN_ERR_IO);
    CHECK_CONTAINS(err.message, "read-only");
    chmod(dir, 0755);
}

TEST(index_refuses_to_write_without_permission)
{
    /* the real permission check, as a user who may not write: root drops to nobody in a child */
    const char *dir = tmp("perm");
    mkdir(dir, 0755);
    const char *path = tmp("perm/index.db");
    build_index(path, 0, 5, 0);
    if (geteuid() != 0) {
        chmod(dir, 0555);
        expect_read_only(path, dir, "directory");
        chmod(dir, 0755);
        return;
    }
    chmod(test_tmpdir(), 0755);
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(65534) || setuid(65534)) _exit(90);
        align_error err;
        align_index *ix = align_index_open(path, MODEL, DIM, ALIGN_INDEX_WRITE, &err);
        int wrote = ix != NULL, says = strstr(err.message, "read-only") != NULL;
        align_index_close(ix);
        ix = align_index_open(path, MODEL, DIM, ALIGN_INDEX_READ, &err);
        int64_t count = 0;
        int read = ix && align_index_count(ix, &count, &err) == ALIGN_OK && count == 5;
        align_index_close(ix);
        _exit(wrote ? 91 : !says ? 92 : !read ? 93 : 0);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    chmod(test_tmpdir(), 0700);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child (uid 65534) status %d", status);
}

/* ---- concurrency ------------------------------------------------------------------------------ */

/* Holds the index's write lock from another connection for a while. */
typedef struct {
    const char *path;
    int hold_ms;
    volatile int locked;
} locker;

static void *hold_lock(void *arg)
{
    locker *l = arg;
    sqlite3 *db;
    sqlite3_open(l->path, &db);
    sqlite3_exec(db, "BEGIN IMMEDIATE; DELETE FROM images WHERE path = 'img00000.jpg'", NULL, NULL, NULL);
    l->locked = 1;
    sleep_ms(l->hold_ms);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    return NULL;
}

TEST(index_readers_run_while_a_writer_writes_and_writers_wait)
{
    if (test_skip_in_a_rerun()) return;
    const char *path = tmp("busy.db");
    build_index(path, 0, 5, 0);
    float *e;
    align_index_row *rows = make_rows(10, 1, 0, &e);
    align_error err;

    /* a writer holds the lock for 0.3 s: a reader reads the last commit meanwhile, and a second
     * writer waits its turn */
    locker l = {path, 300, 0};
    pthread_t t;
    pthread_create(&t, NULL, hold_lock, &l);
    while (!l.locked) sched_yield();
    align_index *reader = open_ok(path, ALIGN_INDEX_READ);
    int64_t count = 0;
    int found = 0;
    if (reader) CHECK(align_index_count(reader, &count, &err) == ALIGN_OK && count == 5);
    if (reader) CHECK(align_index_lookup(reader, "img00000.jpg", NULL, NULL, NULL, &found, &err) == ALIGN_OK && found);
    align_index *writer = open_ok(path, ALIGN_INDEX_WRITE);
    if (writer) CHECK_MSG(align_index_add(writer, rows, 1, &err) == ALIGN_OK, "%s", err.message);
    pthread_join(t, NULL);
    if (reader) CHECK(align_index_count(reader, &count, &err) == ALIGN_OK && count == 6);

    /* held longer than the writer waits: busy, said so, nothing half-written */
    l = (locker){path, 6500, 0};
    pthread_create(&t, NULL, hold_lock, &l);
    while (!l.locked) sched_yield();
    align_index_row more = rows[0];
    more.path = "img00011.jpg";
    if (writer) CHECK(align_index_add(writer, &more, 1, &err) == ALIGN_ERR_IO);
    CHECK_CONTAINS(err.message, "busy");
    CHECK_CONTAINS(err.message, path);
    pthread_join(t, NULL);
    if (reader) CHECK(align_index_count(reader, &count, &err) == ALIGN_OK && count == 6);
    if (writer) CHECK(align_index_add(writer, &more, 1, &err) == ALIGN_OK);
    align_index_close(writer);
    align_index_close(reader);
    free(rows);
    free(e);
}

/* ---- merge ------------------------------------------------------------------------------------ */

TEST(index_merge_equals_one_index_and_is_idempotent)
{
    if (test_skip_in_a_rerun()) return;
    const char *whole = tmp("merge-whole.db"), *shards[3] = {tmp("shard0.db"), tmp("shard1.db"), tmp("shard2.db")};
    build_index(whole, 0, 9000, 0);
    build_index(shards[0], 0, 3000, 0);
    build_index(shards[1], 3000, 5000, 0);
    build_index(shards[2], 8000, 1000, 0);
    const char *out = tmp("merged.db");
    align_error err;
    /* interrupted after the first shard, then run whole, then again */
    CHECK_MSG(align_index_merge(out, shards, 1, &err) == ALIGN_OK, "%s", err.message);
    CHECK_MSG(align_index_merge(out, shards, 3, &err) == ALIGN_OK, "%s", err.message);
    dump want = dump_index(whole), got = dump_index(out);
    CHECK(same_dump(&want, &got));
    free(got.buf);
    CHECK_MSG(align_index_merge(out, shards, 3, &err) == ALIGN_OK, "%s", err.message);
    got = dump_index(out);
    CHECK(same_dump(&want, &got));
    free(got.buf);
    free(want.buf);

    /* a path in two shards takes the last shard's row */
    const char *dup[2] = {tmp("dup0.db"), tmp("dup1.db")};
    build_index(dup[0], 0, 3, 0);
    build_index(dup[1], 2, 2, 555);
    CHECK(align_index_merge(tmp("dup.db"), dup, 2, &err) == ALIGN_OK);
    align_index *ix = open_ok(tmp("dup.db"), ALIGN_INDEX_READ);
    float e[DIM], want_e[DIM];
    int found;
    fake_embedding(2 + 555, DIM, want_e);
    if (ix) CHECK(align_index_lookup(ix, "img00002.jpg", NULL, NULL, e, &found, &err) == ALIGN_OK && found);
    CHECK(memcmp(e, want_e, sizeof e) == 0);
    align_index_close(ix);
}

/* Told to stop after its first few chunks: the merge ends on a whole chunk, and running it again
 * finishes it. */
static int stop_after_calls(void *user)
{
    int *left = user;
    return (*left)-- <= 0;
}

static int count_chunk_rows(void *user, const align_index_row *rows, int n)
{
    (void)rows;
    *(long *)user += n;
    return 0;
}

TEST(index_merge_until_stops_between_chunks)
{
    const char *shards[2] = {tmp("stop0.db"), tmp("stop1.db")}, *whole = tmp("stop-whole.db"), *out = tmp("stop-out.db");
    build_index(shards[0], 0, 1000, 0);
    build_index(shards[1], 1000, 1000, 0);
    build_index(whole, 0, 2000, 0);
    align_error err;
    int left = 3;
    CHECK_MSG(align_index_merge_until(out, shards, 2, stop_after_calls, &left, &err) == ALIGN_OK, "%s", err.message);
    align_index *ix = open_ok(out, ALIGN_INDEX_READ);
    long rows = 0;
    if (ix) CHECK(align_index_scan(ix, count_chunk_rows, &rows, &err) == ALIGN_OK);
    align_index_close(ix);
    CHECK_MSG(rows > 0 && rows < 2000 && rows % 256 == 0, "%ld rows", rows);
    CHECK_MSG(align_index_merge(out, shards, 2, &err) == ALIGN_OK, "%s", err.message);
    dump want = dump_index(whole), got = dump_index(out);
    CHECK(same_dump(&want, &got));
    free(want.buf);
    free(got.buf);
}

TEST(index_merge_refuses_other_models_before_writing)
{
    const char *a = tmp("ma.db"), *b = tmp("mb.db"), *out = tmp("mout.db");
    build_index(a, 0, 5, 0);
    align_error err;
    align_index *ix = align_index_open(b, "fedcba9876543210", DIM, ALIGN_INDEX_CREATE, &err);
    align_index_close(ix);
    const char *both[2] = {a, b};
    char *names = listing(test_tmpdir());
    CHECK(align_index_merge(out, both, 2, &err) == ALIGN_ERR_INPUT);
    char want[4096]; /* a merge loads no model: the shard is named beside the first */
    snprintf(want, sizeof want, "%s: an index of another model than %s's (fedcba9876543210, not " MODEL ")", b, a);
    CHECK_STR(err.message, want);
    char *names_after = listing(test_tmpdir());
    CHECK_STR(names_after, names);
    free(names_after);

    /* an existing output of another model */
    const char *just_b[1] = {b};
    build_index(out, 0, 1, 0);
    size_t n0 = 0, n1 = 0;
    char *before = read_bytes(out, &n0);
    CHECK(align_index_merge(out, just_b, 1, &err) == ALIGN_ERR_INPUT);
    snprintf(want, sizeof want, "%s: an index of another model than %s's (" MODEL ", not fedcba9876543210)", out, b);
    CHECK_STR(err.message, want);
    char *after = read_bytes(out, &n1);
    CHECK(n0 == n1 && memcmp(before, after, n0) == 0);
    /* the output as a shard, and a shard that is not an index */
    const char *self[2] = {a, out};
    CHECK(align_index_merge(out, self, 2, &err) == ALIGN_ERR_ARG);
    const char *junk[2] = {a, write_tmp("junk.db", "junk", 4)};
    CHECK(align_index_merge(tmp("mjunk.db"), junk, 2, &err) == ALIGN_ERR_FORMAT);
    CHECK(access(tmp("mjunk.db"), F_OK) != 0);
    free(before);
    free(after);
    free(names);
}

/* ---- kill -9 ---------------------------------------------------------------------------------- */

#define KILL_ROWS 6000
#define KILL_BATCH 12

/* What an `align index` run does: skip the rows already there, add each batch of the others. */
static int index_all(const char *path)
{
    align_error err;
    align_index *ix = align_index_open(path, MODEL, DIM, ALIGN_INDEX_CREATE, &err);
    if (!ix) return 1;
    int failed = 0;
    for (int b = 0; b < KILL_ROWS && !failed; b += KILL_BATCH) {
        float *e;
        align_index_row *rows = make_rows(b, KILL_BATCH, 0, &e), todo[KILL_BATCH];
        int n = 0;
        for (int i = 0; i < KILL_BATCH; i++) {
            int found;
            int64_t size, mtime;
            failed |= align_index_lookup(ix, rows[i].path, &size, &mtime, NULL, &found, &err) != ALIGN_OK;
            if (!found || size != rows[i].size || mtime != rows[i].mtime_ns) todo[n++] = rows[i];
        }
        if (n) failed |= align_index_add(ix, todo, n, &err) != ALIGN_OK;
        free(rows);
        free(e);
    }
    align_index_close(ix);
    return failed;
}

/* The index is sound, every row in it is whole and right, and batches are all or nothing. */
static int check_killed(const char *path, unsigned seed)
{
    /* killed before it made the file */
    if (access(path, F_OK) != 0) return 0;
    align_error err;
    align_index *ix = align_index_open(path, MODEL, DIM, ALIGN_INDEX_READ, &err);
    CHECK_MSG(ix != NULL, "seed %u: %s", seed, err.message);
    if (!ix) return 0;
    CHECK_MSG(align_index_check(ix, &err) == ALIGN_OK, "seed %u: %s", seed, err.message);
    int64_t count = 0;
    CHECK(align_index_count(ix, &count, &err) == ALIGN_OK);
    int wrong = 0, partial = 0, present = 0;
    for (int b = 0; b < KILL_ROWS; b += KILL_BATCH) {
        int in_batch = 0;
        for (int i = b; i < b + KILL_BATCH; i++) {
            char p[32];
            float got[DIM], want[DIM];
            int64_t size = 0, mtime = 0;
            int found = 0;
            snprintf(p, sizeof p, "img%05d.jpg", i);
            CHECK(align_index_lookup(ix, p, &size, &mtime, got, &found, &err) == ALIGN_OK);
            if (!found) continue;
            fake_embedding((uint64_t)i, DIM, want);
            wrong += size != 1000 + i || mtime != 1700000000000000000ll + i || memcmp(got, want, sizeof got) != 0;
            in_batch++;
        }
        partial += in_batch != 0 && in_batch != KILL_BATCH;
        present += in_batch;
    }
    CHECK_MSG(!wrong && !partial && present == count, "seed %u: %d wrong rows, %d partial batches, %d of %lld rows",
              seed, wrong, partial, present, (long long)count);
    align_index_close(ix);
    return present;
}

TEST(index_survives_kill_9_and_a_rerun_completes_it)
{
    if (test_skip_in_a_rerun()) return;
    const char *path = tmp("killed.db");
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);
    int last = 0;
    for (int round = 0; round < 6; round++) {
        pid_t pid = fork();
        if (pid == 0) _exit(index_all(path));
        sleep_ms(2 + rand() % 30);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        int present = check_killed(path, seed);
        CHECK_MSG(present >= last, "seed %u: rows went from %d to %d", seed, last, present);
        last = present;
    }
    pid_t pid = fork();
    if (pid == 0) _exit(index_all(path));
    int status;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "seed %u: rerun status %d", seed, status);
    CHECK_INT(check_killed(path, seed), KILL_ROWS);
    /* the result equals an uninterrupted run */
    const char *clean = tmp("unkilled.db");
    CHECK(index_all(clean) == 0);
    dump a = dump_index(path), b = dump_index(clean);
    CHECK(same_dump(&a, &b));
    free(a.buf);
    free(b.buf);
}
