/* The embedding index: one SQLite file, two tables.
 *
 *     meta(key TEXT PRIMARY KEY, value)      'model_id' -> the model's identity, 'dim' -> floats per row
 *     images(path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, embedding BLOB)
 *
 * The header's application_id marks the file as align's and its user_version is the format.
 * Embeddings are float32 BLOBs: a row is 4 * dim bytes plus its path and a few bytes of record.
 * 64 KB pages hold 25 rows of 640 floats, so little is lost to page ends (with 4 KB pages one such
 * row fills a page); an image costs about 2.6 KB plus twice its path (the path index), and a scan
 * makes few page reads. Reads go through SQLite in chunks of SCAN_CHUNK rows
 * copied out of its pages (BLOBs sit at any byte offset; floats must be aligned), so memory stays
 * bounded however large the index. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "error.h"
#include "ops.h"

/* 256 rows of 640 floats are 640 KB: a chunk is still in the L2 cache when search reads it back
 * (4096 rows, 10 MB, went to memory and back: twice the CPU time of a 100,000-row search, rough) */
#define SCAN_CHUNK 256
#define MODEL_ID_MAX 128
#define MAX_DIM 65536

static const db_kind index_kind = {
    .what = "an align index",
    .application_id = 0x414c4958, /* "ALIX" */
    .version = 1,
    .page_size = 65536,
    .schema = "CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value NOT NULL);"
              "CREATE TABLE images(path TEXT PRIMARY KEY NOT NULL, size INTEGER NOT NULL,"
              " mtime_ns INTEGER NOT NULL, embedding BLOB NOT NULL);",
};

/* Rewrites a row only when something changed, so that adding or merging the same rows again
 * writes nothing. */
static const char put_sql[] =
    "INSERT INTO images(path, size, mtime_ns, embedding) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(path) DO UPDATE"
    " SET size = excluded.size, mtime_ns = excluded.mtime_ns, embedding = excluded.embedding"
    " WHERE size IS NOT excluded.size OR mtime_ns IS NOT excluded.mtime_ns OR embedding IS NOT excluded.embedding";

struct align_index {
    sqlite3 *db;
    char *path;
    char model_id[MODEL_ID_MAX + 1];
    int dim, writable;
    sqlite3_stmt *lookup; /* prepared on first use: incremental indexing looks up every file */
};

/* ---- opening ---------------------------------------------------------------------------------- */

typedef struct {
    const char *path, *model_id;
    int dim;
} new_index;

static align_status write_meta(sqlite3 *db, void *arg, align_error *err)
{
    const new_index *n = arg;
    sqlite3_stmt *st;
    align_status s = db_prepare(db, "INSERT INTO meta(key, value) VALUES ('model_id', ?1), ('dim', ?2)", &st, n->path, err);
    if (s) return s;
    sqlite3_bind_text(st, 1, n->model_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, n->dim);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) s = db_fail(err, db, rc, n->path);
    sqlite3_finalize(st);
    return s;
}

static align_status read_meta(align_index *ix, align_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ix->db, "SELECT key, value FROM meta", -1, &st, NULL) != SQLITE_OK) {
        align_status s = align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt (%s)", ix->path, sqlite3_errmsg(ix->db));
        sqlite3_finalize(st);
        return s;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        if (key && strcmp(key, "dim") == 0) ix->dim = sqlite3_column_int(st, 1);
        if (key && strcmp(key, "model_id") == 0) {
            const char *id = (const char *)sqlite3_column_text(st, 1);
            if (id && strlen(id) <= MODEL_ID_MAX) strcpy(ix->model_id, id);
        }
    }
    align_status s = rc == SQLITE_DONE ? ALIGN_OK : db_fail(err, ix->db, rc, ix->path);
    sqlite3_finalize(st);
    if (!s && (!ix->model_id[0] || ix->dim <= 0 || ix->dim > MAX_DIM))
        s = align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt (no model identity or embedding length)", ix->path);
    return s;
}

