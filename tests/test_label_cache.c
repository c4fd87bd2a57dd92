/* The label cache (lib/label_cache.c): embeddings come back bit for bit, per model, and a damaged
 * or unwritable cache costs a recomputation, never a failure. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "align.h"
#include "test.h"

#define ID_A "aaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbb"

static const char *cache_dir(const char *name)
{
    static char dirs[8][512];
    static int next;
    char *d = dirs[next++ % 8];
    snprintf(d, sizeof dirs[0], "%s/%s", test_tmpdir(), name);
    return d;
}

static void fill(float *v, int n, float seed)
{
    /* values with every mantissa bit in use, to see that nothing is rounded on the way */
    for (int i = 0; i < n; i++) v[i] = seed / (float)(i + 3) - 0.1234567f * (float)i;
}

/* Writer w's text i: every third one is the same for all writers. */
static const char *text_of(int w, int i, char buf[64])
{
    if (i % 3)
        snprintf(buf, 64, "writer %d text %d", w, i);
    else
        snprintf(buf, 64, "shared text %d", i);
    return buf;
}

/* tiny-a and its embedding length */
static align_model *load_tiny(int *dim)
{
    align_error err;
    align_model *m = align_model_load(fixture("tiny-a"), &err);
    CHECK_MSG(m != NULL, "%s", err.message);
    align_model_info info = {0};
    if (m) align_model_get_info(m, &info);
    *dim = info.projection_dim;
    return m;
}

static align_label_cache *open_ok(const char *dir, const char *id, int dim)
{
    align_error err;
    align_label_cache *c = align_label_cache_open(dir, id, dim, &err);
    CHECK_MSG(c != NULL, "%s", err.message);
    return c;
}

TEST(label_cache_gives_back_what_it_was_given_per_model)
{
    const char *dir = cache_dir("cache1/deep/er");
    align_label_cache *c = open_ok(dir, ID_A, 8);
    if (!c) return;
    const char *texts[3] = {"a photo of a cat", "a photo of a cat ", "ünïcödé \t text"};
    float put[24], got[24];
    unsigned char found[3];
    int n_found = -1;
    fill(put, 24, 1.7f);
    align_error err;
    CHECK(align_label_cache_get(c, texts, 3, got, found, &n_found, &err) == ALIGN_OK);
    CHECK_INT(n_found, 0);
    CHECK_MSG(align_label_cache_put(c, texts, 2, put, &err) == ALIGN_OK, "%s", err.message);
    memset(got, 0, sizeof got);
    CHECK(align_label_cache_get(c, texts, 3, got, found, &n_found, &err) == ALIGN_OK);
    CHECK_INT(n_found, 2);
    CHECK(found[0] && found[1] && !found[2]);
    CHECK(memcmp(got, put, sizeof(float) * 16) == 0);
    align_label_cache_close(c);

    /* another process, later: still there; another model sees nothing */
    c = open_ok(dir, ID_A, 8);
    if (c) CHECK(align_label_cache_get(c, texts, 2, got, found, &n_found, &err) == ALIGN_OK && n_found == 2);
    align_label_cache_close(c);
    c = open_ok(dir, ID_B, 8);
    if (c) CHECK(align_label_cache_get(c, texts, 2, got, found, &n_found, &err) == ALIGN_OK && n_found == 0);
    align_label_cache_close(c);
    struct stat st;
    CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
}

