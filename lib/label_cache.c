/* The label cache: text embeddings kept across runs, so that a second classify with the same
 * labels never runs the text tower. One SQLite file in the cache directory:
 *
 *     text_embeddings(model_id TEXT, text TEXT, embedding BLOB, checksum INTEGER,
 *                     PRIMARY KEY (model_id, text))
 *
 * Each entry carries a checksum (hash.h) of its key and bytes, so that a damaged entry reads as
 * missing (and is computed and stored again) rather than as a wrong embedding. Concurrent processes
 * share the file through SQLite's WAL; the worst a race does is store the same bytes twice. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "error.h"
#include "fileio.h"
#include "hash.h"

#define CACHE_FILE "text-embeddings.db"

static const db_kind cache_kind = {
    .what = "an align label cache",
    .application_id = 0x414c4c43, /* "ALLC" */
    .version = 1,
    .page_size = 16384,
    .schema = "CREATE TABLE text_embeddings(model_id TEXT NOT NULL, text TEXT NOT NULL, embedding BLOB NOT NULL,"
              " checksum INTEGER NOT NULL, PRIMARY KEY (model_id, text));",
};

struct align_label_cache {
    sqlite3 *db;
    char *path, *model_id;
    int dim, writable;
    char warning[sizeof ((align_error *)0)->message];
};

/* mkdir -p, the directories it makes private to the user (as XDG asks of a cache). */
static align_status make_dirs(const char *dir, align_error *err)
{
    char *p = strdup(dir);
    if (!p) return align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    align_status s = ALIGN_OK;
    for (char *slash = p + 1;; slash++) {
        int end = !*slash;
        if (*slash != '/' && !end) continue;
        *slash = 0;
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            s = align_fail(err, ALIGN_ERR_IO, "cannot create the cache directory %s: %s", p, strerror(errno));
        if (end || s) break;
        *slash = '/';
    }
    free(p);
    return s;
}

/* The cache file, made when missing and made again when it is not a cache (only a cache is lost).
 * Read-only when it cannot be written. */
static align_status open_file(align_label_cache *c, align_error *err)
{
    align_status s = file_exists(c->path) ? ALIGN_OK : db_create(c->path, &cache_kind, 0, NULL, NULL, err);
    if (!s) s = db_open(c->path, &cache_kind, 1, &c->db, err);
    if (s == ALIGN_ERR_FORMAT && !(s = db_create(c->path, &cache_kind, 1, NULL, NULL, err)))
        s = db_open(c->path, &cache_kind, 1, &c->db, err);
    c->writable = !s;
    if (s == ALIGN_ERR_IO && file_exists(c->path)) s = db_open(c->path, &cache_kind, 0, &c->db, err);
    return s;
}