static align_status check_model(const align_index *ix, const char *model_id, int dim, align_error *err)
{
    if (model_id && strcmp(model_id, ix->model_id) != 0)
        return align_fail(err, ALIGN_ERR_INPUT, "%s: an index of another model (the index's is %s, this model is %s)",
                          ix->path, ix->model_id, model_id);
    if (dim > 0 && dim != ix->dim)
        return align_fail(err, ALIGN_ERR_INPUT, "%s: an index of %d-float embeddings, expected %d", ix->path, ix->dim,
                          dim);
    return ALIGN_OK;
}

static align_status open_index(align_index *ix, const char *model_id, int dim, int flags, align_error *err)
{
    int create = (flags & ALIGN_INDEX_CREATE) == ALIGN_INDEX_CREATE;
    if (ix->writable && (!model_id || !*model_id || strlen(model_id) > MODEL_ID_MAX || dim <= 0 || dim > MAX_DIM))
        return align_fail(err, ALIGN_ERR_ARG, "%s: writing an index needs a model identity and an embedding length",
                          ix->path);
    struct stat st;
    if (create && stat(ix->path, &st) != 0 && errno == ENOENT) {
        new_index n = {ix->path, model_id, dim};
        align_status s = db_create(ix->path, &index_kind, 0, write_meta, &n, err);
        if (s) return s;
    }
    align_status s = db_open(ix->path, &index_kind, ix->writable, &ix->db, err);
    if (!s) s = read_meta(ix, err);
    return s ? s : check_model(ix, model_id, dim, err);
}