TEST(label_cache_spares_the_text_tower_and_is_bit_identical)
{
    align_error err;
    int d;
    align_model *m = load_tiny(&d);
    if (!m) return;
    const char *labels[4] = {"a photo of a cat", "a dog", "a photo of a cat", "something else entirely"};
    float *direct = malloc(sizeof(float) * 4 * d), *cached = malloc(sizeof(float) * 4 * d);
    float *one = malloc(sizeof(float) * d);
    CHECK(align_encode_text(m, labels, 4, direct, NULL, &err) == ALIGN_OK);

    align_label_cache *c = open_ok(cache_dir("cache2"), align_model_id(m), d);
    int computed = -1;
    CHECK_MSG(align_encode_text_cached(m, c, labels, 4, cached, &computed, &err) == ALIGN_OK, "%s", err.message);
    CHECK_INT(computed, 4);
    CHECK(memcmp(cached, direct, sizeof(float) * 4 * d) == 0);
    align_label_cache_close(c);

    /* the next run reads them all */
    c = open_ok(cache_dir("cache2"), align_model_id(m), d);
    memset(cached, 0, sizeof(float) * 4 * d);
    CHECK(align_encode_text_cached(m, c, labels, 4, cached, &computed, &err) == ALIGN_OK);
    CHECK_INT(computed, 0);
    /* a row's bits do not depend on its neighbours (gemm_dot.h), so the two copies of "a photo of
     * a cat" agree and the cache gives back exactly what was computed */
    CHECK(memcmp(cached, direct, sizeof(float) * 4 * d) == 0);
    CHECK(memcmp(cached, cached + 2 * d, sizeof(float) * d) == 0);
    CHECK(align_label_cache_warning(c) == NULL);

    /* a label computed alone is the same bits as in a batch: cached and computed agree whatever
     * the batch it came from */
    const char *mixed[2] = {"a brand new label", "a dog"};
    CHECK(align_encode_text_cached(m, c, mixed, 2, cached, &computed, &err) == ALIGN_OK);
    CHECK_INT(computed, 1);
    CHECK(align_encode_text(m, mixed, 1, one, NULL, &err) == ALIGN_OK);
    CHECK(memcmp(cached, one, sizeof(float) * d) == 0);
    CHECK(memcmp(cached + d, direct + d, sizeof(float) * d) == 0);

    /* without a cache, and with a cache of another model */
    CHECK(align_encode_text_cached(m, NULL, labels, 2, cached, &computed, &err) == ALIGN_OK && computed == 2);
    align_label_cache *other = open_ok(cache_dir("cache2"), ID_B, d);
    CHECK(align_encode_text_cached(m, other, labels, 2, cached, &computed, &err) == ALIGN_ERR_ARG);
    align_label_cache_close(other);
    /* a label the model refuses is an error, as without the cache */
    const char *bad[1] = {NULL};
    CHECK(align_encode_text_cached(m, c, bad, 1, cached, &computed, &err) == ALIGN_ERR_ARG);
    align_label_cache_close(c);
    free(direct);
    free(cached);
    free(one);
    align_model_free(m);
}