align_label_cache *align_label_cache_open(const char *dir, const char *model_id, int dim, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    if (!dir || !*dir || !model_id || !*model_id || dim <= 0) {
        align_fail(err, ALIGN_ERR_ARG, "a label cache needs a directory, a model identity and an embedding length");
        return NULL;
    }
    align_label_cache *c = calloc(1, sizeof *c);
    if (!c || !(c->path = path_join(dir, CACHE_FILE)) || !(c->model_id = strdup(model_id))) {
        align_label_cache_close(c);
        align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->dim = dim;
    if (make_dirs(dir, err) || open_file(c, err)) {
        align_label_cache_close(c);
        return NULL;
    }
    return c;
}

void align_label_cache_close(align_label_cache *c)
{
    if (!c) return;
    sqlite3_close(c->db);
    free(c->path);
    free(c->model_id);
    free(c);
}

const char *align_label_cache_warning(const align_label_cache *c)
{
    return c && c->warning[0] ? c->warning : NULL;
}

static int64_t checksum(const align_label_cache *c, const char *text, const void *embedding)
{
    uint64_t h = hash_bytes(HASH_INIT, c->model_id, strlen(c->model_id) + 1);
    h = hash_bytes(h, text, strlen(text) + 1);
    return (int64_t)hash_bytes(h, embedding, sizeof(float) * (size_t)c->dim);
}

/* Fills embed and returns 1 when the statement's row is a sound entry for text. */
static int read_entry(const align_label_cache *c, sqlite3_stmt *st, const char *text, float *embed)
{
    const void *blob = sqlite3_column_blob(st, 0);
    if (sqlite3_column_bytes(st, 0) != (int)sizeof(float) * c->dim || !blob) return 0;
    if (sqlite3_column_int64(st, 1) != checksum(c, text, blob)) return 0;
    memcpy(embed, blob, sizeof(float) * (size_t)c->dim);
    return 1;
}

static align_status check_texts(const char *const *texts, int n, align_error *err)
{
    if (n < 0 || (n && !texts)) return align_fail(err, ALIGN_ERR_ARG, "no texts");
    for (int i = 0; i < n; i++)
        if (!texts[i]) return align_fail(err, ALIGN_ERR_ARG, "text %d is NULL", i);
    return ALIGN_OK;
}

align_status align_label_cache_get(align_label_cache *c, const char *const *texts, int n, float *embeds,
                                   unsigned char *found, int *n_found, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    int hits = 0;
    if (n_found) *n_found = 0;
    align_status s = check_texts(texts, n, err);
    if (s) return s;
    memset(found, 0, (size_t)n);
    sqlite3_stmt *st;
    s = db_prepare(c->db, "SELECT embedding, checksum FROM text_embeddings WHERE model_id = ?1 AND text = ?2", &st,
                   c->path, err);
    if (s) return s;
    sqlite3_bind_text(st, 1, c->model_id, -1, SQLITE_STATIC);
    for (int i = 0; i < n && !s; i++) {
        sqlite3_bind_text(st, 2, texts[i], -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            hits += found[i] = (unsigned char)read_entry(c, st, texts[i], embeds + (size_t)i * c->dim);
        else if (rc != SQLITE_DONE)
            s = db_fail(err, c->db, rc, c->path);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (n_found) *n_found = hits;
    return s;
}

static align_status put_entries(align_label_cache *c, sqlite3_stmt *st, const char *const *texts, int n,
                                const float *embeds, align_error *err)
{
    sqlite3_bind_text(st, 1, c->model_id, -1, SQLITE_STATIC);
    for (int i = 0; i < n; i++) {
        const float *e = embeds + (size_t)i * c->dim;
        sqlite3_bind_text(st, 2, texts[i], -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, e, (int)sizeof(float) * c->dim, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, checksum(c, texts[i], e));
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) return db_fail(err, c->db, rc, c->path);
    }
    return ALIGN_OK;
}

align_status align_label_cache_put(align_label_cache *c, const char *const *texts, int n, const float *embeds,
                                   align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    align_status s = check_texts(texts, n, err);
    if (!s && !c->writable) s = align_fail(err, ALIGN_ERR_IO, "%s: read-only", c->path);
    sqlite3_stmt *st = NULL;
    if (!s)
        s = db_prepare(c->db, "INSERT OR REPLACE INTO text_embeddings(model_id, text, embedding, checksum)"
                              " VALUES (?1, ?2, ?3, ?4)", &st, c->path, err);
    if (!s && !(s = db_begin(c->db, c->path, err)))
        s = db_end(c->db, put_entries(c, st, texts, n, embeds, err), c->path, err);
    sqlite3_finalize(st);
    return s;
}

/* Computes the texts the cache lacked and stores them; embeds already holds the others. */
static align_status fill_missing(const align_model *m, align_label_cache *c, const char *const *labels, int n,
                                 const unsigned char *found, float *embeds, int *n_computed, align_error *err)
{
    int miss = 0, d = c->dim;
    for (int i = 0; i < n; i++) miss += !found[i];
    if (n_computed) *n_computed = miss;
    if (!miss) return ALIGN_OK;
    const char **texts = malloc(sizeof *texts * (size_t)miss);
    float *computed = malloc(sizeof(float) * (size_t)miss * d);
    align_status s = texts && computed ? ALIGN_OK : align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    for (int i = 0, j = 0; !s && i < n; i++)
        if (!found[i]) texts[j++] = labels[i];
    if (!s) s = align_encode_text(m, texts, miss, computed, NULL, err);
    for (int i = 0, j = 0; !s && i < n; i++)
        if (!found[i]) memcpy(embeds + (size_t)i * d, computed + (size_t)j++ * d, sizeof(float) * d);
    align_error cache_err;
    if (!s && align_label_cache_put(c, texts, miss, computed, &cache_err)) strcpy(c->warning, cache_err.message);
    free(texts);
    free(computed);
    return s;
}

align_status align_encode_text_cached(const align_model *m, align_label_cache *c, const char *const *labels, int n,
                                      float *embeds, int *n_computed, align_error *user_err)
{
    align_error local, *err = user_err ? user_err : &local;
    if (n_computed) *n_computed = 0;
    if (!c || n <= 0) {
        align_status s = align_encode_text(m, labels, n, embeds, NULL, err);
        if (!s && n_computed) *n_computed = n;
        return s;
    }
    align_model_info info;
    align_model_get_info(m, &info);
    if (strcmp(c->model_id, align_model_id(m)) != 0 || c->dim != info.projection_dim)
        return align_fail(err, ALIGN_ERR_ARG, "the label cache was opened for another model");
    align_status s = check_texts(labels, n, err);
    unsigned char *found = s ? NULL : calloc((size_t)n, 1);
    if (!s && !found) s = align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    align_error cache_err;
    if (!s && align_label_cache_get(c, labels, n, embeds, found, NULL, &cache_err)) {
        strcpy(c->warning, cache_err.message);
        memset(found, 0, (size_t)n);
    }
    if (!s) s = fill_missing(m, c, labels, n, found, embeds, n_computed, err);
    free(found);
    return s;
}