align_index *align_index_open(const char *path, const char *model_id, int dim, int flags, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    if (!path || !*path || (flags & ~ALIGN_INDEX_CREATE)) {
        align_fail(err, ALIGN_ERR_ARG, "no index path, or unknown flags");
        return NULL;
    }
    align_index *ix = calloc(1, sizeof *ix);
    if (!ix || !(ix->path = strdup(path))) {
        free(ix);
        align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    ix->writable = flags & ALIGN_INDEX_WRITE;
    if (open_index(ix, model_id, dim, flags, err)) {
        align_index_close(ix);
        return NULL;
    }
    return ix;
}

void align_index_close(align_index *ix)
{
    if (!ix) return;
    sqlite3_finalize(ix->lookup);
    sqlite3_close(ix->db);
    free(ix->path);
    free(ix);
}

const char *align_index_model_id(const align_index *ix)
{
    return ix->model_id;
}

int align_index_dim(const align_index *ix)
{
    return ix->dim;
}

/* ---- writing ---------------------------------------------------------------------------------- */

static align_status check_writable(const align_index *ix, align_error *err)
{
    return ix->writable ? ALIGN_OK : align_fail(err, ALIGN_ERR_ARG, "%s: opened for reading only", ix->path);
}

static align_status check_rows(const align_index *ix, const align_index_row *rows, int n, align_error *err)
{
    if (n < 0 || (n && !rows)) return align_fail(err, ALIGN_ERR_ARG, "no rows");
    for (int i = 0; i < n; i++) {
        if (!rows[i].path || !*rows[i].path) return align_fail(err, ALIGN_ERR_ARG, "row %d has no path", i);
        if (!rows[i].embedding) return align_fail(err, ALIGN_ERR_ARG, "%s: no embedding", rows[i].path);
        for (int j = 0; j < ix->dim; j++)
            if (!isfinite(rows[i].embedding[j]))
                return align_fail(err, ALIGN_ERR_ARG, "%s: the embedding holds %g", rows[i].path,
                                  (double)rows[i].embedding[j]);
    }
    return ALIGN_OK;
}

static align_status put_rows(const align_index *ix, sqlite3_stmt *put, const align_index_row *rows, int n,
                             align_error *err)
{
    for (int i = 0; i < n; i++) {
        sqlite3_bind_text(put, 1, rows[i].path, -1, SQLITE_STATIC);
        sqlite3_bind_int64(put, 2, rows[i].size);
        sqlite3_bind_int64(put, 3, rows[i].mtime_ns);
        sqlite3_bind_blob(put, 4, rows[i].embedding, (int)sizeof(float) * ix->dim, SQLITE_STATIC);
        int rc = sqlite3_step(put);
        sqlite3_reset(put);
        if (rc != SQLITE_DONE) return db_fail(err, ix->db, rc, ix->path);
    }
    return ALIGN_OK;
}

align_status align_index_add(align_index *ix, const align_index_row *rows, int n, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    align_status s = check_writable(ix, err);
    if (!s) s = check_rows(ix, rows, n, err);
    sqlite3_stmt *put = NULL;
    if (!s) s = db_prepare(ix->db, put_sql, &put, ix->path, err);
    if (!s && !(s = db_begin(ix->db, ix->path, err))) s = db_end(ix->db, put_rows(ix, put, rows, n, err), ix->path, err);
    sqlite3_finalize(put);
    return s;
}

static align_status delete_paths(const align_index *ix, sqlite3_stmt *del, const char *const *paths, int n,
                                 align_error *err)
{
    for (int i = 0; i < n; i++) {
        sqlite3_bind_text(del, 1, paths[i], -1, SQLITE_STATIC);
        int rc = sqlite3_step(del);
        sqlite3_reset(del);
        if (rc != SQLITE_DONE) return db_fail(err, ix->db, rc, ix->path);
    }
    return ALIGN_OK;
}

align_status align_index_remove(align_index *ix, const char *const *paths, int n, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    align_status s = check_writable(ix, err);
    for (int i = 0; !s && i < n; i++)
        if (!paths[i]) s = align_fail(err, ALIGN_ERR_ARG, "path %d is NULL", i);
    sqlite3_stmt *del = NULL;
    if (!s) s = db_prepare(ix->db, "DELETE FROM images WHERE path = ?1", &del, ix->path, err);
    if (!s && !(s = db_begin(ix->db, ix->path, err)))
        s = db_end(ix->db, delete_paths(ix, del, paths, n, err), ix->path, err);
    sqlite3_finalize(del);
    return s;
}

/* ---- reading ---------------------------------------------------------------------------------- */

static align_status bad_embedding(const align_index *ix, const char *path, int bytes, align_error *err)
{
    return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt (the embedding of %s has %d bytes, expected %d)", ix->path,
                      path ? path : "(null)", bytes, (int)sizeof(float) * ix->dim);
}

static align_status lookup_row(align_index *ix, const char *path, int64_t *size, int64_t *mtime_ns, float *embedding,
                               int *found, align_error *err)
{
    sqlite3_stmt *st = ix->lookup;
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) return ALIGN_OK;
    if (rc != SQLITE_ROW) return db_fail(err, ix->db, rc, ix->path);
    const void *blob = sqlite3_column_blob(st, 2);
    int bytes = sqlite3_column_bytes(st, 2);
    if (bytes != (int)sizeof(float) * ix->dim) return bad_embedding(ix, path, bytes, err);
    if (size) *size = sqlite3_column_int64(st, 0);
    if (mtime_ns) *mtime_ns = sqlite3_column_int64(st, 1);
    if (embedding) memcpy(embedding, blob, (size_t)bytes);
    *found = 1;
    return ALIGN_OK;
}

align_status align_index_lookup(align_index *ix, const char *path, int64_t *size, int64_t *mtime_ns, float *embedding,
                                int *found, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    *found = 0;
    if (!path) return align_fail(err, ALIGN_ERR_ARG, "no path");
    if (!ix->lookup && db_prepare(ix->db, "SELECT size, mtime_ns, embedding FROM images WHERE path = ?1", &ix->lookup,
                                  ix->path, err))
        return err->code;
    align_status s = lookup_row(ix, path, size, mtime_ns, embedding, found, err);
    sqlite3_reset(ix->lookup);
    return s;
}