TEST(label_cache_ignores_damaged_entries)
{
    const char *dir = cache_dir("cache3");
    align_label_cache *c = open_ok(dir, ID_A, 8);
    if (!c) return;
    const char *texts[3] = {"flipped", "short", "fine"};
    float put[24], got[24];
    fill(put, 24, 3.1f);
    align_error err;
    CHECK(align_label_cache_put(c, texts, 3, put, &err) == ALIGN_OK);
    align_label_cache_close(c);

    char path[1024];
    snprintf(path, sizeof path, "%s/text-embeddings.db", dir);
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    /* one bit of a float flipped; a blob cut short */
    CHECK(sqlite3_exec(db,
                       "UPDATE text_embeddings SET embedding = x'00' || substr(embedding, 2) WHERE text = 'flipped';"
                       "UPDATE text_embeddings SET embedding = substr(embedding, 1, 8) WHERE text = 'short';",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);

    c = open_ok(dir, ID_A, 8);
    if (!c) return;
    unsigned char found[3];
    int n_found;
    CHECK(align_label_cache_get(c, texts, 3, got, found, &n_found, &err) == ALIGN_OK);
    CHECK(!found[0] && !found[1] && found[2]);
    CHECK(memcmp(got + 16, put + 16, sizeof(float) * 8) == 0);
    /* stored again, they read back */
    CHECK(align_label_cache_put(c, texts, 2, put, &err) == ALIGN_OK);
    CHECK(align_label_cache_get(c, texts, 3, got, found, &n_found, &err) == ALIGN_OK && n_found == 3);
    CHECK(memcmp(got, put, sizeof put) == 0);
    align_label_cache_close(c);
}

TEST(label_cache_replaces_a_file_that_is_not_a_cache)
{
    const char *dir = cache_dir("cache4");
    mkdir(dir, 0700);
    char path[1024];
    snprintf(path, sizeof path, "%s/text-embeddings.db", dir);
    FILE *f = fopen(path, "wb");
    fputs("this is not a database at all, but long enough to look like one.......................", f);
    fclose(f);
    align_label_cache *c = open_ok(dir, ID_A, 4);
    const char *t[1] = {"x"};
    float v[4] = {1, 2, 3, 4}, got[4];
    unsigned char found;
    int n;
    align_error err;
    if (c) CHECK(align_label_cache_put(c, t, 1, v, &err) == ALIGN_OK);
    if (c) CHECK(align_label_cache_get(c, t, 1, got, &found, &n, &err) == ALIGN_OK && n == 1);
    align_label_cache_close(c);
}

TEST(label_cache_in_a_read_only_directory_is_read_not_written)
{
    align_error err;
    int d;
    align_model *m = load_tiny(&d);
    if (!m) return;
    const char *dir = cache_dir("cache5");
    const char *labels[2] = {"kept", "new"};
    float *e = malloc(sizeof(float) * 2 * d);
    align_label_cache *c = open_ok(dir, align_model_id(m), d);
    int computed;
    if (c) CHECK(align_encode_text_cached(m, c, labels, 1, e, &computed, &err) == ALIGN_OK);
    align_label_cache_close(c);
    chmod(dir, 0555);
    c = open_ok(dir, align_model_id(m), d);
    if (c) {
        CHECK_MSG(align_encode_text_cached(m, c, labels, 2, e, &computed, &err) == ALIGN_OK, "%s", err.message);
        CHECK_INT(computed, 1);
        CHECK(align_label_cache_warning(c) != NULL);
        CHECK_CONTAINS(align_label_cache_warning(c), "read-only");
    }
    align_label_cache_close(c);
    chmod(dir, 0755);
    /* no cache can be made at all (a file where the directory should be): the caller goes on
     * without one */
    write_tmp("cache6", "x", 1);
    c = align_label_cache_open(cache_dir("cache6/sub"), align_model_id(m), d, &err);
    CHECK(c == NULL && err.code == ALIGN_ERR_IO);
    CHECK_CONTAINS(err.message, "cache6");
    align_label_cache_close(c);
    free(e);
    align_model_free(m);
}

TEST(label_cache_takes_concurrent_writers)
{
    const char *dir = cache_dir("cache7");
    enum { WRITERS = 3, TEXTS = 300 };
    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        if ((pids[w] = fork()) == 0) {
            align_error err;
            align_label_cache *c = align_label_cache_open(dir, ID_A, 16, &err);
            int failed = !c;
            for (int i = 0; c && i < TEXTS; i++) {
                char text[64];
                const char *t[1] = {text_of(w, i, text)};
                float v[16];
                fill(v, 16, (float)i);
                failed |= align_label_cache_put(c, t, 1, v, &err) != ALIGN_OK;
            }
            align_label_cache_close(c);
            _exit(failed);
        }
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;
        waitpid(pids[w], &status, 0);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d: status %d", w, status);
    }
    align_label_cache *c = open_ok(dir, ID_A, 16);
    int missing = 0;
    for (int w = 0; c && w < WRITERS; w++)
        for (int i = 0; i < TEXTS; i++) {
            char text[64];
            const char *t[1] = {text_of(w, i, text)};
            float v[16], want[16];
            unsigned char found;
            align_error err;
            fill(want, 16, (float)i);
            CHECK(align_label_cache_get(c, t, 1, v, &found, NULL, &err) == ALIGN_OK);
            missing += !found || memcmp(v, want, sizeof v) != 0;
        }
    CHECK_INT(missing, 0);
    align_label_cache_close(c);
}