align_status align_index_count(align_index *ix, int64_t *count, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    sqlite3_stmt *st;
    align_status s = db_prepare(ix->db, "SELECT count(*) FROM images", &st, ix->path, err);
    if (s) return s;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *count = sqlite3_column_int64(st, 0);
    else
        s = db_fail(err, ix->db, rc, ix->path);
    sqlite3_finalize(st);
    return s;
}

/* Rows copied out of SQLite's pages, handed on SCAN_CHUNK at a time. */
typedef struct {
    align_index_row rows[SCAN_CHUNK];
    size_t name_at[SCAN_CHUNK];
    float *embeds;
    char *names;
    size_t names_len, names_cap;
    int n;
} chunk;

static int chunk_append(chunk *c, sqlite3_stmt *st, int dim)
{
    const char *path = (const char *)sqlite3_column_text(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0) + 1;
    if (c->names_len + len > c->names_cap) {
        size_t cap = 2 * (c->names_cap + len);
        char *names = realloc(c->names, cap);
        if (!names) return -1;
        c->names = names;
        c->names_cap = cap;
    }
    memcpy(c->names + c->names_len, path ? path : "", len);
    c->name_at[c->n] = c->names_len;
    c->names_len += len;
    memcpy(c->embeds + (size_t)c->n * dim, sqlite3_column_blob(st, 3), sizeof(float) * (size_t)dim);
    c->rows[c->n].size = sqlite3_column_int64(st, 1);
    c->rows[c->n].mtime_ns = sqlite3_column_int64(st, 2);
    c->n++;
    return 0;
}

/* Hands the chunk to fn (the names buffer no longer moves); returns fn's answer. */
static int chunk_flush(chunk *c, int dim, align_index_scan_fn fn, void *user)
{
    for (int i = 0; i < c->n; i++) {
        c->rows[i].path = c->names + c->name_at[i];
        c->rows[i].embedding = c->embeds + (size_t)i * dim;
    }
    int stop = c->n ? fn(user, c->rows, c->n) : 0;
    c->n = 0;
    c->names_len = 0;
    return stop;
}

static align_status scan_rows(align_index *ix, sqlite3_stmt *st, chunk *c, align_index_scan_fn fn, void *user,
                              align_error *err)
{
    int rc, bytes = (int)sizeof(float) * ix->dim;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 3) != bytes)
            return bad_embedding(ix, (const char *)sqlite3_column_text(st, 0), sqlite3_column_bytes(st, 3), err);
        if (chunk_append(c, st, ix->dim)) return align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
        if (c->n == SCAN_CHUNK && chunk_flush(c, ix->dim, fn, user)) return ALIGN_OK;
    }
    if (rc != SQLITE_DONE) return db_fail(err, ix->db, rc, ix->path);
    chunk_flush(c, ix->dim, fn, user);
    return ALIGN_OK;
}

/* Runs sql (selecting path, size, mtime_ns, embedding) and hands its rows to fn in chunks. */
static align_status scan_sql(align_index *ix, const char *sql, align_index_scan_fn fn, void *user, align_error *err)
{
    chunk *c = calloc(1, sizeof *c);
    if (c) c->embeds = malloc(sizeof(float) * SCAN_CHUNK * (size_t)ix->dim);
    if (!c || !c->embeds) {
        free(c);
        return align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    }
    sqlite3_stmt *st;
    align_status s = db_prepare(ix->db, sql, &st, ix->path, err);
    if (!s) s = scan_rows(ix, st, c, fn, user, err);
    sqlite3_finalize(st);
    free(c->names);
    free(c->embeds);
    free(c);
    return s;
}

align_status align_index_scan(align_index *ix, align_index_scan_fn fn, void *user, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    return scan_sql(ix, "SELECT path, size, mtime_ns, embedding FROM images ORDER BY path", fn, user, err);
}

/* The paths prune removes, collected first: the rows are not deleted under a running SELECT. */
typedef struct {
    align_index_keep_fn keep;
    void *user;
    char **paths;
    int n, cap, out_of_memory;
} prune_list;

static int file_is_there(void *user, const char *path)
{
    (void)user;
    struct stat st;
    if (stat(path, &st) == 0) return S_ISREG(st.st_mode);
    /* only a file known to be gone is dropped: a permission or I/O error may pass */
    return errno != ENOENT && errno != ENOTDIR;
}

static int prune_collect(prune_list *p, const char *path)
{
    if (p->keep(p->user, path)) return 0;
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 256;
        char **paths = realloc(p->paths, sizeof *paths * (size_t)cap);
        if (!paths) return -1;
        p->paths = paths;
        p->cap = cap;
    }
    return (p->paths[p->n] = strdup(path)) ? (p->n++, 0) : -1;
}

static align_status prune_scan(align_index *ix, prune_list *p, align_error *err)
{
    sqlite3_stmt *st;
    /* paths only: SQLite reads them from the path index, not the rows */
    align_status s = db_prepare(ix->db, "SELECT path FROM images", &st, ix->path, err);
    if (s) return s;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *path = (const char *)sqlite3_column_text(st, 0);
        if (path && prune_collect(p, path)) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    if (rc != SQLITE_DONE) s = db_fail(err, ix->db, rc, ix->path);
    sqlite3_finalize(st);
    return s;
}

align_status align_index_prune(align_index *ix, align_index_keep_fn keep, void *user, int64_t *removed,
                               align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    if (removed) *removed = 0;
    prune_list p = {keep ? keep : file_is_there, user, NULL, 0, 0, 0};
    align_status s = check_writable(ix, err);
    if (!s) s = prune_scan(ix, &p, err);
    if (!s && p.n) s = align_index_remove(ix, (const char *const *)p.paths, p.n, err);
    if (!s && removed) *removed = p.n;
    for (int i = 0; i < p.n; i++) free(p.paths[i]);
    free(p.paths);
    return s;
}

align_status align_index_check(align_index *ix, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    sqlite3_stmt *st;
    align_status s = db_prepare(ix->db, "PRAGMA integrity_check(1)", &st, ix->path, err);
    if (s) return s;
    int rc = sqlite3_step(st);
    const char *verdict = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (rc != SQLITE_ROW)
        s = db_fail(err, ix->db, rc, ix->path);
    else if (!verdict || strcmp(verdict, "ok") != 0)
        s = align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt (%s)", ix->path, verdict ? verdict : "?");
    sqlite3_finalize(st);
    if (s || (s = db_prepare(ix->db, "SELECT path, length(embedding) FROM images WHERE length(embedding) != ?1 LIMIT 1",
                             &st, ix->path, err)))
        return s;
    sqlite3_bind_int(st, 1, (int)sizeof(float) * ix->dim);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        s = bad_embedding(ix, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int(st, 1), err);
    else if (rc != SQLITE_DONE)
        s = db_fail(err, ix->db, rc, ix->path);
    sqlite3_finalize(st);
    return s;
}

/* ---- search ----------------------------------------------------------------------------------- */

/* Sixteen interleaved partial sums, added pairwise at the end: a fixed order, so that a row's score
 * depends on its values alone, never on its neighbours or its place in a chunk. The compiler keeps
 * the sixteen lanes in vector registers. */
static float dot(const float *a, const float *b, int n)
{
    float acc[16] = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += a[i + j] * b[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += a[i] * b[i];
    for (int w = 8; w; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

/* a ranks after b: lower score, or the same score and a later path */
static int ranks_after(const align_index_hit *a, const align_index_hit *b)
{
    return a->score < b->score || (a->score == b->score && strcmp(a->path, b->path) > 0);
}

static int by_rank(const void *a, const void *b)
{
    return ranks_after(a, b) ? 1 : ranks_after(b, a) ? -1 : 0;
}

/* The best hits so far in a heap whose root is the one that ranks last. */
typedef struct {
    const float *query;
    int dim;
    float threshold;
    size_t limit, n, cap;
    align_index_hit *heap;
    int out_of_memory;
} search_state;

static void sift_down(align_index_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t worst = i, l = 2 * i + 1, r = l + 1;
        if (l < n && ranks_after(&h[l], &h[worst])) worst = l;
        if (r < n && ranks_after(&h[r], &h[worst])) worst = r;
        if (worst == i) return;
        align_index_hit t = h[i];
        h[i] = h[worst];
        h[worst] = t;
        i = worst;
    }
}

static int heap_push(search_state *st, const align_index_hit *hit)
{
    if (st->n == st->cap) {
        size_t cap = st->cap ? 2 * st->cap : 64;
        align_index_hit *h = realloc(st->heap, sizeof *h * cap);
        if (!h) return -1;
        st->heap = h;
        st->cap = cap;
    }
    size_t i = st->n++;
    if (!(st->heap[i].path = strdup(hit->path))) return st->n--, -1;
    st->heap[i].score = hit->score;
    for (; i && ranks_after(&st->heap[i], &st->heap[(i - 1) / 2]); i = (i - 1) / 2) {
        align_index_hit t = st->heap[i];
        st->heap[i] = st->heap[(i - 1) / 2];
        st->heap[(i - 1) / 2] = t;
    }
    return 0;
}

static int heap_replace_root(search_state *st, const align_index_hit *hit)
{
    char *path = strdup(hit->path);
    if (!path) return -1;
    free(st->heap[0].path);
    st->heap[0].path = path;
    st->heap[0].score = hit->score;
    sift_down(st->heap, st->n, 0);
    return 0;
}

static int search_chunk(void *user, const align_index_row *rows, int n)
{
    search_state *st = user;
    for (int i = 0; i < n && !st->out_of_memory; i++) {
        align_index_hit hit = {(char *)rows[i].path, dot(rows[i].embedding, st->query, st->dim)};
        if (!(hit.score > st->threshold)) continue;
        if (st->n < st->limit)
            st->out_of_memory = heap_push(st, &hit);
        else if (ranks_after(&st->heap[0], &hit))
            st->out_of_memory = heap_replace_root(st, &hit);
    }
    return st->out_of_memory;
}

static align_status normalized_query(const align_index *ix, const float *query, float *q, align_error *err)
{
    int nonzero = 0;
    for (int i = 0; i < ix->dim; i++) {
        if (!isfinite(query[i])) return align_fail(err, ALIGN_ERR_ARG, "the query vector holds %g", (double)query[i]);
        nonzero |= query[i] != 0;
    }
    if (!nonzero) return align_fail(err, ALIGN_ERR_ARG, "the query vector is zero");
    memcpy(q, query, sizeof(float) * (size_t)ix->dim);
    l2_normalize(q, ix->dim);
    return ALIGN_OK;
}

align_status align_index_search(align_index *ix, const float *query, int k, float threshold, align_index_hit **hits,
                                int *n_hits, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    *hits = NULL;
    *n_hits = 0;
    if (!query) return align_fail(err, ALIGN_ERR_ARG, "no query vector");
    float *q = malloc(sizeof(float) * (size_t)ix->dim);
    if (!q) return align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    search_state st = {q, ix->dim, threshold, k > 0 ? (size_t)k : (size_t)-1, 0, 0, NULL, 0};
    align_status s = normalized_query(ix, query, q, err);
    /* rowid order: the rows as they lie in the file */
    if (!s) s = scan_sql(ix, "SELECT path, size, mtime_ns, embedding FROM images", search_chunk, &st, err);
    if (!s && st.out_of_memory) s = align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    free(q);
    if (s) {
        align_index_hits_free(st.heap, (int)st.n);
        return s;
    }
    if (st.n) qsort(st.heap, st.n, sizeof *st.heap, by_rank);
    *hits = st.heap;
    *n_hits = (int)st.n;
    return ALIGN_OK;
}

void align_index_hits_free(align_index_hit *hits, int n)
{
    for (int i = 0; hits && i < n; i++) free(hits[i].path);
    free(hits);
}

/* ---- merge ------------------------------------------------------------------------------------ */

typedef struct {
    align_index *out;
    sqlite3_stmt *put;
    align_index_stop_fn stop;
    void *stop_user;
    align_error *err;
    align_status status;
} merge_state;

static int told_to_stop(const merge_state *m)
{
    return m->stop && m->stop(m->stop_user);
}

/* One transaction per chunk: a long merge never holds the write lock for long, and can stop
 * between two. */
static int merge_chunk(void *user, const align_index_row *rows, int n)
{
    merge_state *m = user;
    if (told_to_stop(m)) return 1;
    m->status = db_begin(m->out->db, m->out->path, m->err);
    if (!m->status)
        m->status = db_end(m->out->db, put_rows(m->out, m->put, rows, n, m->err), m->out->path, m->err);
    return m->status != ALIGN_OK;
}

static int same_file(const char *a, const char *b)
{
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* A merge loads no model: an index of another model than the first shard's is named beside it. */
static align_status same_model(const align_index *first, const align_index *ix, align_error *err)
{
    if (strcmp(first->model_id, ix->model_id) == 0 && first->dim == ix->dim) return ALIGN_OK;
    return align_fail(err, ALIGN_ERR_INPUT, "%s: an index of another model than %s's (%s, not %s)", ix->path,
                      first->path, ix->model_id, first->model_id);
}

/* Opens every shard, all of one model, and checks an existing output's, before anything is written. */
static align_status open_shards(const char *out_path, const char *const *shards, int n, align_index **in,
                                align_error *err)
{
    for (int i = 0; i < n; i++) {
        if (!shards[i]) return align_fail(err, ALIGN_ERR_ARG, "shard %d is NULL", i);
        if (same_file(out_path, shards[i]))
            return align_fail(err, ALIGN_ERR_ARG, "%s: the merge's output is also one of its shards", shards[i]);
        if (!(in[i] = align_index_open(shards[i], NULL, 0, ALIGN_INDEX_READ, err))) return err->code;
        if (same_model(in[0], in[i], err)) return err->code;
    }
    struct stat st;
    if (stat(out_path, &st) != 0) return ALIGN_OK;
    align_index *old = align_index_open(out_path, NULL, 0, ALIGN_INDEX_READ, err);
    align_status s = old ? same_model(in[0], old, err) : err->code;
    align_index_close(old);
    return s;
}

static align_status merge_into(merge_state *m, align_index **in, int n)
{
    align_status s = db_prepare(m->out->db, put_sql, &m->put, m->out->path, m->err);
    for (int i = 0; i < n && !s && !told_to_stop(m); i++)
        if (!(s = scan_sql(in[i], "SELECT path, size, mtime_ns, embedding FROM images", merge_chunk, m, m->err)))
            s = m->status;
    sqlite3_finalize(m->put);
    return s;
}

align_status align_index_merge_until(const char *out_path, const char *const *shards, int n, align_index_stop_fn stop,
                                     void *user, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    if (!out_path || !shards || n <= 0) return align_fail(err, ALIGN_ERR_ARG, "nothing to merge");
    align_index **in = calloc((size_t)n, sizeof *in);
    if (!in) return align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    align_index *out = NULL;
    align_status s = open_shards(out_path, shards, n, in, err);
    if (!s && !(out = align_index_open(out_path, in[0]->model_id, in[0]->dim, ALIGN_INDEX_CREATE, err))) s = err->code;
    merge_state m = {out, NULL, stop, user, err, ALIGN_OK};
    if (!s) s = merge_into(&m, in, n);
    align_index_close(out);
    for (int i = 0; i < n; i++) align_index_close(in[i]);
    free(in);
    return s;
}

align_status align_index_merge(const char *out_path, const char *const *shards, int n, align_error *err)
{
    return align_index_merge_until(out_path, shards, n, NULL, NULL, err);
}
